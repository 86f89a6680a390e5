"""What a game needs from a desktop, named for the game and not for any display server.

One ``Desktop`` per display connection string. Its members are what the app does to a game window:
find and track it, give it focus, capture it, read whether it shows a GUI screen, inject input, hear
the person's input, place windows beside it, and let go of every key. X11 and XWayland implement it
today (``recorder.desktop.x11``, ``recorder.desktop.xwayland``); a Windows or macOS backend would
implement the same members.

Threads: the plain queries (``windows``, ``window_rect``, ``has_focus``, ``focus``, ``pointer``,
``key_name``, the geometry) and the injector share the backend's one connection and may be called
from any thread. Watchers that consume events of their own (``capture``, ``cover_watch``,
``cursor_watch``) belong to the thread that first uses them, each with its own connection: events
must not be read off a connection that another thread drains.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from recorder.errors import RecorderError

if TYPE_CHECKING:
    import numpy as np

Rect = tuple[int, int, int, int]  # left, top, width, height in screen pixels
Point = tuple[int, int]

NOT_SHOWN = "the game window is not shown (minimized or on another desktop)"


class DesktopError(RecorderError, RuntimeError):
    """The root of the desktop's errors: the display server cannot do what a game needs."""


class DesktopUnavailable(DesktopError):
    """No backend can play on this desktop; the message says what to do."""


class NotPlayable(DesktopError, LookupError):
    """The game's window is there but this desktop cannot play it (a native Wayland window)."""


class WindowGone(DesktopError):
    """The game window was closed (or cannot be read any more)."""


@dataclass(frozen=True)
class GameWindow:
    id: int  # the backend's handle (an X11 window id)
    title: str
    pid: int | None
    rect: Rect  # client area in screen pixels


@dataclass(frozen=True)
class GuiState:
    open: bool  # the game shows its pointer: a GUI screen is open
    x: float  # pointer in window pixels (origin: the game's top-left), clipped to the window
    y: float
    inside: bool  # the pointer is over the game, so ``open`` was read now (else: the last reading)


class Capture(Protocol):
    """Frames of the game: the window's own contents, or a screen rectangle."""

    size: tuple[int, int]  # output width, height

    def grab(self) -> np.ndarray:
        """RGB uint8 (height, width, 3) at ``size``."""
        ...

    def grab_bgra(self) -> np.ndarray:
        """The raw picture, H×W×4 BGRA (a view valid until the next grab on this thread)."""
        ...

    def close(self) -> None: ...


class CoverWatch(Protocol):
    def reason(self, window: int, rect: Rect) -> str | None:
        """Why a screen grab of ``rect`` would not show ``window`` (covered, not shown), or None."""
        ...

    def close(self) -> None: ...


class CursorWatch(Protocol):
    def read(self, rect: Rect) -> GuiState:
        """The game's GUI state and pointer now; ``rect`` is the game's place on the screen."""
        ...

    def close(self) -> None: ...


class Injector(Protocol):
    """Synthetic input. Every event is entered in the caller's ledger before it is sent."""

    def press(self, name: str) -> None: ...
    def release(self, name: str) -> None: ...
    def move_by(self, dx: int, dy: int) -> None:
        """Relative motion for a game that holds the pointer and re-centres it (in-world look)."""

    def move_to(self, x: int, y: int) -> None:
        """Absolute pointer position in screen pixels (a GUI cursor)."""

    def pointer(self) -> Point: ...
    def flush(self) -> None:
        """Send whatever is queued (the end of a tick, or a release on the safety path)."""

    def close(self) -> None: ...


class Releaser(Protocol):
    """Lets go of held keys and buttons from another process (the watchdog), on its own connection."""

    def release(self) -> list[str]:
        """Release whatever of ours is held; returns what was, for the log."""
        ...

    def close(self) -> None: ...


class Desktop(Protocol):
    name: str  # the backend: "x11", "xwayland"
    display: str | None  # what it connected to (an X display name)
    notes: tuple[str, ...]  # what is not possible on this desktop, one sentence each

    # ----- the game window --------------------------------------------------------------------
    def windows(self) -> list[GameWindow]:
        """Shown windows with a title, top-level first."""
        ...

    def find_window(self, title: str | None = None, pid: int | None = None) -> GameWindow:
        """The largest window whose title contains ``title`` and/or whose pid is ``pid``; never one of
        this process's own. LookupError (with a sentence) when there is none."""
        ...

    def window_at(self, x: int, y: int) -> GameWindow: ...
    def window_rect(self, window: int) -> Rect:
        """The client area in screen pixels; WindowGone when the window is gone."""
        ...

    # ----- focus ------------------------------------------------------------------------------
    def has_focus(self, window: int) -> bool: ...
    def focused_window(self) -> int:
        """The window with keyboard focus; 0 for none."""
        ...

    def focus(self, window: int) -> None:
        """Give ``window`` keyboard focus the way this desktop allows (window manager, compositor)."""
        ...

    # ----- capture and the game's state -------------------------------------------------------
    def probe_capture(self, window: int) -> str | None:
        """Why the window's own contents cannot be captured, or None when a test read worked."""
        ...

    def window_capture(self, window: int, size: tuple[int, int]) -> Capture: ...
    def screen_capture(self, region: Callable[[], Rect], size: tuple[int, int]) -> Capture:
        """A grab of whatever the screen shows in ``region()``; DesktopError where none is possible."""
        ...

    def cover_watch(self) -> CoverWatch: ...
    def cursor_watch(self) -> CursorWatch:
        """Reads the game's GUI state; DesktopError when this desktop cannot say."""
        ...

    # ----- input ------------------------------------------------------------------------------
    def injector(self, ledger: Ledger, keys: KeyCodes, kind: str = "auto") -> Injector:
        """``kind``: auto (the backend's own), or pynput (the portable one)."""
        ...

    def check_injection(self) -> str | None:
        """Why injected input would not reach the game (a refused permission), or None."""
        ...

    def pointer(self) -> Point: ...
    def warp_pointer(self, x: int, y: int) -> None:
        """Put the pointer at (x, y) (into the game before it takes the mouse)."""
        ...

    def key_name(self, keysym: int) -> int:
        """The unshifted keysym of ``keysym``'s physical key (Shift+W is still W)."""
        ...

    def releaser(self, keysyms: Collection[int]) -> Releaser:
        """For the watchdog: lets go of these keys (and buttons 1–3) when held."""
        ...

    # ----- placement geometry -----------------------------------------------------------------
    def screen_rect(self) -> Rect: ...
    def work_area(self) -> Rect: ...
    def frame(self, window: int) -> Rect:
        """The window's frame: its client area plus the decorations around it."""
        ...

    def move_frame(self, window: int, x: int, y: int) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class KeyCodes:
    """The names the app presses (``key.keyboard.w``, ``key.mouse.left``) and what they are to the
    desktop: keysyms (the X11 names pynput uses too) and pointer button numbers. Given by the caller
    (``recorder.input.keymap``), so the desktop layer knows no binding table of its own."""

    keysyms: Mapping[str, int]
    buttons: Mapping[str, int]


class Ledger(Protocol):
    """Where an injector writes down each event before sending it, so the person's input listener
    can tell the agent's events from the person's (``recorder.input.InjectionLedger``)."""

    def expect(self, kind: str, key: str) -> None: ...
    def expect_move(self, x: int, y: int, origin: Point | None = None) -> None: ...
