"""Human input -> VPT fields -> env action and tokens: signs, laws, held/new semantics, labels, flags."""

from __future__ import annotations

import pytest

from model.actions.codec import ActionCodec
from model.actions.env import null_action
from recorder.episodes.format import FLAG_CAMERA_SATURATED, FLAG_NOOP_RUN
from recorder.episodes.labels import Labeler
from recorder.input.camera_law import CameraLaw, minecraft_k
from recorder.input.events import InputEvent
from recorder.input.human_actions import InputAccumulator, TickInput, action_to_tick, tick_to_env

MC = CameraLaw.minecraft(0.5)


def ev(
    kind: str, key: str = "", dx: float = 0.0, dy: float = 0.0, x: float = 0.0, y: float = 0.0, t: float = 0.0
) -> InputEvent:
    return InputEvent(kind, t, key=key, dx=dx, dy=dy, x=x, y=y)  # type: ignore[arg-type]


def test_moves_from_the_listener_count_as_they_are() -> None:
    # the listener has dropped the warps already: a quick exact reversal is the person's, kept
    acc = InputAccumulator()
    acc.feed_all([ev("move", dx=5, x=105, y=100, t=1.0), ev("move", dx=-5, x=100, y=100, t=1.01),
                  ev("move", dx=7, x=107, y=100, t=1.02)])  # fmt: skip
    assert acc.end_tick().dx == 7 and acc.warps == 0


def test_the_old_time_window_guess_still_drops_warp_backs_when_asked() -> None:
    # the person moves right 37 and down 5; the game re-centres the pointer after each move
    acc = InputAccumulator(drop_warps=True)
    acc.feed_all([ev("move", dx=37, dy=5, x=677, y=365), ev("move", dx=-37, dy=-5, x=640, y=360),
                  ev("move", dx=3, dy=0, x=643, y=360)])  # fmt: skip
    first = acc.end_tick()
    acc.feed(ev("move", dx=-3, dy=0, x=640, y=360))  # the warp after the last move lands in the next tick
    second = acc.end_tick()
    assert (first.dx, first.dy, second.dx, acc.warps) == (40, 5, 0, 2)
    assert tick_to_env(first, MC)["camera"] == pytest.approx([0.75, 6.0])
    # a free cursor (GUI open) moving on never "returns to the origin": every move counts
    free = InputAccumulator(drop_warps=True)
    free.feed_all(
        [ev("move", dx=5, x=105, y=100), ev("move", dx=5, x=110, y=100), ev("move", dx=-6, x=104, y=100)]
    )
    assert free.end_tick().dx == 4 and free.warps == 0
    # an exact reversal long after the move is a person, not a warp
    slow = InputAccumulator(drop_warps=True)
    slow.feed_all([ev("move", dx=5, x=105, y=100, t=1.0), ev("move", dx=-5, x=100, y=100, t=1.2)])
    assert slow.end_tick().dx == 0 and slow.warps == 0
    off = InputAccumulator(drop_warps=False)
    off.feed_all([ev("move", dx=37, x=677, y=360), ev("move", dx=-37, x=640, y=360)])
    assert off.end_tick().dx == 0


def test_mouse_right_is_plus_yaw_and_mouse_down_is_plus_pitch() -> None:
    right = tick_to_env(TickInput(dx=10.0), MC)
    down = tick_to_env(TickInput(dy=10.0), MC)
    assert right["camera"] == pytest.approx([0.0, 1.5])  # 10 counts x 0.15 deg
    assert down["camera"] == pytest.approx([1.5, 0.0])
    up_left = tick_to_env(TickInput(dx=-20.0, dy=-4.0), MC)
    assert up_left["camera"] == pytest.approx([-0.6, -3.0])


def test_camera_laws() -> None:
    assert minecraft_k(0.5) == pytest.approx(1.0)
    assert CameraLaw.minecraft(1.0).degrees_per_count == pytest.approx(0.15 * 8 * 0.8**3)
    assert CameraLaw.minecraft(0.0).degrees_per_count == pytest.approx(0.15 * 8 * 0.2**3)
    assert CameraLaw.minetest(0.2).to_degrees(200, 0) == pytest.approx((0.0, 40.0))  # platform notes
    law = CameraLaw.minecraft(0.83)
    dx, dy = law.to_counts(*law.to_degrees(37.0, -11.0))
    assert (dx, dy) == pytest.approx((37.0, -11.0))
    assert CameraLaw.from_dict(law.to_dict()) == law
    with pytest.raises(ValueError):
        CameraLaw(0.0)


def test_held_keys_new_keys_and_taps() -> None:
    acc = InputAccumulator()
    acc.feed_all([ev("key_down", "key.keyboard.w"), ev("key_down", "key.keyboard.space"),
                  ev("key_up", "key.keyboard.space")])  # fmt: skip
    t1 = acc.end_tick()
    assert t1.keys == ["key.keyboard.w", "key.keyboard.space"]  # the tap shows for one tick
    assert t1.new_keys == ["key.keyboard.w", "key.keyboard.space"]
    acc.feed(ev("key_down", "key.keyboard.w"))  # X autorepeat: not a new press
    t2 = acc.end_tick()
    assert (t2.keys, t2.new_keys) == (["key.keyboard.w"], [])
    acc.feed(ev("key_up", "key.keyboard.w"))
    t3 = acc.end_tick()
    assert t3.keys == ["key.keyboard.w"]  # down at some time during this tick
    assert acc.end_tick().keys == []


def test_mouse_buttons_deltas_and_scroll() -> None:
    acc = InputAccumulator()
    acc.feed_all([ev("button_down", "key.mouse.left"), ev("move", dx=3, dy=-1), ev("move", dx=4, dy=2),
                  ev("button_down", "key.mouse.right"), ev("button_up", "key.mouse.right"),
                  ev("scroll", dy=-1), ev("button_down", "key.mouse.button8")])  # fmt: skip
    t = acc.end_tick()
    assert (t.dx, t.dy, t.dwheel) == (7, 1, -1)
    assert t.buttons == [0, 1] and t.new_buttons == [0, 1]  # VPT numbers: 0 left, 1 right
    action = tick_to_env(t, MC)
    assert action["attack"] == 1 and action["use"] == 1
    nxt = acc.end_tick()
    assert (nxt.buttons, nxt.new_buttons, nxt.dx) == ([0], [], 0)


def test_bindings_map_keys_and_ignore_unknown_ones() -> None:
    t = TickInput(keys=["key.keyboard.w", "key.keyboard.left.shift", "key.keyboard.3", "key.keyboard.z",
                        "key.keyboard.escape"])  # fmt: skip
    action = tick_to_env(t, MC)
    pressed = {k for k, v in action.items() if k != "camera" and v}
    assert pressed == {"forward", "sneak", "hotbar.3"}  # z unbound; ESC is not an env action key
    rebound = tick_to_env(TickInput(keys=["key.keyboard.z"]), MC, {"forward": "key.keyboard.z"})
    assert rebound["forward"] == 1


def test_label_is_what_the_codec_encodes() -> None:
    codec = ActionCodec()
    raw = tick_to_env(TickInput(keys=["key.keyboard.w"], buttons=[0], dx=-13.0, dy=33.0), MC)
    label = Labeler(codec).label(raw)
    assert label.ids == codec.encode(raw) == codec.encode(label.action)
    assert label.camera_raw == pytest.approx([4.95, -1.95])
    # the stored camera is a bin centre: down 5.21 deg, left 1.79 deg (spec §2.3 bins 18 and 5)
    assert label.action["camera"] == pytest.approx([5.211438, -1.791288], abs=1e-6)
    assert label.action["forward"] == 1 and label.action["attack"] == 1 and label.flags == []


def test_saturation_flag() -> None:
    labeler = Labeler()
    assert FLAG_CAMERA_SATURATED not in labeler.label(tick_to_env(TickInput(dx=66.0), MC)).flags  # 9.9 deg
    big = labeler.label(tick_to_env(TickInput(dx=80.0), MC))  # 12 deg: beyond the +/-10 deg bins
    assert FLAG_CAMERA_SATURATED in big.flags
    assert big.action["camera"][1] == pytest.approx(10.0)


def test_noop_run_flag_starts_after_the_threshold_and_resets() -> None:
    labeler = Labeler(noop_run_ticks=3)
    flags = [labeler.label(null_action()).flags for _ in range(5)]
    assert [FLAG_NOOP_RUN in f for f in flags] == [False, False, True, True, True]
    assert labeler.label({**null_action(), "jump": 1}).flags == []
    assert labeler.label(null_action()).flags == []
    # a sub-bin mouse jitter still counts as a no-op (its label is null)
    assert labeler.label(tick_to_env(TickInput(dx=0.3), MC)).ids == ActionCodec().null_ids()


def test_agent_action_to_vpt_fields_and_back() -> None:
    codec = ActionCodec()
    action = codec.decode(codec.encode({**null_action(), "forward": 1, "attack": 1, "camera": [5, -2]}))[0]
    law = CameraLaw.minecraft(0.7)
    first = action_to_tick(action, law)
    assert first.keys == ["key.keyboard.w"] and first.buttons == [0] and first.new_buttons == [0]
    assert first.dx < 0 < first.dy  # yaw left, pitch down
    second = action_to_tick(action, law, previous=first)
    assert second.new_keys == [] and second.new_buttons == []
    assert codec.encode(tick_to_env(first, law)) == codec.encode(action)
