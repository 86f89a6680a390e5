"""What the window knows about the play, apart from Qt: who is in control as the badge says it, which
buttons work, which input is the app's own, whether the game is gone, what Start is missing, what to
say when a run stops or the model is slower than the game, and when closing must ask.

The controller feeds it (ticks, mode changes, focus, the frames of our windows, the live figures) and
shows what it answers; tests drive it directly. ``own_input`` runs on the listener thread, so it reads
only plain attributes that the GUI thread replaces whole (a tuple of rectangles, a bool).

The badge refines the session's mode: the agent waiting for the game to get focus (it injects only
while the game has focus), the person after Take over (held until Hand back), the person alone
(teleop), the person after touching the game (until the quiet time).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.games.desktop import GameWindowGone
from app.gui.figures_text import SlowModel, slow_model
from app.runtime.live_stats import Figures
from app.runtime.takeover import Mode
from model.actions.env import describe
from recorder.desktop import WindowGone
from recorder.input import InputEvent

Rect = tuple[int, int, int, int]  # left, top, width, height in screen pixels

NO_GAME = "No game open: choose one under Game on the Live tab and press Open game."
NO_MODEL = (
    "No model loaded: choose one under Model on the Live tab and press Load model "
    "(or record yourself: Only me)."
)
GAME_GONE = (
    "The game window is gone (closed or crashed), so play stopped. Start the game again, then "
    "choose it under Game on the Live tab and press Open game."
)
PANIC_STOP = "Stopped by the panic key; every key was released. Press Start to go on."
TASKS_OFFLINE = "tasks-offline"  # Settings.seen_notices key: the built-in task list stands in

# command-line advice in shared error messages -> what a window user does instead
WINDOW_WORDS = {
    "pass a local folder with --model": "choose a local checkpoint folder with Folder… beside Model",
    "point --model at the checkpoint folder itself": "choose the checkpoint folder itself with Folder…",
    "--model needs a checkpoint folder": "the model needs a checkpoint folder",
    "and trying again resumes it": "and Load model resumes it",
    "Use --quantize none": "Use bf16",
    "Use --quantize 8bit": "Use 8bit",
    "Use --quantize 4bit": "Use 4bit",
}


class BadgeKey(str, enum.Enum):
    """What the badge shows, a key of ``overlay.BADGES``: the session's ``Mode`` refined by who really
    plays and why (a str, so it compares and prints as its value)."""

    AGENT = "agent"
    WAITING = "waiting"  # the agent's turn, but the game lacks focus: it injects nothing
    HUMAN = "human"  # the person touched the game: the agent takes over again after the quiet time
    HELD = "held"  # the person pressed Take over: theirs until Hand back
    TELEOP = "teleop"  # the person alone: nothing is injected
    PAUSED = "paused"
    STOPPED = "stopped"
    IDLE = "idle"
    LOADING = "loading"

    def __str__(self) -> str:
        return self.value


WAITS_FOR_FOCUS = "the agent waits: click into the game to give it focus"
PERSON_NOTES = {  # badge -> what the person can do next
    BadgeKey.IDLE: "press Start to let the agent play; Take over at any moment",
    BadgeKey.STOPPED: "stopped: press Start to play again",
    BadgeKey.HELD: "you play until Hand back (or the pause key)",
    BadgeKey.HUMAN: "you play; the agent takes over again once you stop for the quiet time",
    BadgeKey.TELEOP: "only you play: nothing is injected",
    BadgeKey.PAUSED: "paused: Resume (or the pause key) lets the agent play again",
}
RUNNING_MODES = (Mode.AGENT, Mode.HUMAN, Mode.PAUSED)
AGENT_BADGES = (BadgeKey.AGENT, BadgeKey.WAITING)


@dataclass(frozen=True)
class Say:
    """A message for the window's banner."""

    text: str
    level: str = "info"  # info, note or error
    details: str = ""  # folded under the message
    until_start: bool = False  # cleared by the next Start
    remember: str = ""  # a one-time notice: this key goes into Settings.seen_notices


@dataclass(frozen=True)
class Controls:
    """Which of the control bar's buttons work, and whether Pause reads Resume."""

    start: bool
    pause: bool
    resume: bool
    stop: bool
    take_over: bool
    hand_back: bool
    save_last: bool
    record_mode: bool


def controls_for(mode: Mode, can_start: bool, teleop: bool = False) -> Controls:
    """The buttons for the session's ``mode``; ``teleop``: the person plays alone, so there is no
    agent to hand back to."""
    running = mode in RUNNING_MODES
    return Controls(
        start=can_start and not running,
        pause=mode in (Mode.AGENT, Mode.PAUSED),
        resume=mode == Mode.PAUSED,
        stop=running,
        take_over=mode in (Mode.AGENT, Mode.PAUSED),
        hand_back=mode == Mode.HUMAN and not teleop,
        save_last=running,
        record_mode=not running,
    )


def for_window(text: str) -> str:
    """A message written for the command line, in the window's terms."""
    for cli, gui in WINDOW_WORDS.items():
        text = text.replace(cli, gui)
    return text


@dataclass
class WindowState:
    teleop: bool = False  # the current run is the person's alone (nothing injected)
    focused: bool = True  # the game had keyboard focus on the last tick
    game_lost: bool = False  # the game's window closed or its process died
    active: bool = False  # one of our windows has keyboard focus
    own_rects: tuple[Rect, ...] = ()  # frames of our visible windows
    last_fresh: tuple[Mapping[str, Any], float] | None = None  # the model's last answer and when
    slow: SlowModel | None = None  # the model is slower than the game (the last measure stands)
    slow_said: bool = False  # the slow-model note was shown for this run
    tasks_problem_shown: str | None = None  # the task-library problem the banner last said

    # ----- who is in control ----------------------------------------------------------------------
    def badge(self, mode: Mode, held: bool = False) -> BadgeKey:
        """What the badge shows for the session's ``mode``; ``held``: the person took over with the
        button and keeps control until Hand back."""
        if mode == Mode.HUMAN and self.teleop:
            return BadgeKey.TELEOP
        if mode == Mode.HUMAN and held:
            return BadgeKey.HELD
        if mode == Mode.AGENT and not self.focused:
            return BadgeKey.WAITING
        return BadgeKey(Mode(mode).value)

    def tick(self, fresh_action: Mapping[str, Any] | None, focused: bool, now: float) -> bool:
        """One tick seen; True when the game's focus changed (the badge must be shown again)."""
        if fresh_action is not None:
            self.last_fresh = (fresh_action, now)
        changed = focused != self.focused
        self.focused = focused
        return changed

    def notes(self, badge: BadgeKey, now: float) -> tuple[str, ...]:
        """The short lines beside the badge (``badge``: what ``badge()`` answered)."""
        if badge in PERSON_NOTES:
            return (PERSON_NOTES[BadgeKey(badge)],)
        if badge not in AGENT_BADGES:
            return ()
        notes: tuple[str, ...] = (WAITS_FOR_FOCUS,) if badge == BadgeKey.WAITING else ()
        if self.last_fresh is not None:
            action, when = self.last_fresh
            notes += (f"last model action: {describe(action)} ({now - when:.1f} s ago)",)
        if self.slow is not None:
            notes += (self.slow.short,)
        return notes

    def controls(self, mode: Mode, can_start: bool) -> Controls:
        return controls_for(mode, can_start, self.teleop)

    def started(self, teleop: bool, running: bool) -> None:
        self.teleop = teleop and running
        self.slow_said = False

    def mode_changed(self, mode: Mode) -> None:
        if mode not in RUNNING_MODES:
            self.teleop = False

    def stopped(self, reason: str = "", error: BaseException | None = None) -> Say | None:
        """A run ended (``reason``: the session's words, ``error``: what ended it, if anything):
        nothing of it may read as live. Says what the person should know, if anything."""
        self.teleop = False
        self.focused = True
        self.last_fresh = None
        self.slow = None
        if error is not None and game_gone(error):
            self.game_lost = True
            return Say(GAME_GONE, "error")
        if reason.startswith("panic"):
            return Say(PANIC_STOP, "note", until_start=True)
        return None

    # ----- the live figures ---------------------------------------------------------------------------
    def figures_seen(self, figures: Figures, tick_hz: float, recording: bool, fallback: str) -> Say | None:
        """The live figures of a run: is the model slower than the game? With no answer in the last
        2 s, the last measure stands. A recording made of stale ticks is said once per run."""
        slow = None if self.teleop else slow_model(figures, tick_hz)
        if slow is None and figures.model_ms is None and not self.teleop:
            slow = self.slow
        self.slow = slow
        if slow is None or not recording or self.slow_said:
            return None
        self.slow_said = True
        return Say(
            f"This recording is mostly ticks without a fresh model answer ({slow.short}).",
            "note",
            details=slow.sentence(fallback),
        )

    # ----- the task library ---------------------------------------------------------------------------
    def tasks_notice(
        self, problem: str | None, named_file: bool, seen: Sequence[str], tasks: int
    ) -> Say | None:
        """The built-in task list stands in (``problem`` says why): a file the person named is an
        error to fix; the library not downloaded (offline) is a calm line, shown once ever (``seen``:
        the notices already shown), with the details folded. Each problem is said once."""
        if not problem or problem == self.tasks_problem_shown:
            return None
        self.tasks_problem_shown = problem
        if named_file:
            return Say(problem, "error")
        if TASKS_OFFLINE in seen:
            return None
        return Say(
            f"Instructions complete from a built-in list of {tasks} common tasks: JarvisVLA's "
            "task library could not be fetched (offline?).",
            "info",
            details=problem,
            remember=TASKS_OFFLINE,
        )

    # ----- what Start needs -------------------------------------------------------------------------
    def start_refusal(self, game_open: bool) -> str | None:
        if self.game_lost:
            return GAME_GONE
        return None if game_open else NO_GAME

    def can_start(self, busy: bool, game_open: bool, model_loaded: bool, teleop_mode: bool) -> bool:
        return not busy and not self.game_lost and game_open and (model_loaded or teleop_mode)

    def placeholder(
        self, busy: bool, running: bool, game_open: bool, model_loaded: bool, teleop_mode: bool
    ) -> str | None:
        """What the game view says instead of a frame (None: nothing is missing)."""
        if busy or running:
            return None
        if not game_open:
            return GAME_GONE if self.game_lost else NO_GAME
        if not model_loaded and not teleop_mode:
            return NO_MODEL
        return None

    # ----- our own input is never a takeover ---------------------------------------------------------
    def own_input(self, event: InputEvent) -> bool:
        """True for input aimed at one of our windows (listener thread: reads plain attributes)."""
        if event.kind in ("key_down", "key_up"):
            return self.active
        if event.kind in ("button_down", "button_up", "scroll", "move"):
            return any(x <= event.x < x + w and y <= event.y < y + h for x, y, w, h in self.own_rects)
        return False


def close_question(recording: bool, finetuning: bool, evaluating: bool = False) -> str | None:
    """What to ask before a person's close cuts work short (None: close at once)."""
    busy = []
    if recording:
        busy.append("an episode is being recorded (it is saved as it stands)")
    if finetuning:
        busy.append("a fine-tune is running (it saves a checkpoint; Resume continues it)")
    if evaluating:
        busy.append("an evaluation is running (the trials played so far are kept)")
    if not busy:
        return None
    return "Really quit? " + "; ".join(busy).capitalize() + "."


def game_gone(exc: BaseException) -> bool:
    """The game's window closed or its process died (the capture says so by type)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (GameWindowGone, WindowGone)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
