"""The X11 backend: one X display, one shared connection for queries and injection.

Window queries, focus, geometry, the pointer, key names and XTEST injection all go through one
python-xlib connection behind one lock, whichever thread asks (the loop, the listener's two threads,
the panic key). Three things keep connections of their own, because each selects events and drains
them, and a connection's event queue must have one reader: the window capture (one per capturing
thread, like mss), the cover watch and the cursor watch. The watchdog's releaser lives in another
process and connects there.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Collection
from typing import Any

from Xlib import display as xdisplay
from Xlib.error import DisplayError

from recorder.desktop.protocol import (
    Capture,
    CoverWatch,
    CursorWatch,
    DesktopUnavailable,
    GameWindow,
    Injector,
    KeyCodes,
    Ledger,
    Point,
    Rect,
    Releaser,
    WindowGone,
)
from recorder.desktop.pynput_injector import PynputInjector
from recorder.desktop.x11 import geometry
from recorder.desktop.x11.cursor import CursorWatch as X11CursorWatch
from recorder.desktop.x11.injector import XTestInjector
from recorder.desktop.x11.release import X11Releaser
from recorder.desktop.x11.screen_capture import ScreenCapture
from recorder.desktop.x11.window_capture import WindowCapture
from recorder.desktop.x11.windows import CoverWatch as X11CoverWatch
from recorder.desktop.x11.windows import X11Windows


class X11Desktop:
    name = "x11"

    def __init__(self, display: str | None = None, notes: tuple[str, ...] = ()) -> None:
        self.display = display or os.environ.get("DISPLAY")
        self.notes = tuple(notes)
        try:
            self._d: Any = xdisplay.Display(self.display)
        except (DisplayError, OSError, ValueError) as exc:
            raise DesktopUnavailable(f"cannot open the X display {self.display!r}: {exc}") from exc
        self._lock = threading.RLock()
        self._windows = X11Windows(connection=self._d)
        self._closed = False

    # ----- the game window --------------------------------------------------------------------
    def windows(self) -> list[GameWindow]:
        with self._lock:
            return self._windows.list()

    def find_window(self, title: str | None = None, pid: int | None = None) -> GameWindow:
        with self._lock:
            return self._windows.find(title, pid)

    def window_at(self, x: int, y: int) -> GameWindow:
        with self._lock:
            return self._windows.window_at(x, y)

    def window_rect(self, window: int) -> Rect:
        with self._lock:
            try:
                return self._windows.rect(window)
            except Exception as exc:  # BadWindow, BadDrawable: closed
                raise WindowGone(f"the game window {window:#x} is gone") from exc

    # ----- focus ------------------------------------------------------------------------------
    def has_focus(self, window: int) -> bool:
        with self._lock:
            return self._windows.has_focus(window)

    def focused_window(self) -> int:
        with self._lock:
            return self._windows.focused()

    def focus(self, window: int) -> None:
        with self._lock:
            self._windows.focus(window)

    def unfocus(self) -> None:
        with self._lock:
            self._windows.unfocus()

    def warp_pointer(self, x: int, y: int) -> None:
        with self._lock:
            self._windows.warp_pointer(x, y)

    # ----- capture and the game's state -------------------------------------------------------
    def probe_capture(self, window: int) -> str | None:
        return WindowCapture.probe(window, self.display)

    def window_capture(self, window: int, size: tuple[int, int]) -> Capture:
        return WindowCapture(window, size, self.display)

    def screen_capture(self, region: Callable[[], Rect], size: tuple[int, int]) -> Capture:
        return ScreenCapture(region, size, self.display)

    def cover_watch(self) -> CoverWatch:
        return X11CoverWatch(self.display)

    def cursor_watch(self) -> CursorWatch:
        return X11CursorWatch(self.display)

    # ----- input ------------------------------------------------------------------------------
    def injector(self, ledger: Ledger, keys: KeyCodes, kind: str = "auto") -> Injector:
        if kind == "pynput":
            _, _, width, height = self.screen_rect()
            return PynputInjector(ledger, keys, (width, height))
        if kind not in ("auto", "xtest"):
            raise ValueError(f"injector must be auto, xtest or pynput, not {kind!r}")

        return _Locked(XTestInjector(ledger, keys, self._d), self._lock)

    def check_injection(self) -> str | None:
        """XTEST goes straight into the X server here: nothing can refuse it."""
        return None

    def pointer(self) -> Point:
        with self._lock:
            reply = self._d.screen().root.query_pointer()
            return int(reply.root_x), int(reply.root_y)

    def key_name(self, keysym: int) -> int:
        with self._lock:
            code = self._d.keysym_to_keycode(keysym)
            base = self._d.keycode_to_keysym(code, 0) if code else 0
        return int(base) if base else keysym

    def releaser(self, keysyms: Collection[int]) -> Releaser:
        return X11Releaser(self.display, keysyms)

    # ----- placement geometry -----------------------------------------------------------------
    def screen_rect(self) -> Rect:
        with self._lock:
            screen = self._d.screen()
            return (0, 0, int(screen.width_in_pixels), int(screen.height_in_pixels))

    def work_area(self) -> Rect:
        with self._lock:
            return geometry.work_area(self._d)

    def frame(self, window: int) -> Rect:
        with self._lock:
            try:
                return geometry.frame(self._d, window)
            except Exception as exc:
                raise WindowGone(f"window {window:#x} is gone") from exc

    def move_frame(self, window: int, x: int, y: int) -> None:
        with self._lock:
            geometry.move_frame(self._d, window, x, y)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(Exception):  # the server may be gone already
                self._d.close()

    def __enter__(self) -> X11Desktop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Locked:
    """An injector whose requests take the backend's lock: its connection is shared."""

    def __init__(self, inner: Injector, lock: Any) -> None:
        self._inner = inner
        self._lock = lock
        self.ledger = getattr(inner, "ledger", None)

    def press(self, name: str) -> None:
        with self._lock:
            self._inner.press(name)

    def release(self, name: str) -> None:
        with self._lock:
            self._inner.release(name)

    def move_by(self, dx: int, dy: int) -> None:
        with self._lock:
            self._inner.move_by(dx, dy)

    def move_to(self, x: int, y: int) -> None:
        with self._lock:
            self._inner.move_to(x, y)

    def pointer(self) -> Point:
        with self._lock:
            return self._inner.pointer()

    def flush(self) -> None:
        with self._lock:
            self._inner.flush()

    def close(self) -> None:
        with self._lock:
            self._inner.close()
