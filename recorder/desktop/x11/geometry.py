"""Placement geometry on X11: the work area, a window's frame with its decorations, moving a frame.

Read from the window manager's EWMH properties (``_NET_WORKAREA``, ``_NET_FRAME_EXTENTS``) and asked
of it (``_NET_MOVERESIZE_WINDOW``); with no window manager the window is configured directly.
"""

from __future__ import annotations

from typing import Any

from Xlib import X
from Xlib.protocol import event

from recorder.desktop.protocol import Rect


def _prop(d: Any, window: Any, name: str) -> list[int] | None:
    try:
        prop = window.get_full_property(d.intern_atom(name), X.AnyPropertyType)
    except Exception:  # a window that vanished, or a bad id
        return None
    return [int(v) for v in prop.value] if prop is not None and len(prop.value) else None


def work_area(d: Any) -> Rect:
    """The screen without panels (the window manager's _NET_WORKAREA), else the whole screen."""
    root = d.screen().root
    area = _prop(d, root, "_NET_WORKAREA")
    if area and len(area) >= 4 and area[2] > 0 and area[3] > 0:
        return (area[0], area[1], area[2], area[3])
    geom = root.get_geometry()
    return (0, 0, int(geom.width), int(geom.height))


def extents(d: Any, wid: int) -> tuple[int, int, int, int]:
    """Decorations (left, right, top, bottom) the window manager put around ``wid``."""
    ext = _prop(d, d.create_resource_object("window", wid), "_NET_FRAME_EXTENTS")
    return (ext[0], ext[1], ext[2], ext[3]) if ext and len(ext) >= 4 else (0, 0, 0, 0)


def frame(d: Any, wid: int) -> Rect:
    """``wid``'s frame in screen pixels: its client area plus the decorations."""
    win = d.create_resource_object("window", wid)
    geom = win.get_geometry()
    pos = win.translate_coords(d.screen().root, 0, 0)
    left, right, top, bottom = extents(d, wid)
    return (-pos.x - left, -pos.y - top, geom.width + left + right, geom.height + top + bottom)


def move_frame(d: Any, wid: int, x: int, y: int) -> None:
    """Put ``wid``'s frame's top-left at (x, y) (a request the window manager honours, or not)."""
    root = d.screen().root
    win = d.create_resource_object("window", wid)
    atom = d.intern_atom("_NET_MOVERESIZE_WINDOW")
    # gravity NorthWest (1), x and y given (bits 8, 9), source: a pager (2 << 12)
    flags = 1 | (1 << 8) | (1 << 9) | (2 << 12)
    ev = event.ClientMessage(window=win, client_type=atom, data=(32, [flags, x, y, 0, 0]))
    root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
    if not _prop(d, root, "_NET_SUPPORTING_WM_CHECK"):  # no window manager: move it ourselves
        left, _right, top, _bottom = extents(d, wid)
        win.configure(x=x + left, y=y + top)
    d.sync()
