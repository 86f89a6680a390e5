"""Where the window goes: beside the game, never over it, on screens from 1366×768 up.

The plan is pure geometry (rectangles in screen pixels, frames including the window manager's
decorations), so it is tested without a display. The demo game is ours: it is moved to the
top-left corner first. A foreign game stays where it is and the window takes the largest free
space beside it. ``X11Desk`` reads the screen's work area and a window's frame, and moves a window,
through one short-lived Xlib connection (Xlib connections are not thread-safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Rect = tuple[int, int, int, int]  # left, top, width, height

# the smallest frame the window's layout fits in (a 1366×768 screen beside the 640×360 demo game
# leaves about 700×740)
MIN_WIDTH = 640
MIN_HEIGHT = 560


@dataclass(frozen=True)
class Placement:
    window: Rect  # our frame
    game_to: tuple[int, int] | None = None  # move the game's frame here first (the demo game)
    overlaps: bool = False  # no free space was big enough: we overlap the game


def overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def inside(a: Rect, outer: Rect) -> bool:
    return (
        a[0] >= outer[0]
        and a[1] >= outer[1]
        and a[0] + a[2] <= outer[0] + outer[2]
        and a[1] + a[3] <= outer[1] + outer[3]
    )


def free_spaces(screen: Rect, game: Rect) -> list[Rect]:
    """The four bands of ``screen`` beside ``game``'s frame: right, left, below, above."""
    sx, sy, sw, sh = screen
    gx, gy, gw, gh = game
    right = gx + gw
    bottom = gy + gh
    spaces = [
        (right, sy, sx + sw - right, sh),
        (sx, sy, gx - sx, sh),
        (sx, bottom, sw, sy + sh - bottom),
        (sx, sy, sw, gy - sy),
    ]
    return [s for s in spaces if s[2] > 0 and s[3] > 0]


def plan(
    screen: Rect,
    game: Rect | None,
    *,
    own_game: bool = False,
    minimum: tuple[int, int] = (MIN_WIDTH, MIN_HEIGHT),
    saved: Rect | None = None,
) -> Placement:
    """Where our frame goes. ``game`` is the game's frame (None: no game window); ``own_game``: it
    may be moved (to the top-left corner); ``saved``: where the person last had the window, kept
    when it fits the screen and stays clear of the game."""
    if game is not None:
        game = _clip(game, screen)
    game_to = None
    if game is not None and own_game:
        game_to = (screen[0], screen[1])
        game = (screen[0], screen[1], game[2], game[3])
    if saved is not None and inside(saved, screen) and (game is None or not overlap(saved, game)):
        return Placement(saved, game_to)
    if game is None:
        w, h = min(screen[2], 1280), min(screen[3], 860)
        return Placement((screen[0] + (screen[2] - w) // 2, screen[1] + (screen[3] - h) // 2, w, h))
    fits = [s for s in free_spaces(screen, game) if s[2] >= minimum[0] and s[3] >= minimum[1]]
    if fits:
        best = max(fits, key=lambda s: s[2] * s[3])
        return Placement(best, game_to)
    # nothing fits: the widest band anyway, at least the minimum, overlapping as little as possible
    spaces = free_spaces(screen, game) or [screen]
    best = max(spaces, key=lambda s: s[2] * s[3])
    w, h = max(best[2], minimum[0]), max(best[3], minimum[1])
    x = min(best[0], screen[0] + screen[2] - w)
    y = min(best[1], screen[1] + screen[3] - h)
    return Placement(
        (max(screen[0], x), max(screen[1], y), min(w, screen[2]), min(h, screen[3])), game_to, True
    )


def _clip(r: Rect, screen: Rect) -> Rect:
    x0, y0 = max(r[0], screen[0]), max(r[1], screen[1])
    x1, y1 = min(r[0] + r[2], screen[0] + screen[2]), min(r[1] + r[3], screen[1] + screen[3])
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def parse_rect(text: str) -> Rect | None:
    """``"x,y,w,h"`` (the settings' form) -> a rect; None when empty or malformed."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        return None
    return (x, y, w, h) if w > 0 and h > 0 else None


def format_rect(r: Rect) -> str:
    return ",".join(str(int(v)) for v in r)


class X11Desk:
    """The screen's work area, window frames, and moving a window (one Xlib connection)."""

    def __init__(self, display: str | None = None) -> None:
        from Xlib import X
        from Xlib import display as xdisplay

        self._X = X
        self._d = xdisplay.Display(display)
        self.root = self._d.screen().root

    def __enter__(self) -> X11Desk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._d.close()

    def _prop(self, window: Any, name: str) -> list[int] | None:
        try:
            prop = window.get_full_property(self._d.intern_atom(name), self._X.AnyPropertyType)
        except Exception:  # a window that vanished, or a bad id
            return None
        return [int(v) for v in prop.value] if prop is not None and len(prop.value) else None

    def work_area(self) -> Rect:
        """The screen without panels (the window manager's _NET_WORKAREA), else the whole screen."""
        area = self._prop(self.root, "_NET_WORKAREA")
        if area and len(area) >= 4 and area[2] > 0 and area[3] > 0:
            return (area[0], area[1], area[2], area[3])
        geom = self.root.get_geometry()
        return (0, 0, int(geom.width), int(geom.height))

    def extents(self, wid: int) -> tuple[int, int, int, int]:
        """Decorations (left, right, top, bottom) the window manager put around ``wid``."""
        ext = self._prop(self._d.create_resource_object("window", wid), "_NET_FRAME_EXTENTS")
        return (ext[0], ext[1], ext[2], ext[3]) if ext and len(ext) >= 4 else (0, 0, 0, 0)

    def frame(self, wid: int) -> Rect:
        """``wid``'s frame in screen pixels: its client area plus the decorations."""
        win = self._d.create_resource_object("window", wid)
        geom = win.get_geometry()
        pos = win.translate_coords(self.root, 0, 0)
        left, right, top, bottom = self.extents(wid)
        return (-pos.x - left, -pos.y - top, geom.width + left + right, geom.height + top + bottom)

    def move_frame(self, wid: int, x: int, y: int) -> None:
        """Put ``wid``'s frame's top-left at (x, y) (a configure request the window manager honours)."""
        from Xlib.protocol import event

        win = self._d.create_resource_object("window", wid)
        atom = self._d.intern_atom("_NET_MOVERESIZE_WINDOW")
        # gravity NorthWest (1), x and y given (bits 8, 9), source: a pager (2 << 12)
        flags = 1 | (1 << 8) | (1 << 9) | (2 << 12)
        data = (32, [flags, x, y, 0, 0])
        ev = event.ClientMessage(window=win, client_type=atom, data=data)
        mask = self._X.SubstructureRedirectMask | self._X.SubstructureNotifyMask
        self.root.send_event(ev, event_mask=mask)
        if not self._prop(self.root, "_NET_SUPPORTING_WM_CHECK"):  # no window manager: move it ourselves
            left, _right, top, _bottom = self.extents(wid)
            win.configure(x=x + left, y=y + top)
        self._d.sync()
