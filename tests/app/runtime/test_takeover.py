"""Who is in control: transitions, handover releases, hotkeys, quiet-time resume."""

from __future__ import annotations

import logging
from typing import Any

from app.runtime.takeover import Control, ControlConfig, Mode
from recorder.input.events import InputEvent


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(resume_after: float = 2.0) -> tuple[Control, list[str], Clock]:
    released: list[str] = []
    clock = Clock()
    control = Control(ControlConfig(resume_after_s=resume_after), lambda: released.append("all"), clock=clock)
    return control, released, clock


def key(kind: str, name: str, t: float) -> InputEvent:
    return InputEvent(kind, t, key=name)  # type: ignore[arg-type]


def test_human_input_takes_over_releases_and_resumes_after_quiet() -> None:
    control, released, clock = make(resume_after=2.0)
    assert control.run_if_agent(lambda: None)
    control.on_input(key("key_down", "key.keyboard.j", clock.t))
    assert control.mode is Mode.HUMAN and released == ["all"]
    ran: list[int] = []
    assert not control.run_if_agent(lambda: ran.append(1)) and ran == []
    clock.t += 5.0
    assert control.update() is Mode.HUMAN  # J is still held: a person holding a key is not quiet
    control.on_input(key("key_up", "key.keyboard.j", clock.t))
    clock.t += 1.0
    control.on_input(InputEvent("move", clock.t, dx=3, dy=0))
    assert control.update() is Mode.HUMAN and released == ["all"]  # no second release while human
    clock.t += 1.9
    assert control.update() is Mode.HUMAN
    clock.t += 0.2
    assert control.update() is Mode.AGENT
    assert [h.new for h in control.history] == [Mode.HUMAN, Mode.AGENT]


def test_panic_key_stops_at_once_from_any_mode() -> None:
    control, released, clock = make()
    control.on_input(key("key_down", "key.keyboard.f12", clock.t))
    assert control.mode is Mode.STOPPED and control.stopped.is_set()
    assert released == ["all"] and control.stop_reason == "panic key"
    control.on_input(key("key_down", "key.keyboard.j", clock.t))
    assert control.mode is Mode.STOPPED  # nothing restarts a stopped run


def test_pause_key_toggles_and_hands_back_from_human_and_is_not_human_input() -> None:
    control, released, clock = make(resume_after=0)  # 0: only the key resumes
    control.on_input(key("key_down", "key.keyboard.f9", clock.t))
    assert control.mode is Mode.PAUSED and released == ["all"]
    control.on_input(key("key_down", "key.keyboard.f9", clock.t))  # auto-repeat while held
    assert control.mode is Mode.PAUSED
    control.on_input(key("key_up", "key.keyboard.f9", clock.t))
    control.on_input(key("key_down", "key.keyboard.f9", clock.t))
    assert control.mode is Mode.AGENT and control.human_events == 0
    control.on_input(key("key_down", "key.keyboard.a", clock.t))
    assert control.mode is Mode.HUMAN
    clock.t += 100
    assert control.update() is Mode.HUMAN  # resume_after 0: no automatic resume
    control.on_input(key("key_up", "key.keyboard.f9", clock.t))
    control.on_input(key("key_down", "key.keyboard.f9", clock.t))
    assert control.mode is Mode.AGENT


def test_paused_ignores_human_input() -> None:
    control, _released, clock = make()
    control.toggle_pause()
    control.on_input(key("key_down", "key.keyboard.w", clock.t))
    assert control.mode is Mode.PAUSED


def test_take_over_button_waits_for_real_input_before_counting_quiet() -> None:
    control, released, clock = make(resume_after=1.0)
    control.take_over("button")
    assert control.mode is Mode.HUMAN and released == ["all"]
    clock.t += 50
    assert control.update() is Mode.HUMAN


def test_why_it_stopped_is_known_before_anyone_can_see_it_stopped() -> None:
    """The loop thread ends the run the moment it reads STOPPED (without the lock) and reports the
    reason at once: a panic read as "finished" lost the window's panic note under load."""
    control, _released, _clock = make()
    seen: list[tuple[Mode, str]] = []

    class Watched(list):  # type: ignore[type-arg]
        def append(self, item: object) -> None:  # the first moment after the mode changed
            seen.append((control.mode, control.stop_reason))
            super().append(item)

    control.history = Watched()
    control.take_over("button")
    control.stop("panic key")
    assert seen[-1] == (Mode.STOPPED, "panic key")


def test_a_key_held_for_good_is_named_once_not_waited_on_in_silence(caplog: Any) -> None:
    control, _, clock = make(resume_after=2.0)
    caplog.set_level(logging.INFO, logger="app.runtime.takeover")
    control.on_input(key("key_down", "key.keyboard.w", clock.t))
    for _ in range(40):  # 20 s of ticks, W never let go
        clock.t += 0.5
        assert control.update() is Mode.HUMAN
    said = [r.getMessage() for r in caplog.records if "lets go" in r.getMessage()]
    assert said == ["the agent waits until the person lets go of key.keyboard.w"]
    control.on_input(key("key_up", "key.keyboard.w", clock.t))
    clock.t += 2.0
    assert control.update() is Mode.AGENT


def test_in_teleop_a_held_key_is_just_play(caplog: Any) -> None:
    clock = Clock()
    control = Control(ControlConfig(person_only=True), lambda: None, clock=clock)
    caplog.set_level(logging.INFO, logger="app.runtime.takeover")
    control.on_input(key("key_down", "key.keyboard.w", clock.t))
    clock.t += 30.0
    assert control.update() is Mode.HUMAN
    assert not [r for r in caplog.records if "lets go" in r.getMessage()]  # no agent to wait
