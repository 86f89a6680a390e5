"""Input scopes over any desktop: the game window has focus and the pointer is over it.

The listener asks these from its keyboard and mouse threads; they use the backend's shared, locked
queries (``Desktop.window_rect``, ``Desktop.has_focus``) and cache the rectangle briefly, since a
window moves rarely and one query per motion event would be wasted.
"""

from __future__ import annotations

import threading
import time

from recorder.desktop.protocol import Desktop, Point, Rect


def grab_centre(rect: Rect) -> Point:
    """The centre a game re-centres to: window origin + size // 2 (minetest's ``getScreenSize() / 2``,
    GLFW's ``_glfwCenterCursorInContentArea`` truncated to whole pixels)."""
    left, top, width, height = rect
    return (left + width // 2, top + height // 2)


class WindowScope:
    """The game window ``window``: focus on it (or a child or its frame) and the pointer over it."""

    def __init__(self, desktop: Desktop, window: int, rect_ttl: float = 0.25) -> None:
        self.window_id = window
        self._desktop = desktop
        self._lock = threading.Lock()
        self._rect_ttl = rect_ttl
        self._rect: Rect | None = None
        self._rect_time = 0.0

    def _current_rect(self) -> Rect | None:
        now = time.monotonic()
        if self._rect is None or now - self._rect_time > self._rect_ttl:
            try:
                self._rect = self._desktop.window_rect(self.window_id)
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
            return self._desktop.has_focus(self.window_id)
        except Exception:
            return False

    def centre(self) -> Point | None:
        with self._lock:
            rect = self._current_rect()
        return grab_centre(rect) if rect else None

    def close(self) -> None:
        """The desktop's connection is its owner's to close."""


class FocusedWindowScope:
    """No game named: every event counts, and a warp is a jump to the centre of the window that has
    focus now. Keeps pointer-holding games right for callers that name no window."""

    def __init__(self, desktop: Desktop, ttl: float = 0.25) -> None:
        self._desktop = desktop
        self._lock = threading.Lock()
        self._ttl = ttl
        self._cached: tuple[int, Point | None, float] = (0, None, 0.0)

    def in_game(self, x: float, y: float) -> bool:
        return True

    def centre(self) -> Point | None:
        with self._lock:
            try:
                focus = self._desktop.focused_window()
            except Exception:
                return None
            wid, centre, when = self._cached
            now = time.monotonic()
            if focus != wid or now - when > self._ttl:
                try:
                    centre = grab_centre(self._desktop.window_rect(focus)) if focus else None
                except Exception:
                    centre = None
                self._cached = (focus, centre, now)
            return centre

    def close(self) -> None:
        """The desktop's connection is its owner's to close."""
