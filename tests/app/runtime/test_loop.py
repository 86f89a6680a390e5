"""The control loop on a fake game and a fake clock: fixed tick, non-blocking inference, fallbacks,
safety exits, all tick for tick.

Time is ``tests.clock.FakeClock``: it moves only when the loop sleeps, and the policy's worker thread
(a real one) finishes its steps at exact fake times, so every count and latency below is exact.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from app.games.fake import FakeConnector
from app.runtime.loop import FINISH_WAIT_S, ControlLoop, LoopConfig, PolicyFailed
from app.runtime.takeover import Control, ControlConfig, Mode
from app.runtime.telemetry import TickRecord
from model.actions.env import null_action
from model.policies.base import PolicyError, PolicyStep
from recorder.input.events import InputEvent
from tests.clock import ClockedPolicy, FakeClock, follow_loop


def act(**kw: Any) -> dict[str, Any]:
    a = null_action()
    a.update(kw)
    return a


def make_loop(
    clock: FakeClock, conn: FakeConnector, policy: Any, config: LoopConfig, **kw: Any
) -> ControlLoop:
    loop = ControlLoop(conn, policy, kw.pop("instruction", ""), config, clock=clock, sleep=clock.sleep, **kw)
    follow_loop(clock, loop)
    return loop


def yaws(conn: FakeConnector) -> list[float]:
    return [a["camera"][1] for a in conn.applied]


def test_slow_model_never_blocks_the_tick_and_misses_are_counted() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [act(forward=1)], latency_s=0.19)
    loop = make_loop(clock, conn, policy, LoopConfig(hz=50, seconds=0.61, fallback="null"))
    tel = loop.run()
    # ticks every 20 ms for 0.61 s: 0.00 … 0.60; a loop that waited for the model would manage 4
    assert tel.ticks == 31
    assert [r.t for r in tel.records] == pytest.approx([k * 0.02 for k in range(31)])
    # the model answers 190 ms after each request; the first tick at or after that applies it
    assert [r.tick for r in tel.records if r.fresh] == [10, 20, 30]
    assert policy.started == pytest.approx([clock.start + t for t in (0.0, 0.2, 0.4, 0.6)])
    assert tel.model_actions == 3 and tel.missed == 28 and tel.nulls == 28  # fallback "null"
    assert [r.model_ms for r in tel.records if r.fresh] == pytest.approx([190.0] * 3)
    assert [r.e2e_ms for r in tel.records if r.fresh] == pytest.approx([200.0] * 3)
    assert tel.summary()["missed_ticks"] == 28
    # the request in flight at the end is waited for (briefly) before run returns
    assert policy.finished[-1] == pytest.approx(clock.start + 0.79) and len(policy.finished) == 4
    assert loop.worker is not None and not loop.worker.busy


def test_fallback_repeat_keeps_keys_held_without_turning_again() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [act(forward=1, camera=[0.0, 4.0])], latency_s=0.11)
    loop = make_loop(clock, conn, policy, LoopConfig(hz=50, seconds=0.49, fallback="repeat"))
    tel = loop.run()
    assert tel.ticks == 25 and [r.tick for r in tel.records if r.fresh] == [6, 12, 18, 24]
    assert tel.missed == 21
    assert yaws(conn) == [0.0] * 6 + ([4.0] + [0.0] * 5) * 3 + [4.0]  # repeats hold still
    assert conn.presses.count("forward") == 1  # held from tick 6 on, never re-pressed
    assert conn.yaw == 16.0


def test_by_default_a_model_slower_than_the_game_keeps_digging_between_its_answers() -> None:
    """A model answering 5 times a second at 20 ticks/s: attack stays down from its first answer to
    the end (Minecraft resets a block's breaking progress on every release), its chunk is played
    before holding, the camera never turns twice, and a model that falls silent lets go after the
    dead-man time."""
    clock = FakeClock()
    conn = FakeConnector()
    chunk = [act(attack=1, camera=[2.0, 0.0]), act(attack=1, camera=[1.0, 0.0])]
    policy = ClockedPolicy(clock, chunk, chunk=2, latency_s=0.19, hang_after=4)
    config = LoopConfig(hz=20, seconds=2.6, policy_timeout_s=30, deadman_s=1.0)
    assert config.fallback == "hold"
    loop = make_loop(clock, conn, policy, config)
    tel = loop.run()
    fresh = [r.tick for r in tel.records if r.fresh]
    assert fresh == [4, 8, 12, 16]  # four answers, then silence
    assert conn.presses == ["attack"]  # pressed once, never let go while answers were fresh
    last_answer = fresh[-1]
    held = [bool(a["attack"]) for a in conn.applied]
    released_at = held.index(False, last_answer)
    assert all(held[fresh[0] : released_at]) and not any(held[released_at:])
    assert 20 <= released_at - last_answer <= 21  # the dead-man second (one tick of float rounding)
    pitches = [a["camera"][0] for a in conn.applied]
    for t in fresh:  # the chunk's second action follows its first, then the camera holds still
        assert pitches[t : t + 4] == [2.0, 1.0, 0.0, 0.0]
    policy.close()


def test_fallback_chunk_plays_the_rest_of_the_chunk_then_null() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    chunk = [act(camera=[0.0, float(i)]) for i in range(1, 6)]
    policy = ClockedPolicy(clock, chunk, chunk=5, hang_after=1)  # one chunk, then silence
    loop = make_loop(
        clock, conn, policy, LoopConfig(hz=100, max_ticks=12, fallback="chunk", policy_timeout_s=5)
    )
    tel = loop.run()
    assert yaws(conn) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] + [0.0] * 6
    assert tel.missed == 11 and tel.model_actions == 1
    # the silent call is still in flight: run waited FINISH_WAIT_S for it, then returned without it
    assert clock.elapsed == pytest.approx(0.12 + FINISH_WAIT_S, abs=0.006)
    assert loop.worker is not None and loop.worker.busy
    policy.close()


def test_crashing_policy_stops_the_loop_and_releases() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [act(forward=1, attack=1)], fail_after=3)
    loop = make_loop(clock, conn, policy, LoopConfig(hz=100, seconds=3))
    with pytest.raises(PolicyFailed, match="clocked failure on call 3"):
        loop.run()
    # calls 0-2 answer at ticks 1-3; call 3 (sent at tick 3) raises; tick 4 sees it and stops
    assert loop.telemetry.ticks == 4 and clock.elapsed == pytest.approx(0.04)
    assert conn.held == frozenset() and conn.releases == ["attack", "forward"]
    assert loop.control.mode is Mode.STOPPED and loop.error is not None


def test_hung_policy_is_declared_hung_and_input_released() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [act(forward=1)], hang_after=2)
    config = LoopConfig(hz=100, seconds=5, policy_timeout_s=0.305, fallback="repeat")
    loop = make_loop(clock, conn, policy, config)
    with pytest.raises(PolicyFailed, match=r"did not answer within 0\.305 s"):
        loop.run()
    # call 2 went out at tick 2 (0.02 s); tick 33 (0.33 s) is the first more than 0.305 s later
    assert policy.started[2] == pytest.approx(clock.start + 0.02)
    assert loop.telemetry.ticks == 33
    assert clock.elapsed == pytest.approx(0.33)  # and no waiting for a step known to be hung
    assert "forward" in conn.presses and conn.held == frozenset()
    policy.close()


def test_policy_error_is_a_missed_tick_not_a_crash() -> None:
    class Flaky:
        """Every other step fails the way a late model server does."""

        calls = 0

        def reset(self) -> None: ...

        def close(self) -> None: ...

        def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
            self.calls += 1
            if self.calls % 2:
                raise PolicyError("server too slow")
            return PolicyStep([act(jump=1)])

    clock = FakeClock()
    conn = FakeConnector()
    policy = Flaky()
    loop = make_loop(clock, conn, policy, LoopConfig(hz=100, seconds=0.095))
    tel = loop.run()
    assert loop.error is None and tel.ticks == 10
    # a failed step costs one tick: a request every tick, an answer every other tick
    assert [r.tick for r in tel.records if r.fresh] == [2, 4, 6, 8]
    assert tel.missed == 6 and policy.calls == 10
    assert loop.worker is not None and loop.worker.soft_errors == 5


def test_panic_from_another_thread_stops_at_the_next_tick_and_releases() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [act(forward=1, sprint=1)])
    loop = make_loop(clock, conn, policy, LoopConfig(hz=50, seconds=5))
    held_after_panic: list[frozenset[str]] = []

    def panic() -> None:  # runs on a thread of its own, while the loop sleeps after tick 15
        assert threading.current_thread() is not threading.main_thread()
        loop.control.panic()
        held_after_panic.append(conn.held)

    clock.call_at(clock.start + 0.301, panic)
    loop.run()
    assert held_after_panic == [frozenset()]  # released by the panic itself, not at the next tick
    assert loop.telemetry.ticks == 16 and clock.elapsed == pytest.approx(0.32)
    assert conn.held == frozenset() and "forward" in conn.releases
    assert loop.control.stop_reason == "panic key"


def test_focus_loss_pauses_injection_and_releases() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [act(forward=1)])
    loop = make_loop(clock, conn, policy, LoopConfig(hz=100, seconds=0.595, fallback="repeat"))
    seen: list[TickRecord] = []

    def on_tick(rec: TickRecord) -> None:
        seen.append(rec)
        if rec.tick == 20:
            conn.focused = False
        if rec.tick == 40:
            conn.focused = True

    loop.subscribers.append(on_tick)
    loop.run()
    assert len(seen) == 60
    assert [r.tick for r in seen if not r.focused] == list(range(21, 41))
    assert not any(r.injected for r in seen if not r.focused)
    assert all(r.injected for r in seen if r.focused)
    assert conn.releases == ["forward", "forward"]  # at focus loss, and at the end
    assert conn.presses == ["forward", "forward"]  # pressed again as soon as focus came back
    assert loop.telemetry.unfocused == 20


class WindowsComeAndGo(FakeConnector):
    """A screen-grabbed game with a window that comes and goes *during* grabs: grab n shows it (a
    magenta frame) exactly when n is in ``shown``, so a check made just before that grab still saw
    the game. ``covered`` answers for the latest grab, as the desktop's synced cover check does.
    The grab's number is in the top-left pixel."""

    MAGENTA = (255, 0, 255)

    def __init__(self, shown: set[int]) -> None:
        super().__init__()
        self.shown = shown
        self.grabs = 0

    def observe(self) -> np.ndarray:
        self.grabs += 1
        self.cover = "the window 'Settings' covers the game" if self.grabs in self.shown else None
        frame = super().observe()
        if self.cover:
            frame[:] = self.MAGENTA
        frame[0, 0] = (self.grabs, 0, 0)
        return frame


def test_a_window_over_the_game_never_reaches_the_policy_even_when_it_arrives_during_the_grab() -> None:
    """What the policy was actually given, frame by frame: never one that shows the window, though
    each arrival happens after the check before the grab (only the check after it can see it)."""
    clock = FakeClock()
    conn = WindowsComeAndGo(shown={6, 7, 8, 15})  # grab 1 is the warm-up; tick k grabs k + 2
    policy = ClockedPolicy(clock, [act(forward=1)])
    seen: list[tuple[int, bool]] = []  # (grab number, shows the window) of every frame the policy got
    act_on = policy.act

    def watching(frame: np.ndarray, instruction: str) -> PolicyStep:
        magenta = bool(np.all(frame[1:] == WindowsComeAndGo.MAGENTA))
        seen.append((int(frame[0, 0, 0]), magenta))
        return act_on(frame, instruction)

    policy.act = watching  # type: ignore[method-assign]
    loop = make_loop(clock, conn, policy, LoopConfig(hz=100, max_ticks=20, fallback="repeat"))
    tel = loop.run()
    assert not [grab for grab, magenta in seen if magenta], "a frame showing the window reached the policy"
    # The window's frames, and the one after each stretch (its check before the grab still saw the
    # window), are dropped; every other frame reaches the model: play resumes at once.
    assert [r.tick + 2 for r in tel.records if r.covered] == [6, 7, 8, 9, 15, 16]
    assert [grab for grab, _ in seen] == [g for g in range(2, 22) if g not in (6, 7, 8, 9, 15, 16)]
    assert not any(r.injected for r in tel.records if r.covered)
    assert conn.releases == ["forward", "forward", "forward"]  # each arrival, and the end


def test_human_mode_blocks_injection_and_drops_the_stale_chunk() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    # the quiet-time resume may end an explicit take over too (the window's option)
    config = ControlConfig(resume_after_s=0.195, takeover_quiet_resume=True)
    control = Control(config, conn.release_all, clock=clock)
    chunk = [act(camera=[0.0, float(i)]) for i in range(1, 9)]
    policy = ClockedPolicy(clock, chunk, chunk=8, latency_s=0.045)
    loop = make_loop(clock, conn, policy, LoopConfig(hz=100, seconds=0.595), control=control)
    seen: list[TickRecord] = []

    def on_tick(rec: TickRecord) -> None:
        seen.append(rec)
        if rec.tick == 10:
            control.take_over("test")
            control.on_input(InputEvent("key_down", clock(), key="key.keyboard.j"))
            control.on_input(InputEvent("key_up", clock(), key="key.keyboard.j"))

    loop.subscribers.append(on_tick)
    loop.run()
    assert [r.tick for r in seen if r.mode == "human"] == list(range(11, 30))  # 0.195 s of quiet
    assert not any(r.injected for r in seen if r.mode == "human")
    assert [t.new for t in control.history] == [Mode.HUMAN, Mode.AGENT]
    assert control.history[1].t - control.history[0].t == pytest.approx(0.2)
    # a chunk every 50 ms, played out by the "chunk" fallback; the plan from before the handover
    # (yaw 2…8 of the chunk that came at tick 10) is dropped: the agent resumes with null actions
    assert (
        yaws(conn)
        == [0.0] * 5 + [1.0, 2.0, 3.0, 4.0, 5.0] + [1.0] + [0.0] * 5 + [1.0, 2.0, 3.0, 4.0, 5.0] * 5
    )


def test_replay_applies_each_action_once_in_order() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    actions = [act(camera=[0.0, float(i)]) for i in range(15)]
    loop = make_loop(clock, conn, None, LoopConfig(hz=200), actions=actions)
    tel = loop.run()
    assert yaws(conn) == [float(i) for i in range(15)]
    assert tel.missed == 0 and tel.ticks == 15 and clock.elapsed == pytest.approx(15 * 0.005)


def test_a_long_tick_is_caught_up_and_a_very_long_one_is_an_overrun_not_a_burst() -> None:
    clock = FakeClock()

    class Slow(FakeConnector):
        """Capture takes 15 ms on tick 2 (1.5 ticks) and 25 ms on tick 5 (2.5 ticks)."""

        grabs = 0

        def observe(self) -> np.ndarray:
            tick = self.grabs - 1  # the loop's first grab is a warm-up before tick 0
            self.grabs += 1
            clock.sleep({2: 0.015, 5: 0.025}.get(tick, 0.0))
            return super().observe()

    conn = Slow()
    loop = make_loop(clock, conn, None, LoopConfig(hz=100), actions=[act()] * 10)
    tel = loop.run()
    times = [r.t for r in tel.records]
    assert times == pytest.approx([0.0, 0.01, 0.02, 0.035, 0.04, 0.05, 0.075, 0.085, 0.095, 0.105])
    assert tel.overruns == 1
    assert [r.capture_ms for r in tel.records] == pytest.approx([0, 0, 15, 0, 0, 25, 0, 0, 0, 0])


def test_instruction_changes_reach_the_policy() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [act()])
    loop = make_loop(clock, conn, policy, LoopConfig(hz=100, seconds=0.395), instruction="first")
    clock.call_at(clock.start + 0.195, lambda: loop.set_instruction("second"))
    loop.run()
    assert policy.instructions == ["first"] * 20 + ["second"] * 20  # one request per tick


def test_telemetry_measures_each_stage_on_the_loop_clock() -> None:
    clock = FakeClock()

    class Costly(FakeConnector):
        """Capture costs 2 ms, injection 1 ms."""

        def observe(self) -> np.ndarray:
            clock.sleep(0.002)
            return super().observe()

        def apply(self, action: Any) -> None:
            clock.sleep(0.001)
            super().apply(action)

    policy = ClockedPolicy(clock, [act(forward=1)], latency_s=0.015)
    loop = make_loop(clock, Costly(), policy, LoopConfig(hz=100, seconds=0.195))
    tel = loop.run()
    s = tel.summary()
    assert s["ticks"] == 20 and s["missed_ticks"] == 11  # answers at ticks 2, 4, …, 18
    assert s["capture_ms"] == {"p50": 2.0, "p99": 2.0}
    assert s["inject_ms"] == {"p50": 1.0, "p99": 1.0}
    assert s["work_ms"] == {"p50": 3.0, "p99": 3.0}
    assert s["model_ms"] == {"p50": 15.0, "p99": 15.0}
    assert s["e2e_ms"] == {"p50": 21.0, "p99": 21.0}  # frame at 2 ms, its action out 20 ms later at 3 ms
    assert s["actions_per_s"] == round(9 / 0.19, 2)
    assert "missed ticks 11" in tel.format()


def test_the_loop_does_not_close_a_policy_it_was_lent() -> None:
    clock = FakeClock()
    policy = ClockedPolicy(clock, [act(jump=1)])
    first = make_loop(clock, FakeConnector(), policy, LoopConfig(hz=100, max_ticks=5))
    first.run()
    assert not policy.closed
    second_conn = FakeConnector()
    second = make_loop(clock, second_conn, policy, LoopConfig(hz=100, max_ticks=5))
    second.run()  # the same policy serves the next loop
    assert not policy.closed and second.telemetry.model_actions == 4
    lockstep = make_loop(clock, FakeConnector(realtime=False), policy, LoopConfig(hz=100, max_ticks=3))
    lockstep.run()
    assert not policy.closed and lockstep.telemetry.model_actions == 3
    failing = ClockedPolicy(clock, [], fail_after=0)
    with pytest.raises(PolicyFailed):  # not even when it fails
        make_loop(clock, FakeConnector(), failing, LoopConfig(hz=100)).run()
    assert not failing.closed


def test_needs_a_policy_or_actions() -> None:
    with pytest.raises(ValueError):
        ControlLoop(FakeConnector(), None, "")
