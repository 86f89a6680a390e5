"""What the window knows about the play, apart from Qt: who is in control as the badge says it, which
input is the app's own, whether the game is gone, what Start is missing, and when closing must ask.

The controller feeds it (ticks, mode changes, focus, the frames of our windows) and shows what it
answers; tests drive it directly. ``own_input`` runs on the listener thread, so it reads only plain
attributes that the GUI thread replaces whole (a tuple of rectangles, a bool).

The badge refines the session's mode: the agent waiting for the game to get focus (it injects only
while the game has focus), the person after Take over (held until Hand back), the person alone
(teleop), the person after touching the game (until the quiet time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.games.desktop import GameWindowGone
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
WAITS_FOR_FOCUS = "the agent waits: click into the game to give it focus"
PERSON_NOTES = {  # badge -> what the person can do next
    "idle": "press Start to let the agent play; Take over at any moment",
    "stopped": "stopped: press Start to play again",
    "held": "you play until Hand back (or the pause key)",
    "human": "you play; the agent takes over again once you stop for the quiet time",
    "teleop": "only you play: nothing is injected",
    "paused": "paused: Resume (or the pause key) lets the agent play again",
}
RUNNING_MODES = ("agent", "human", "paused")


@dataclass
class WindowState:
    teleop: bool = False  # the current run is the person's alone (nothing injected)
    focused: bool = True  # the game had keyboard focus on the last tick
    game_lost: bool = False  # the game's window closed or its process died
    active: bool = False  # one of our windows has keyboard focus
    own_rects: tuple[Rect, ...] = ()  # frames of our visible windows
    last_fresh: tuple[Mapping[str, Any], float] | None = None  # the model's last answer and when

    # ----- who is in control ----------------------------------------------------------------------
    def badge(self, mode: str, held: bool = False) -> str:
        """The badge's key in ``overlay.BADGES`` for the session's ``mode``; ``held``: the person
        took over with the button and keeps control until Hand back."""
        if mode == "human" and self.teleop:
            return "teleop"
        if mode == "human" and held:
            return "held"
        if mode == "agent" and not self.focused:
            return "waiting"
        return mode

    def tick(self, fresh_action: Mapping[str, Any] | None, focused: bool, now: float) -> bool:
        """One tick seen; True when the game's focus changed (the badge must be shown again)."""
        if fresh_action is not None:
            self.last_fresh = (fresh_action, now)
        changed = focused != self.focused
        self.focused = focused
        return changed

    def notes(self, badge: str, now: float) -> tuple[str, ...]:
        """The short lines beside the badge (``badge``: what ``badge()`` answered)."""
        if badge in PERSON_NOTES:
            return (PERSON_NOTES[badge],)
        if badge not in ("agent", "waiting"):
            return ()
        notes: tuple[str, ...] = (WAITS_FOR_FOCUS,) if badge == "waiting" else ()
        if self.last_fresh is not None:
            action, when = self.last_fresh
            notes += (f"last model action: {describe(action)} ({now - when:.1f} s ago)",)
        return notes

    def started(self, teleop: bool, running: bool) -> None:
        self.teleop = teleop and running

    def mode_changed(self, mode: str) -> None:
        if mode not in RUNNING_MODES:
            self.teleop = False

    def stopped(self) -> None:
        """A run ended: nothing of it may read as live."""
        self.teleop = False
        self.focused = True
        self.last_fresh = None

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
