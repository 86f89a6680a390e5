"""The control loop on a fake game: fixed tick, non-blocking inference, fallbacks, safety exits."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.games.fake import FakeConnector
from app.runtime.loop import ControlLoop, LoopConfig, PolicyFailed
from app.runtime.takeover import Control, ControlConfig, Mode
from model.actions.env import null_action
from model.policies.base import PolicyError, PolicyStep
from model.policies.scripted import ScriptedPolicy


def act(**kw):  # type: ignore[no-untyped-def]
    a = null_action()
    a.update(kw)
    return a


def run(loop: ControlLoop) -> ControlLoop:
    loop.run()
    return loop


def test_slow_model_never_blocks_the_tick_and_misses_are_counted() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([act(forward=1)], loop=True, latency_s=0.2)
    loop = run(ControlLoop(conn, policy, "go", LoopConfig(hz=50, seconds=0.6, fallback="null")))
    tel = loop.telemetry
    assert tel.ticks >= 25  # 0.6 s at 50 Hz; a blocking loop would manage about 3
    assert 1 <= tel.model_actions <= 4
    assert tel.missed >= tel.ticks - tel.model_actions - 1
    assert tel.nulls >= tel.missed  # fallback "null"
    assert policy.calls <= 5
    assert tel.summary()["missed_ticks"] == tel.missed


def test_fallback_repeat_keeps_keys_held_without_turning_again() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([act(forward=1, camera=[0.0, 4.0])], loop=True, latency_s=0.12)
    loop = run(ControlLoop(conn, policy, "", LoopConfig(hz=50, seconds=0.5, fallback="repeat")))
    fresh = loop.telemetry.model_actions
    assert loop.telemetry.missed > 5
    assert conn.presses.count("forward") == 1  # held throughout, never re-pressed
    assert conn.yaw == pytest.approx(4.0 * fresh)  # only model actions turned the camera


def test_fallback_chunk_plays_the_rest_of_the_chunk_then_null() -> None:
    conn = FakeConnector()
    chunk = [act(camera=[0.0, float(i)]) for i in range(1, 6)]
    policy = ScriptedPolicy(chunk, chunk=5, latency_s=0.0, hang_after=1)
    loop = run(
        ControlLoop(conn, policy, "", LoopConfig(hz=100, max_ticks=12, fallback="chunk", policy_timeout_s=5))
    )
    yaws = [a["camera"][1] for a in conn.applied]
    first = yaws.index(1.0)
    assert yaws[first : first + 5] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert all(y == 0.0 for y in yaws[first + 5 :])
    assert loop.telemetry.missed == len(yaws) - 1


def test_crashing_policy_stops_the_loop_and_releases() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([act(forward=1, attack=1)], loop=True, fail_after=3)
    loop = ControlLoop(conn, policy, "", LoopConfig(hz=100, seconds=3))
    with pytest.raises(PolicyFailed, match="scripted failure"):
        loop.run()
    assert conn.held == frozenset() and conn.release_calls >= 1
    assert loop.control.mode is Mode.STOPPED


def test_hung_policy_is_declared_hung_and_input_released() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([act(forward=1)], loop=True, hang_after=2)
    loop = ControlLoop(
        conn, policy, "", LoopConfig(hz=100, seconds=5, policy_timeout_s=0.3, fallback="repeat")
    )
    t0 = time.monotonic()
    with pytest.raises(PolicyFailed, match="did not answer"):
        loop.run()
    assert time.monotonic() - t0 < 2
    assert "forward" in conn.presses and conn.held == frozenset()


def test_policy_error_is_a_missed_tick_not_a_crash() -> None:
    class Flaky:
        calls = 0

        def reset(self) -> None: ...

        def close(self) -> None: ...

        def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
            self.calls += 1
            if self.calls % 2:
                raise PolicyError("server too slow")
            return PolicyStep([act(jump=1)])

    conn = FakeConnector()
    loop = run(ControlLoop(conn, Flaky(), "", LoopConfig(hz=100, seconds=0.3)))
    assert loop.error is None and loop.telemetry.model_actions >= 3


def test_panic_from_another_thread_stops_within_a_tick_and_releases() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([act(forward=1, sprint=1)], loop=True)
    loop = ControlLoop(conn, policy, "", LoopConfig(hz=50, seconds=5))
    threading.Timer(0.3, loop.control.panic).start()
    t0 = time.monotonic()
    loop.run()
    assert time.monotonic() - t0 < 0.3 + 0.1
    assert conn.held == frozenset() and "forward" in conn.releases
    assert loop.control.stop_reason == "panic key"


def test_focus_loss_pauses_injection_and_releases() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([act(forward=1)], loop=True)
    loop = ControlLoop(conn, policy, "", LoopConfig(hz=100, seconds=0.6, fallback="repeat"))  # no null gaps
    seen: list[tuple[bool, bool]] = []

    def on_tick(rec):  # type: ignore[no-untyped-def]
        seen.append((rec.focused, rec.injected))
        if rec.tick == 20:
            conn.focused = False
        if rec.tick == 40:
            conn.focused = True

    loop.subscribers.append(on_tick)
    loop.run()
    unfocused = [inj for focused, inj in seen if not focused]
    assert unfocused and not any(unfocused)
    assert conn.releases.count("forward") >= 2  # at focus loss, and at the end
    assert conn.presses.count("forward") == 2  # pressed again after focus came back
    assert loop.telemetry.unfocused == len(unfocused)


def test_human_mode_blocks_injection_and_drops_the_stale_chunk() -> None:
    conn = FakeConnector()
    control = Control(ControlConfig(resume_after_s=0.2), conn.release_all)
    policy = ScriptedPolicy([act(forward=1)], loop=True)
    loop = ControlLoop(conn, policy, "", LoopConfig(hz=100, seconds=0.6), control)
    modes: list[tuple[str, bool]] = []

    def on_tick(rec):  # type: ignore[no-untyped-def]
        modes.append((rec.mode, rec.injected))
        if rec.tick == 10:
            control.take_over("test")
            from recorder.input_events import InputEvent

            control.on_input(InputEvent("key_down", time.monotonic(), key="key.keyboard.j"))
            control.on_input(InputEvent("key_up", time.monotonic(), key="key.keyboard.j"))

    loop.subscribers.append(on_tick)
    loop.run()
    human = [inj for mode, inj in modes if mode == "human"]
    assert human and not any(human)
    assert modes[-1][0] == "agent"  # resumed after 0.2 s of quiet
    assert [t.new for t in control.history] == [Mode.HUMAN, Mode.AGENT]


def test_replay_applies_each_action_once_in_order() -> None:
    conn = FakeConnector()
    actions = [act(camera=[0.0, float(i)]) for i in range(15)]
    loop = run(ControlLoop(conn, None, "", LoopConfig(hz=200), actions=actions))
    assert [a["camera"][1] for a in conn.applied] == [float(i) for i in range(15)]
    assert loop.telemetry.missed == 0


def test_instruction_changes_reach_the_policy() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([act()], loop=True)
    loop = ControlLoop(conn, policy, "first", LoopConfig(hz=100, seconds=0.4))
    threading.Timer(0.2, loop.set_instruction, args=("second",)).start()
    loop.run()
    assert policy.instructions[0] == "first" and policy.instructions[-1] == "second"


def test_telemetry_reports_percentiles() -> None:
    conn = FakeConnector()
    loop = run(
        ControlLoop(conn, ScriptedPolicy([act(forward=1)], loop=True), "", LoopConfig(hz=100, seconds=0.3))
    )
    s = loop.telemetry.summary()
    for key in ("capture_ms", "inject_ms", "work_ms", "model_ms", "e2e_ms"):
        assert s[key]["p50"] <= s[key]["p99"]
    assert s["actions_per_s"] > 0
    assert "missed ticks" in loop.telemetry.format()


def test_needs_a_policy_or_actions() -> None:
    with pytest.raises(ValueError):
        ControlLoop(FakeConnector(), None, "")
