"""Whether the game has a GUI screen open, read from the game itself: does it show its pointer?

A first-person game hides the pointer while it steers the view with the mouse, and shows it when a
screen (inventory, crafting table, furnace, pause menu) wants clicks: minetest sets an invisible cursor
and warps the pointer back to the window centre every frame; Minecraft (GLFW's disabled cursor) grabs
the pointer with an invisible cursor. Either way the cursor the X server shows over the game is
blank in the world and visible in a screen, and XFixes ``GetCursorImage`` returns exactly that image.
Fetching and decoding it costs over a millisecond in python-xlib, too much per tick, so the server
reports each change of the cursor on show (``DisplayCursorNotify``, with the cursor's serial) and
each distinct cursor's image is looked at once. This works for a screen the person opens, one the
game opens by itself (a chest, death), and the agent's own presses alike.

The pointer position comes along (``QueryPointer``), in window pixels: that is where the game draws
its cursor, where the env's sprite goes (spec §1.4) and what VPT's ``mouse.x/y`` hold (spec §5.2).

While the pointer is outside the game's rectangle the cursor on show belongs to another window, so
the reading keeps the last state seen over the game (a game steering the view keeps the pointer
inside by warping it, so "outside" means a screen is open or the game has lost the pointer).

Not probed: whether the game holds a pointer grab. Asking means trying to grab the pointer ourselves,
which on success takes the person's clicks for that moment. The cursor image tells the same thing.

One X connection of its own; call from one thread (the play loop's, in ``observe``).
"""

from __future__ import annotations

import logging
from typing import Any

from Xlib import display as xdisplay
from Xlib.error import DisplayError
from Xlib.ext import xfixes

from recorder.desktop.protocol import DesktopError, GuiState, Rect

LOG = logging.getLogger(__name__)


class GuiStateUnavailable(DesktopError):
    """The X server cannot say what cursor it shows (no XFixes, or not X11)."""


class CursorWatch:
    def __init__(self, display: str | None = None) -> None:
        try:
            self._d: Any = xdisplay.Display(display)
        except (DisplayError, OSError, ValueError) as exc:
            raise GuiStateUnavailable(f"cannot open the X display {display or ''!r}: {exc}") from exc
        if not self._d.has_extension("XFIXES"):
            self._d.close()
            raise GuiStateUnavailable(
                "the X server has no XFixes extension, so the game's cursor cannot be read"
            )

        self._d.xfixes_query_version()
        self._root = self._d.screen().root
        self._d.xfixes_select_cursor_input(self._root, xfixes.XFixesDisplayCursorNotifyMask)
        self._visible: dict[int, bool] = {}  # cursor serial -> whether it shows any pixel
        self._serial: int | None = None  # the cursor on show, as last reported; None: ask
        self._open = False

    def read(self, rect: Rect) -> GuiState:
        """The game's GUI state and pointer now; ``rect`` is the game's place on the screen."""
        left, top, width, height = rect
        pointer = self._root.query_pointer()  # a round trip: every cursor change so far has arrived
        self._drain()
        x, y = float(pointer.root_x - left), float(pointer.root_y - top)
        inside = bool(pointer.same_screen) and 0 <= x < width and 0 <= y < height
        if inside:
            self._open = self._cursor_visible()
        return GuiState(
            self._open, min(max(x, 0.0), float(width - 1)), min(max(y, 0.0), float(height - 1)), inside
        )

    def _drain(self) -> None:
        """Take the cursor changes the server reported; the last one is the cursor on show."""
        while self._d.pending_events():
            serial = getattr(self._d.next_event(), "cursor_serial", None)
            if serial is not None:
                self._serial = int(serial)

    def _cursor_visible(self) -> bool:
        known = self._visible.get(self._serial) if self._serial is not None else None
        if known is not None:
            return known
        image = self._d.xfixes_get_cursor_image(self._root)
        self._serial = int(image.cursor_serial)
        known = any(p >> 24 & 0xFF for p in image.cursor_image)  # ARGB: any alpha is a visible cursor
        if len(self._visible) > 256:  # a game animating its cursor makes new serials: keep it small
            self._visible.clear()
        self._visible[self._serial] = known
        return known

    def close(self) -> None:
        try:
            self._d.close()
        except Exception:  # closing a dead connection is not worth an error on the way out
            LOG.debug("closing the cursor watch's X connection failed", exc_info=True)
