"""Where the person's input counts as input to the game: the game has focus and the pointer is inside it.

The input listener hears every key and pointer event on the display, including keys typed into
jarvis-play's own dialogs and the pointer crossing other windows. Only what reaches the game is
the person playing; everything else must never become a "human correction" (they are weighted ×3
in training). A scope also knows the game's pointer-grab centre: a game that holds the mouse
(Minecraft, minetest) warps the pointer back there after every move, and such a warp is not a move.

Scopes are asked from the listener's threads (keyboard and mouse run on two), so each owns its own
Xlib connection behind a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

Point = tuple[int, int]


class GameScope(Protocol):
    def in_game(self, x: float, y: float) -> bool:
        """Whether input now, with the pointer at root (x, y), goes to the game."""
        ...

    def centre(self) -> Point | None:
        """Root coordinates the game warps a held pointer back to; None if it does not hold it."""
        ...

    def close(self) -> None: ...


def grab_centre(rect: tuple[int, int, int, int]) -> Point:
    """The centre a game re-centres to: window origin + size // 2 (minetest's ``getScreenSize() / 2``,
    GLFW's ``_glfwCenterCursorInContentArea`` truncated to whole pixels)."""
    left, top, width, height = rect
    return (left + width // 2, top + height // 2)


class X11GameScope:
    """The game window ``window_id``: focus on it (or a child or its frame) and the pointer over it."""

    def __init__(self, window_id: int, display: str | None = None, rect_ttl: float = 0.25) -> None:
        from recorder.window_x11 import X11Windows

        self.window_id = window_id
        self._wins = X11Windows(display)
        self._lock = threading.Lock()
        self._rect_ttl = rect_ttl  # a window moves rarely; one query per motion event would be wasted
        self._rect: tuple[int, int, int, int] | None = None
        self._rect_time = 0.0

    def _current_rect(self) -> tuple[int, int, int, int] | None:
        now = time.monotonic()
        if self._rect is None or now - self._rect_time > self._rect_ttl:
            try:
                self._rect = self._wins.rect(self.window_id)
            except Exception:  # the window is gone: nothing is in it
                self._rect = None
            self._rect_time = now
        return self._rect

    def in_game(self, x: float, y: float) -> bool:
        with self._lock:
            rect = self._current_rect()
            if rect is None:
                return False
            left, top, width, height = rect
            if not (left <= x < left + width and top <= y < top + height):
                return False
            try:
                return self._wins.has_focus(self.window_id)
            except Exception:
                return False

    def centre(self) -> Point | None:
        with self._lock:
            rect = self._current_rect()
        return grab_centre(rect) if rect else None

    def close(self) -> None:
        with self._lock:
            self._wins.close()


class FocusedWindowScope:
    """No game named: every event counts (as before scopes), and a warp is a jump to the centre of the
    window that has focus now. Keeps pointer-holding games right for callers that name no window."""

    def __init__(self, display: str | None = None, ttl: float = 0.25) -> None:
        from recorder.window_x11 import X11Windows

        self._wins = X11Windows(display)
        self._lock = threading.Lock()
        self._ttl = ttl
        self._cached: tuple[int, Point | None, float] = (0, None, 0.0)

    def in_game(self, x: float, y: float) -> bool:
        return True

    def centre(self) -> Point | None:
        with self._lock:
            try:
                focus = self._wins.focused()
            except Exception:
                return None
            wid, centre, when = self._cached
            now = time.monotonic()
            if focus != wid or now - when > self._ttl:
                try:
                    centre = grab_centre(self._wins.rect(focus)) if focus else None
                except Exception:
                    centre = None
                self._cached = (focus, centre, now)
            return centre

    def close(self) -> None:
        with self._lock:
            self._wins.close()


class PredicateScope:
    """A scope from two plain functions: for callers with their own idea of "the game" and for tests."""

    def __init__(self, in_game: Callable[[float, float], bool], centre: Callable[[], Point | None]) -> None:
        self._in_game = in_game
        self._centre = centre

    def in_game(self, x: float, y: float) -> bool:
        return self._in_game(x, y)

    def centre(self) -> Point | None:
        return self._centre()

    def close(self) -> None:
        pass


def scope_for_window(window_id: int, display: str | None = None) -> Any:
    """The scope of a game window on this display (X11 only for now)."""
    return X11GameScope(window_id, display)
