"""Who is in control: the agent, the person, nobody (paused), or it is over (stopped).

A small transition table driven from two threads. The input listener thread calls ``on_input`` for
every *human* event (the agent's own are filtered out before): the panic key stops everything and
releases all held input right there, without waiting for a tick; the pause key toggles; any other
activity hands control to the person. The loop thread calls ``update`` once per tick (quiet-time
resume) and injects only inside ``run_if_agent``, which holds the same lock as every handover, so
no agent press can land after the release that handed control over.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from recorder.input import InputEvent

LOG = logging.getLogger(__name__)


class Mode(str, enum.Enum):
    """Who is in control of the game (a str, so it compares and prints as its value)."""

    AGENT = "agent"
    HUMAN = "human"
    PAUSED = "paused"
    STOPPED = "stopped"
    IDLE = "idle"  # the session's before its first run; never the loop's

    def __str__(self) -> str:
        return self.value


# (from, event) -> to; anything not listed leaves the mode unchanged
TRANSITIONS: dict[tuple[Mode, str], Mode] = {
    (Mode.AGENT, "human"): Mode.HUMAN,
    (Mode.AGENT, "take"): Mode.HUMAN,  # an explicit "take over" (a GUI button)
    (Mode.PAUSED, "take"): Mode.HUMAN,
    (Mode.HUMAN, "human"): Mode.HUMAN,
    (Mode.HUMAN, "quiet"): Mode.AGENT,
    (Mode.HUMAN, "resume"): Mode.AGENT,
    (Mode.PAUSED, "resume"): Mode.AGENT,
    (Mode.AGENT, "pause"): Mode.PAUSED,
    (Mode.HUMAN, "pause"): Mode.AGENT,  # the toggle key also hands control back
    (Mode.PAUSED, "pause"): Mode.AGENT,
    **{(m, "stop"): Mode.STOPPED for m in (Mode.AGENT, Mode.HUMAN, Mode.PAUSED)},
}


@dataclass
class ControlConfig:
    panic_key: str = "key.keyboard.f12"
    pause_key: str = "key.keyboard.f9"  # toggles pause; from HUMAN it resumes the agent
    resume_after_s: float = 2.0  # agent resumes after this much human quiet; 0 = only by the pause key
    start_paused: bool = False
    person_only: bool = False  # teleop: the person plays throughout; only a stop changes anything
    # an explicit take over (the window's button) holds until the person hands back (resume or the
    # pause key); True lets the quiet-time resume end it too, as it ends a takeover by touching the game
    takeover_quiet_resume: bool = False


@dataclass(frozen=True)
class Transition:
    t: float
    old: Mode
    new: Mode
    reason: str


@dataclass
class Control:
    config: ControlConfig
    release: Callable[[], None]  # releases everything the agent holds; must be thread-safe
    clock: Callable[[], float] = time.monotonic
    history: list[Transition] = field(default_factory=list)
    human_events: int = 0
    stop_reason: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        if self.config.person_only:
            self._mode = Mode.HUMAN
        else:
            self._mode = Mode.PAUSED if self.config.start_paused else Mode.AGENT
        self._last_human = -1e18
        self._hotkeys_down: set[str] = set()
        self._human_down: set[str] = set()  # keys and buttons the person holds: never quiet while held
        self._held = False  # an explicit take over holds control until the person hands back
        self._said_waiting: frozenset[str] = frozenset()  # the holds last named in the log
        self.stopped = threading.Event()

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def held(self) -> bool:
        """The person took over explicitly and keeps control until they hand back."""
        return self._held and self._mode is Mode.HUMAN

    def _fire(self, event: str, reason: str) -> Mode:
        with self._lock:
            old = self._mode
            new = TRANSITIONS.get((old, event), old)
            if self.config.person_only and new is not Mode.STOPPED:
                new = old
            if new is not old:
                self._held = event == "take"
                if old is Mode.AGENT or new is Mode.STOPPED:
                    self.release()  # handover: nothing the agent pressed stays down
                if new is Mode.STOPPED:  # before the mode: the loop thread ends on seeing STOPPED
                    self.stop_reason = reason  # and reads why at once (a panic must not read "finished")
                self._mode = new
                self.history.append(Transition(self.clock(), old, new, reason))
                LOG.info("%s -> %s (%s)", old.value, new.value, reason)
                if new is Mode.STOPPED:
                    self.stopped.set()
            return new

    # ----- listener thread --------------------------------------------------------------------
    def on_input(self, event: InputEvent) -> None:
        key = event.key
        if key in (self.config.panic_key, self.config.pause_key):
            if event.kind == "key_up":
                self._hotkeys_down.discard(key)
                return
            if key in self._hotkeys_down:  # auto-repeat while held
                return
            self._hotkeys_down.add(key)
            if key == self.config.panic_key:
                self.panic()
            else:
                self._fire("pause", "pause key")
            return
        with self._lock:
            self.human_events += 1
            self._last_human = event.time
            if event.kind in ("key_down", "button_down"):
                self._human_down.add(key)
            elif event.kind in ("key_up", "button_up"):
                self._human_down.discard(key)
            where = (
                f" to ({event.x:.0f}, {event.y:.0f}) by ({event.dx:+.0f}, {event.dy:+.0f})"
                if event.kind == "move"
                else ""
            )
            self._fire("human", f"human {event.kind} {key}".rstrip() + where)

    # ----- any thread -------------------------------------------------------------------------
    def panic(self, reason: str = "panic key") -> None:
        self._fire("stop", reason)

    def stop(self, reason: str) -> None:
        self._fire("stop", reason)

    def toggle_pause(self) -> Mode:
        return self._fire("pause", "toggle")

    def resume(self) -> Mode:
        return self._fire("resume", "resume")

    def take_over(self, reason: str = "take over") -> Mode:
        """Hand control to the person without them touching the game (the window's button).

        It holds until the person hands back (``resume`` or the pause key); with
        ``takeover_quiet_resume`` the quiet-time resume may end it too, counted from their first real
        input, not from the click.
        """
        with self._lock:
            if self._mode in (Mode.AGENT, Mode.PAUSED):
                self._last_human = float("inf")
            return self._fire("take", reason)

    # ----- loop thread ------------------------------------------------------------------------
    def update(self, now: float | None = None) -> Mode:
        """Once per tick: resume the agent after enough human quiet."""
        now = self.clock() if now is None else now
        with self._lock:
            quiet = self.config.resume_after_s
            if self._quiet_resumes() and not self._human_down and now - self._last_human >= quiet:
                self._fire("quiet", f"{quiet:g} s without human input")
            self._say_waiting(now)
            return self._mode

    def _quiet_resumes(self) -> bool:
        """The person has control and their quiet would give it back (not teleop, not an explicit
        take over that only a hand back ends)."""
        held_on = self._held and not self.config.takeover_quiet_resume
        return (
            self._mode is Mode.HUMAN
            and self.config.resume_after_s > 0
            and not self.config.person_only
            and not held_on
        )

    def _say_waiting(self, now: float) -> None:
        """Name, once, the keys the person holds while the agent would otherwise be back: a key held
        down by something else (a stuck key, another program) keeps the agent waiting for good, and
        without this line that wait looked like a hang."""
        long_quiet = now - self._last_human >= 5 * self.config.resume_after_s
        waiting = frozenset(self._human_down) if self._quiet_resumes() and long_quiet else frozenset()
        if waiting and waiting != self._said_waiting:
            LOG.info("the agent waits until the person lets go of %s", ", ".join(sorted(waiting)))
        self._said_waiting = waiting

    def run_if_agent(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` (the injection) only while the agent is in control, atomically with handovers."""
        with self._lock:
            if self._mode is not Mode.AGENT:
                return False
            fn()
            return True
