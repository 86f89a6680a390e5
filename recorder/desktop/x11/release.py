"""Key-up and button-up through XTEST for the watchdog process, only for what the server shows held.

The X server does not release keys a client pressed through XTEST when that client dies; the
watchdog (``app.runtime.watchdog``) holds this on a connection of its own and lets go for the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import xtest


class X11Releaser:
    def __init__(self, display: str | None, keysyms: Iterable[int]) -> None:
        self._d = xdisplay.Display(display)
        self._root = self._d.screen().root
        codes = set()
        for sym in keysyms:
            code = self._d.keysym_to_keycode(sym)
            if code:
                codes.add(int(code))
        self.keycodes = sorted(codes)

    def release(self) -> list[str]:
        """Release whatever of ours is down; returns what was (for the log)."""
        held = self._d.query_keymap()
        released = []
        for code in self.keycodes:
            if held[code // 8] & (1 << (code % 8)):
                xtest.fake_input(self._d, X.KeyRelease, code)
                released.append(f"key {code}")
        mask = self._root.query_pointer().mask
        for button, bit in ((1, X.Button1Mask), (2, X.Button2Mask), (3, X.Button3Mask)):
            if mask & bit:
                xtest.fake_input(self._d, X.ButtonRelease, button)
                released.append(f"button {button}")
        self._d.sync()
        return released

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._d.close()
