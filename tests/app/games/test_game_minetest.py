"""The desktop connector and the loop against a real minetest under Xvfb, the Lua pose log as truth.

Minetest turns mouse_sensitivity degrees per pixel (the demo sets 0.15, Minecraft's 0.15° per count)
and reports yaw counter-clockwise: turning right *decreases* it. It re-centres the pointer every frame
by warping it, and motion that arrives between its read and its warp is lost, so measured angles come
out a few percent short of the command; the tolerances below allow 15%.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.game_fixtures import SPAWN, xdotool
from tests.xdesktop import x_pixels

pytestmark = [pytest.mark.xvfb, pytest.mark.game]


def act(**kw: Any) -> dict[str, Any]:
    from model.actions.env import null_action

    a = null_action()
    a.update(kw)
    return a


def angle(a: float, b: float) -> float:
    """b - a in degrees, wrapped to (-180, 180]."""
    d = math.degrees(b - a) % 360.0
    return d - 360.0 if d > 180.0 else d


def settle(game: Any, seconds: float = 0.35) -> Any:
    time.sleep(seconds)  # the client reports its pose to the server every ~0.1 s
    return game.pose()


class KeyState:
    """The X server's own view of which keys and buttons are down: the ground truth for "released"."""

    def __init__(self, display: str) -> None:
        from Xlib import display as xdisplay

        self.d = xdisplay.Display(display)

    def key_down(self, keysym: int) -> bool:
        code = self.d.keysym_to_keycode(keysym)
        keymap = self.d.query_keymap()
        return bool(keymap[code // 8] & (1 << (code % 8)))

    def button1_down(self) -> bool:
        from Xlib import X

        return bool(self.d.screen().root.query_pointer().mask & X.Button1Mask)

    def close(self) -> None:
        self.d.close()


@pytest.fixture
def keys(xvfb: str) -> Iterator[KeyState]:
    state = KeyState(xvfb)
    yield state
    state.close()


@pytest.fixture
def connector(game: Any, xvfb: str) -> Iterator[Any]:
    from app.games.desktop import DesktopConfig, DesktopConnector

    conn = DesktopConnector(DesktopConfig(pid=game.proc.pid), display=xvfb).open()
    yield conn
    conn.close()


class Background:
    """A session (the composition root) playing on its own thread, so the test can act (press keys,
    steal focus) while the agent plays; the listener is on, as in every door."""

    def __init__(self, connector: Any, policy: Any, resume_after: float = 2.0, seconds: float = 20) -> None:
        from tests.sessions import session_for

        self.session = session_for(connector, policy=policy, listen=True, resume_after_s=resume_after)
        self.session.start(seconds=seconds)
        self.loop = self.session.loop
        time.sleep(0.3)  # the listener is up and the first ticks ran

    @property
    def control(self) -> Any:
        return self.loop.control

    def join(self, timeout: float = 5.0) -> Any:
        outcome = self.session.wait(timeout)
        assert outcome is not None, "the loop did not stop"
        self.session.close()
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def stop(self) -> Any:
        self.session.stop("test")
        return self.join()


@pytest.mark.nondeterministic(
    "in 2 of 6 display runs on 2026-12-06 one of replay's own W events was counted as a person's "
    "(human_events 1; the walk, the ticks and the injection were right). Likeliest, not confirmed: the "
    "listener's X RECORD connection delivered it after the injection ledger's 1 s expiry. On 2026-12-07 "
    "the rerun of such a failure hung for 10 min: the agent's release of that W was claimed as its own, so "
    "the person 'held' W for ever; the listener now ends such a hold (test_input_scope). Later on "
    "2026-12-07 both tries hung again in a whole suite (human_events 2, 'human' for 700 s, the game "
    "walking 135 nodes; it ended when a debugger's pause made the watchdog release W). Likeliest cause, "
    "reproduced on purpose: W already down in X when the replay starts (left by an earlier test), whose "
    "auto-repeat reads as a person holding it; nothing_left_held (tests/game_fixtures.py) names such tests"
)
def test_replay_forward_two_seconds_walks_north(game: Any, xvfb: str, tmp_path: Path, capsys: Any) -> None:
    from app.commands import run

    path = tmp_path / "forward.jsonl"
    path.write_text('{"forward": 1}\n' * 40)  # 40 ticks at 20 Hz
    parser = argparse.ArgumentParser()
    run.register(parser.add_subparsers())
    args = parser.parse_args(["replay", str(path), "--pid", str(game.proc.pid), "--json"])
    before = game.pose()
    t0 = time.monotonic()
    assert args.func(args) == 0
    elapsed = time.monotonic() - t0
    after = settle(game)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    dz, dx = after.pos[2] - before.pos[2], after.pos[0] - before.pos[0]
    print(f"replay 2 s forward: moved dz={dz:.2f} dx={dx:.2f} nodes in {elapsed:.2f} s; {summary}")
    assert 5.0 < dz < 10.0  # minetest walks 4 nodes/s
    assert abs(dx) < 0.5
    assert summary["ticks"] == 40 and summary["injected"] == 40 and summary["missed_ticks"] == 0
    # its own W press/release were not taken for a person's (agent_events_lost: its events the ledger
    # forgot before the listener saw them, the suspected cause when this fails)
    assert summary["human_events"] == 0, summary


def test_a_key_held_down_keeps_control_with_the_person_and_the_log_says_which(
    game: Any, xvfb: str, tmp_path: Path, capsys: Any, caplog: Any
) -> None:
    """The person presses A while the replay walks and keeps it down: control is theirs until A comes
    up, and after a while the log names A. A key held by something else looks the same (X repeats
    it like a person's): in one whole suite a key a test left down kept a replay waiting for 700 s
    in silence; the suite's nothing_left_held check now names such a test."""
    from app.commands import run

    caplog.set_level(logging.INFO, logger="app.runtime.takeover")
    path = tmp_path / "forward.jsonl"
    path.write_text('{"forward": 1}\n' * 200)
    parser = argparse.ArgumentParser()
    run.register(parser.add_subparsers())
    args = parser.parse_args(["replay", str(path), "--pid", str(game.proc.pid), "--json", "--seconds", "15"])
    person = threading.Timer(1.5, xdotool, (xvfb, "keydown", "a"))
    person.start()
    try:
        assert args.func(args) == 0
    finally:
        person.cancel()
        xdotool(xvfb, "keyup", "a")
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    said = [r.getMessage() for r in caplog.records if "lets go" in r.getMessage()]
    print(summary, said)
    assert summary["human_events"] >= 1 and 0 < summary["injected"] < 100
    assert said == ["the agent waits until the person lets go of key.keyboard.a"]


def test_yaw_and_pitch_turn_the_right_way_by_about_the_commanded_angle(game: Any, connector: Any) -> None:
    from tests.sessions import play

    p0 = game.pose()
    play(connector, actions=[act(camera=[0.0, 3.0])] * 10)  # 30° right
    p1 = settle(game)
    play(connector, actions=[act(camera=[0.0, -4.5])] * 10)  # 45° left
    p2 = settle(game)
    play(connector, actions=[act(camera=[2.0, 0.0])] * 10)  # 20° down
    p3 = settle(game)
    right, left, down = angle(p0.yaw, p1.yaw), angle(p1.yaw, p2.yaw), math.degrees(p3.pitch - p2.pitch)
    print(f"commanded 30° right, 45° left, 20° down -> yaw {right:+.1f}°, {left:+.1f}°, pitch {down:+.1f}°")
    assert -30 * 1.15 < right < -30 * 0.85  # right turn = yaw decreases in minetest
    assert 45 * 0.85 < left < 45 * 1.15
    assert 20 * 0.85 < down < 20 * 1.15  # + pitch looks down in both games


def test_attack_digs_the_block_below(game: Any, connector: Any, keys: KeyState) -> None:
    from tests.sessions import play

    game.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 90")  # look straight down at (0, 99, 0)
    settle(game, 0.2)
    digs_before = len(game.log.events("dig"))
    play(connector, actions=[act(attack=1)] * 20)
    settle(game, 0.2)
    digs = game.log.events("dig")[digs_before:]
    print(f"attack for 1 s dug: {digs}")
    assert any(d["node"] == "default:stone" and d["at"] == [0, 99, 0] for d in digs)
    assert not keys.button1_down()  # the button is up again after the replay


def test_panic_key_stops_movement_at_once(game: Any, connector: Any, keys: KeyState, xvfb: str) -> None:
    from app.runtime.takeover import Mode
    from model.policies.scripted import ScriptedPolicy

    bg = Background(connector, ScriptedPolicy([act(forward=1)], loop=True))
    time.sleep(0.7)
    assert game.pose().control.get("up") and keys.key_down(0x77)
    t_key = time.monotonic()
    xdotool(xvfb, "key", "F12")
    result = bg.join(timeout=2)
    stopped = [t for t in bg.control.history if t.new is Mode.STOPPED]
    latency = stopped[0].t - t_key
    assert bg.control.stop_reason == "panic key"
    assert not keys.key_down(0x77)  # W is up in the X server
    p1 = settle(game, 0.4)
    p2 = settle(game, 0.6)
    drift = math.dist(p1.pos, p2.pos)
    print(
        f"panic: stopped {latency * 1000:.0f} ms after the key (incl. xdotool start); drift after {drift:.3f}"
    )
    assert latency < 0.25
    assert not p1.control.get("up") and drift < 0.05
    assert result.telemetry.ticks > 10


def test_focus_loss_pauses_injection_and_focus_return_resumes(
    game: Any, connector: Any, keys: KeyState, xvfb: str
) -> None:
    from model.policies.scripted import ScriptedPolicy
    from recorder.desktop.x11.windows import X11Windows

    # giving focus back warps the pointer, which counts as the person's input: resume soon after
    bg = Background(connector, ScriptedPolicy([act(forward=1)], loop=True), resume_after=0.3)
    records: list[Any] = []
    bg.loop.subscribers.append(records.append)
    time.sleep(0.5)
    assert keys.key_down(0x77)
    wins = X11Windows(xvfb)
    try:
        wins.unfocus()  # as when the user clicks another window
        time.sleep(0.5)
        w_during = keys.key_down(0x77)
        p_a = game.pose()
        time.sleep(0.5)
        p_b = game.pose()
        unfocused = [r for r in records if not r.focused]
        game.focus()
        time.sleep(1.0)
        moving_again = keys.key_down(0x77)
    finally:
        wins.close()
    p_c = game.pose()
    bg.stop()
    print(
        f"focus lost for {len(unfocused)} ticks; moved {math.dist(p_a.pos, p_b.pos):.2f} while unfocused, "
        f"{math.dist(p_b.pos, p_c.pos):.2f} after focus returned"
    )
    assert not w_during  # released at focus loss
    assert len(unfocused) >= 15 and not any(r.injected for r in unfocused)
    assert math.dist(p_a.pos, p_b.pos) < 0.05
    assert moving_again and math.dist(p_b.pos, p_c.pos) > 1.0
    assert not keys.key_down(0x77)  # and released at the end


def test_xdotool_key_preempts_the_agent_and_agent_input_is_not_mistaken(
    game: Any, connector: Any, keys: KeyState, xvfb: str
) -> None:
    from app.runtime.takeover import Mode
    from model.policies.scripted import ScriptedPolicy

    walk = [act(forward=1, camera=[0.3, 1.5]), act(forward=1, jump=1, camera=[-0.3, -1.5])]
    bg = Background(connector, ScriptedPolicy(walk, loop=True), resume_after=0.6)
    time.sleep(1.2)  # the agent presses keys and turns: none of it is "human"
    assert bg.control.history == [] and bg.control.human_events == 0
    assert keys.key_down(0x77)
    t_key = time.monotonic()
    xdotool(xvfb, "key", "j")
    time.sleep(0.3)
    mode_after_key = bg.control.mode
    w_after_key = keys.key_down(0x77)
    handover = bg.control.history[0]
    time.sleep(1.0)  # 0.6 s of quiet and the agent resumes
    resumed = bg.control.mode
    result = bg.stop()
    print(
        f"human key -> {handover.new.value} after {(handover.t - t_key) * 1000:.0f} ms ({handover.reason}); "
        f"agent events recognised: {result.agent_events_seen}, human events: {result.human_events}"
    )
    assert mode_after_key is Mode.HUMAN and handover.reason == "human key_down key.keyboard.j"
    assert handover.t - t_key < 0.2
    assert not w_after_key  # released at handover
    assert resumed is Mode.AGENT
    assert result.agent_events_seen > 20
    assert result.human_events <= 3  # j down, j up (and nothing of the agent's)


def test_own_windows_are_never_targets(xvfb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from Xlib import X, Xatom
    from Xlib import display as xdisplay

    from recorder.desktop.x11.windows import X11Windows

    d = xdisplay.Display(xvfb)
    win = d.screen().root.create_window(10, 10, 200, 100, 0, d.screen().root_depth, X.InputOutput)
    win.set_wm_name("jarvis-play self test")
    win.change_property(d.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
    win.map()
    d.sync()
    try:
        time.sleep(0.1)
        wins = X11Windows(xvfb)
        try:
            assert any(w.title == "jarvis-play self test" for w in wins.list())
            with pytest.raises(LookupError):
                wins.find("jarvis-play self test")
        finally:
            wins.close()
    finally:
        win.destroy()
        d.close()


def test_the_pynput_backend_drives_the_game_too(game: Any, xvfb: str) -> None:
    from app.games.desktop import DesktopConfig, DesktopConnector
    from tests.sessions import play

    conn = DesktopConnector(DesktopConfig(pid=game.proc.pid, injector="pynput"), display=xvfb).open()
    try:
        before = game.pose()
        result = play(conn, listen=True, actions=[act(forward=1, camera=[0.0, 1.5])] * 10)
    finally:
        conn.close()
    after = settle(game)
    assert math.dist(before.pos, after.pos) > 1.0
    assert -15 * 1.15 < angle(before.yaw, after.yaw) < -15 * 0.85
    assert result.human_events == 0


def still_view(game: Any, xvfb: str, timeout: float = 15.0) -> Any:
    """The game's view once it stops changing by itself: just after the game starts, the world is still
    drawing in (run first, the hotkeys test saw a change of 14 with no key answered)."""
    end = time.monotonic() + timeout
    view = x_pixels(xvfb, game.window_id).astype(int)
    while True:
        time.sleep(0.5)
        now = x_pixels(xvfb, game.window_id).astype(int)
        change = float(abs(now - view).mean())
        if change < 1.0:
            return now
        assert time.monotonic() < end, f"the game's view kept changing by itself ({change:.1f} in 0.5 s)"
        view = now


def test_the_apps_hotkeys_leave_the_game_as_it_was(game: Any, xvfb: str) -> None:
    """A person's F6/F7 (judging a trial), F8 (saving), F9 (pausing) and F12 (panic) go to the focused
    game too; the game must not answer them. With minetest's own F6 binding the profiler page covered the
    view (mean change 43 of 255 here); with the demo game's bindings these keys changed about 3 (the
    clouds drifting, before the arena's sky was made plain)."""
    before = still_view(game, xvfb)
    keys = ("F6", "F7", "F8", "F9", "F12")
    for key in keys:
        xdotool(xvfb, "key", key)
    time.sleep(1.0)  # two dozen frames at the game's 30 fps
    change = float(abs(x_pixels(xvfb, game.window_id).astype(int) - before).mean())
    if change >= 12:
        for key in keys:  # toggled pages off again, so that the later tests see the game
            xdotool(xvfb, "key", key)
    assert change < 12, f"the game answered the app's hotkeys: the view changed by {change:.1f}"


def cloud_share(pixels: Any) -> float:
    """The share of pixels that are neutral white or grey, as minetest's clouds are; its sky is blue
    (blue exceeds red by 100 or more, lighter near the horizon, still by 60)."""
    rgb = pixels.astype(int)
    return float(((rgb.min(axis=2) > 120) & (rgb[..., 2] - rgb[..., 0] < 50)).mean())


def test_the_arena_sky_stays_plain_when_minetest_game_s_weather_would_cloud_it(game: Any, xvfb: str) -> None:
    """What the model sees up in the sky is the same at every turn and all session long: the learning
    tests teach "look down at the sky" from a minute of it and evaluate minutes later. minetest_game's
    weather mod sets its own clouds 8 s after the game starts and every 8 s after, over the mod's plain
    sky: with it, 45 degrees up was grey cloud on 99.7% of the view at every yaw 12 s in; a window run's
    corrections were recorded under overcast and cloud banks and evaluated under mostly clear blue."""
    game.wait_for(lambda: game.pose().t > 10, 15, "the weather's first cloud update (8 s in)")
    shares = {}
    for yaw in (0, 90, 180, 270):
        game.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} {yaw} -45")
        game.wait_for(lambda: math.degrees(game.pose().pitch) < -40, 5, "the view 45 degrees up")
        time.sleep(0.3)  # the client draws the new view
        sky = x_pixels(xvfb, game.window_id)
        shares[yaw] = round(cloud_share(sky[: sky.shape[0] * 6 // 10]), 3)  # above the hotbar
    game.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 0")
    assert max(shares.values()) < 0.03, f"cloud over the arena (share of the view by yaw): {shares}"
