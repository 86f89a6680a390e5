"""The X server's own view of held keys and buttons: the ground truth of the never-a-stuck-key tests.

Written against python-xlib directly, not app/runtime/watchdog.py, so that the oracle does not share
the code it judges.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar


class XKeys:
    """What the X server says is held: every keycode in the keymap, and pointer buttons 1–3."""

    def __init__(self, display: str) -> None:
        from Xlib import display as xdisplay

        self.d = xdisplay.Display(display)

    def keycodes(self) -> list[int]:
        keymap = self.d.query_keymap()
        return [i * 8 + b for i, byte in enumerate(keymap) for b in range(8) if byte & (1 << b)]

    def buttons(self) -> list[int]:
        from Xlib import X

        mask = self.d.screen().root.query_pointer().mask
        return [n for n, bit in ((1, X.Button1Mask), (2, X.Button2Mask), (3, X.Button3Mask)) if mask & bit]

    def release_everything(self) -> None:
        """Release every held key and buttons 1–3, so one test's leftovers never judge the next."""
        from Xlib import X
        from Xlib.ext import xtest

        for code in self.keycodes():
            xtest.fake_input(self.d, X.KeyRelease, code)
        for button in (1, 2, 3):
            xtest.fake_input(self.d, X.ButtonRelease, button)
        self.d.sync()


K = TypeVar("K", bound=XKeys)


@contextlib.contextmanager
def released(state: K) -> Iterator[K]:
    """``state`` with nothing held on entry and on exit; its connection closed afterwards."""
    state.release_everything()
    try:
        yield state
    finally:
        state.release_everything()
        state.d.close()
