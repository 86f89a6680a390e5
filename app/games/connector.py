"""The seam between the play loop and a game.

Every connector yields 640×360 RGB frames and executes MineRL env actions. A *real-time* connector
(the desktop) runs on the loop's clock and its game does not wait; a *lockstep* connector (a MineRL
environment) advances one game tick per ``apply``. ``release_all`` must be safe to call from any
thread at any time: it is the safety path (panic key, focus loss, exceptions, signals).

Every member a caller reads is declared here, so callers use plain attribute access and a connector
that forgets one fails ``tests/app/games/test_connector_contract.py`` instead of a user's session.
Members that only make sense on a desktop have a neutral value elsewhere (``ledger`` None,
``window_id`` 0, ``rect`` the frame), so callers never probe with ``getattr``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from model.actions.env import EnvAction

if TYPE_CHECKING:
    from app.games.desktop import DesktopConfig
    from recorder.input import InjectionLedger

FRAME_SIZE = (640, 360)  # width, height the model was trained on

Rect = tuple[int, int, int, int]  # left, top, width, height in screen pixels


@runtime_checkable
class Connector(Protocol):
    realtime: bool  # True: the game runs on its own clock; False: one apply() is one game tick

    @property
    def ledger(self) -> InjectionLedger | None:
        """The input this connector injected, so the human-input listener does not mistake it for the
        person's (a takeover). None when nothing is injected into the desktop: no listener is needed."""

    @property
    def config(self) -> DesktopConfig | None:
        """How actions become desktop input (bindings, mouse law, GUI scale): recorded in an episode's
        meta so a correction can be replayed. None for games that take env actions directly."""

    @property
    def display(self) -> str | None:
        """The X display the game window lives on (None: ``$DISPLAY``), for focusing it."""

    @property
    def window_id(self) -> int:
        """The game's X11 window, for giving it focus; 0 when there is no window (a bare screen
        region, an environment, the test pattern)."""

    @property
    def window_title(self) -> str:
        """The game window's title, for labels; empty when there is no window."""

    @property
    def rect(self) -> Rect:
        """Where the game is on screen (left, top, width, height): a recording's window size and the
        clip box for GUI cursor moves. Games without a window give the frame, (0, 0, 640, 360)."""

    @property
    def gui_open(self) -> bool:
        """Whether a GUI screen is open at the last ``observe``: the camera then moves the cursor, not
        the view, and the model must see the cursor sprite. Read from the game where the connector can
        (the desktop: the game shows its pointer), else from the agent's inventory presses. False
        where the connector cannot tell (an environment handles it)."""

    @property
    def cursor(self) -> tuple[float, float] | None:
        """Where the game's pointer was at the last ``observe``, in window pixels: the GUI cursor the
        recording stores as ``mouse.x/y``. None where the connector cannot read it."""

    @property
    def finished(self) -> bool:
        """Whether the game's episode ended (an environment's done); the loop stops. A desktop game
        never ends by itself: always False."""

    def observe(self) -> np.ndarray:
        """The latest frame, RGB uint8 of shape (360, 640, 3)."""

    def policy_frame(self, frame: np.ndarray) -> np.ndarray:
        """The last observed ``frame`` as the model must see it: the desktop draws the env's white GUI
        cursor into a copy while a screen is open (spec §1.4), as the model's training frames show it;
        an environment's frames already have it. The frame passed in is never changed."""

    def apply(self, action: EnvAction) -> None:
        """Execute one tick's env action (held-state semantics: press on 0→1, release on 1→0).
        After ``close`` it does nothing."""

    def release_all(self) -> None:
        """Release every key and button this connector holds. Idempotent, thread-safe, safe after close."""

    def has_focus(self) -> bool:
        """Whether input may be injected now (the game window is focused). Always True for env games."""

    def covered(self) -> str | None:
        """Why a frame grabbed now would not show the game (a window over a screen grab, the game
        hidden or not yet drawn), or None when it would. The loop asks on its own thread right before
        and right after each ``observe``, so the answer after must account for everything that happened
        up to that grab; a frame either answer objects to is never given to the model nor recorded.
        None where frames come from the game itself."""

    def close(self) -> None:
        """Release input and free resources; called on every exit path, and safe to call again."""
