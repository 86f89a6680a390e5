"""XTEST injection on the backend's shared connection, one flush per tick.

It sends exactly the XTEST requests pynput sends on X11 (pynput's xorg controller is a thin layer
over python-xlib), but pynput waits for a server round trip after every single event, and on a
loaded 2-core machine each round trip is a chance to be descheduled; this one queues a tick's events
and flushes them once (``flush()``), which takes the tick's injection from several round trips to at
most one. Every event is entered in the ledger *before* it is sent, so the human-input listener can
tell it from the person's. Not thread-safe by itself: the desktop connector serialises all calls.
"""

from __future__ import annotations

import contextlib
from typing import Any

from Xlib import X
from Xlib.ext import xtest

from recorder.desktop.ledgered_pointer import LedgeredPointer
from recorder.desktop.protocol import DesktopError, KeyCodes, Ledger, Point


class XTestInjector(LedgeredPointer):
    def __init__(self, ledger: Ledger, keys: KeyCodes, connection: Any) -> None:
        self.ledger = ledger
        self._keys = keys
        self._d = connection
        if not self._d.has_extension("XTEST"):
            raise DesktopError("the X server has no XTEST extension: synthetic input is impossible")
        screen = self._d.screen()
        self.screen = int(screen.width_in_pixels), int(screen.height_in_pixels)
        self._root = screen.root
        self._codes: dict[str, int] = {}

    def _code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._d.keysym_to_keycode(self._keys.keysyms[name])
            if not code:
                raise ValueError(f"{name} has no key on this keyboard layout")
            self._codes[name] = code
        return code

    def press(self, name: str) -> None:
        button = self._keys.buttons.get(name)
        if button is not None:
            self.ledger.expect("button_down", name)
            xtest.fake_input(self._d, X.ButtonPress, button)
        else:
            self.ledger.expect("key_down", name)
            xtest.fake_input(self._d, X.KeyPress, self._code(name))

    def release(self, name: str) -> None:
        button = self._keys.buttons.get(name)
        if button is not None:
            self.ledger.expect("button_up", name)
            xtest.fake_input(self._d, X.ButtonRelease, button)
        else:
            self.ledger.expect("key_up", name)
            xtest.fake_input(self._d, X.KeyRelease, self._code(name))

    def pointer(self) -> Point:
        reply = self._root.query_pointer()
        return int(reply.root_x), int(reply.root_y)

    def _warp(self, x: int, y: int) -> None:
        xtest.fake_input(self._d, X.MotionNotify, x=x, y=y)

    def flush(self) -> None:
        self._d.flush()

    def close(self) -> None:
        """Sends what is queued; the connection is the backend's and closes with it."""
        with contextlib.suppress(Exception):  # the display may already be gone
            self._d.flush()
