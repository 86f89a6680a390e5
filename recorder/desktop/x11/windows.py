"""Game windows on X11: find one by title or process, read its client area, check and give focus.

The X11 backend (``backend.X11Desktop``) answers its window questions through one ``X11Windows`` on
its shared connection, behind its lock. ``CoverWatch`` has a connection of its own: it selects
events on the root window and drains them, which must not happen on a connection others read.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from Xlib import X
from Xlib import display as xdisplay
from Xlib.error import CatchError
from Xlib.ext import damage
from Xlib.protocol import event as xevent

from recorder.desktop.protocol import NOT_SHOWN, GameWindow, Rect

NOT_REDRAWN = "waiting for the game to draw where another window was"

WindowInfo = GameWindow  # the name the X11 code grew up with
__all__ = ["NOT_REDRAWN", "NOT_SHOWN", "CoverWatch", "WindowInfo", "X11Windows"]


class X11Windows:
    def __init__(self, display: str | None = None, connection: Any = None) -> None:
        """Opens its own connection to ``display``, or uses ``connection`` (then closing is its
        owner's business)."""
        self._X = X
        self._own = connection is None
        self._d = xdisplay.Display(display) if connection is None else connection
        self.root = self._d.screen().root
        self._atoms = {
            name: self._d.intern_atom(name)
            for name in ("_NET_WM_PID", "_NET_WM_NAME", "UTF8_STRING", "_NET_ACTIVE_WINDOW", "WM_STATE")
        }
        self._focus_ok: int | None = None  # last focused window id known to belong to the target

    def close(self) -> None:
        if self._own:
            self._d.close()

    # ----- discovery ------------------------------------------------------------------------
    def _window(self, wid: int) -> Any:
        return self._d.create_resource_object("window", wid)

    def title(self, wid: int) -> str:
        win = self._window(wid)
        try:
            prop = win.get_full_property(self._atoms["_NET_WM_NAME"], self._atoms["UTF8_STRING"])
            if prop is not None and prop.value:
                value = prop.value
                return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            name = win.get_wm_name()
        except Exception:  # windows vanish between query_tree and the property read
            return ""
        if isinstance(name, bytes):
            return name.decode("latin-1")
        return name or ""

    def pid(self, wid: int) -> int | None:
        try:
            prop = self._window(wid).get_full_property(self._atoms["_NET_WM_PID"], self._X.AnyPropertyType)
        except Exception:
            return None
        return int(prop.value[0]) if prop is not None and len(prop.value) else None

    def rect(self, wid: int) -> Rect:
        """The client area in screen pixels (what the game renders, without WM decorations)."""
        win = self._window(wid)
        geom = win.get_geometry()
        pos = win.translate_coords(self.root, 0, 0)
        # translate_coords gives the root origin in window coordinates: negate for the window origin
        return (-pos.x, -pos.y, geom.width, geom.height)

    def list(self) -> list[WindowInfo]:
        """Viewable windows that carry a title, top-level first (depth-first over the tree)."""
        out: list[WindowInfo] = []
        stack = [(self.root, 0)]
        while stack:
            win, depth = stack.pop()
            try:
                children = win.query_tree().children
            except Exception:
                continue
            for child in reversed(children):
                try:
                    attrs = child.get_attributes()
                except Exception:
                    continue
                if attrs.map_state != self._X.IsViewable:
                    continue
                title = self.title(child.id)
                if title:
                    out.append(WindowInfo(child.id, title, self.pid(child.id), self.rect(child.id)))
                if depth < 3:
                    stack.append((child, depth + 1))
        return out

    def find(self, title: str | None = None, pid: int | None = None) -> WindowInfo:
        """The first window whose title contains ``title`` (case-insensitive) and/or whose pid is ``pid``.

        Windows of this very process are never returned: the app must not inject into itself.
        """
        me = os.getpid()
        candidates = [
            w
            for w in self.list()
            if w.pid != me
            and (title is None or title.lower() in w.title.lower())
            and (pid is None or w.pid == pid)
            and w.rect[2] > 1
            and w.rect[3] > 1
        ]
        if not candidates:
            what = " and ".join(
                part
                for part in (f"title containing {title!r}" if title else "", f"pid {pid}" if pid else "")
                if part
            )
            raise LookupError(f"no window with {what or 'a title'} is open")
        return max(candidates, key=lambda w: w.rect[2] * w.rect[3])

    def window_at(self, x: int, y: int) -> WindowInfo:
        """The top-most titled window containing the screen point (x, y)."""
        hits = [
            w
            for w in self.list()
            if w.rect[0] <= x < w.rect[0] + w.rect[2] and w.rect[1] <= y < w.rect[1] + w.rect[3]
        ]
        if not hits:
            raise LookupError(f"no window at ({x}, {y})")
        return hits[-1]

    # ----- stacking ---------------------------------------------------------------------------
    def toplevel(self, wid: int) -> int:
        """The child of the root that holds ``wid``: the window itself, or its window-manager frame."""
        win = self._window(wid)
        for _ in range(16):
            parent = win.query_tree().parent
            if parent is None or parent.id in (0, self.root.id):
                return int(win.id)
            win = parent
        return int(win.id)

    def viewable(self, wid: int) -> bool:
        """Whether ``wid`` and all its ancestors are mapped (an iconified or hidden window is not)."""
        return bool(self._window(wid).get_attributes().map_state == self._X.IsViewable)

    def covering(self, wid: int, rect: Rect) -> WindowInfo | None:
        """The top-most shown window stacked above ``wid`` whose rectangle overlaps ``rect``, or None.

        Siblings under the root come bottom-to-top from QueryTree, whether a window manager framed
        them or not; a compositor's overlay window is never listed, so it does not count as cover.
        Input-only windows draw nothing and are skipped.
        """
        top = self.toplevel(wid)
        children = self.root.query_tree().children
        ids = [int(c.id) for c in children]
        if top not in ids:
            return None
        for child in reversed(children[ids.index(top) + 1 :]):
            try:
                attrs = child.get_attributes()
                if attrs.map_state != self._X.IsViewable or attrs.win_class == self._X.InputOnly:
                    continue
                geom = child.get_geometry()
            except Exception:  # closed between the tree query and now
                continue
            edge = 2 * geom.border_width
            other = (geom.x, geom.y, geom.width + edge, geom.height + edge)
            if _overlap(rect, other):
                return WindowInfo(int(child.id), self._describe(child), self.pid(child.id), other)
        return None

    def _describe(self, win: Any) -> str:
        """A name the person recognises: the window's title, its framed client's, else its class."""
        stack = [(win, 0)]
        while stack:
            node, depth = stack.pop(0)
            title = self.title(node.id)
            if title:
                return title
            if depth < 2:
                with contextlib.suppress(Exception):  # gone meanwhile
                    stack.extend((c, depth + 1) for c in node.query_tree().children)
        try:
            wm_class = win.get_wm_class()
        except Exception:
            wm_class = None
        return wm_class[1] if wm_class else f"window {int(win.id):#x}"

    # ----- focus ------------------------------------------------------------------------------
    def focused(self) -> int:
        """Id of the window with keyboard focus; 0 for None/PointerRoot."""
        focus = self._d.get_input_focus().focus
        return int(focus.id) if hasattr(focus, "id") else 0

    def has_focus(self, target: int) -> bool:
        """Whether keyboard input goes to ``target``: focus is on it, a child of it, or its WM frame."""
        focus = self.focused()
        if focus == 0:
            return False
        if focus in (target, self._focus_ok):
            return True
        if self._related(focus, target):
            self._focus_ok = focus
            return True
        return False

    def _related(self, a: int, b: int) -> bool:
        return self._ancestor(a, b) or self._ancestor(b, a)

    def _ancestor(self, ancestor: int, wid: int) -> bool:
        win = self._window(wid)
        for _ in range(16):
            try:
                parent = win.query_tree().parent
            except Exception:
                return False
            if parent is None or parent.id in (0, self.root.id):
                return False
            if parent.id == ancestor:
                return True
            win = parent
        return False

    def focus(self, wid: int) -> None:
        """Give ``wid`` keyboard focus: ask the window manager if there is one, else set it directly."""
        win = self._window(wid)
        data = (32, [2, X.CurrentTime, 0, 0, 0])  # source 2 = pager: "the user asked for this"
        ev = xevent.ClientMessage(window=win, client_type=self._atoms["_NET_ACTIVE_WINDOW"], data=data)
        mask = X.SubstructureRedirectMask | X.SubstructureNotifyMask
        self.root.send_event(ev, event_mask=mask)
        # BadMatch while the window is not viewable (a minimized one the WM is about to restore)
        win.set_input_focus(X.RevertToParent, X.CurrentTime, onerror=CatchError())
        self._d.sync()

    def unfocus(self) -> None:
        """Move keyboard focus to no window (PointerRoot), as when the user clicks elsewhere."""
        self._d.set_input_focus(self._X.PointerRoot, self._X.RevertToPointerRoot, self._X.CurrentTime)
        self._d.sync()

    def warp_pointer(self, x: int, y: int) -> None:
        self.root.warp_pointer(x, y)
        self._d.sync()


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


class CoverWatch:
    """Whether a screen grab shows the game, asked every tick for the price of one round trip.

    Its own connection listens to the root's SubstructureNotify (a top-level window mapped, unmapped,
    moved, resized or restacked) and walks the stacking order only after such an event or when the
    game's rectangle changed. Each question starts with a round trip: the server handles requests one
    at a time, so every event from before a grab that has already returned is then in our queue, and
    the answer holds for that grab (not only for what the socket happened to hold).

    A window that leaves does not give the game back at once: without a compositor the screen keeps
    its pixels where it was until the game draws there again. So after a cover (or the game being
    hidden), and at the first question (a window may have left just before), the answer stays
    ``NOT_REDRAWN`` until DAMAGE reports drawing over all of that area after the change, and one
    question longer, so that the drawing happened before any grab it vouches for. Without DAMAGE
    there is no telling, and the area is trusted at once.

    Left open: a window mapped and unmapped again between the question before a grab and the one
    after, over a game whose window has no background for the server to repaint (nothing reports it).
    Thread-bound like ``X11Windows``.
    """

    def __init__(self, display: str | None = None) -> None:
        self._w = X11Windows(display)
        d = self._w._d
        self._w.root.change_attributes(event_mask=self._w._X.SubstructureNotifyMask)
        self._key: tuple[int, Rect] | None = None
        self._answer: str | None = None
        self._damage_event = -1
        if d.has_extension(damage.extname):
            d.damage_query_version()
            self._damage_event = d.extension_event.DamageNotify
        self._damage: Any = None  # on the game window, raw rectangles: each drawing, no accumulation
        self._damage_wid = 0
        self._hidden: Rect | None = None  # window pixels a cover or hiding left stale (while it lasts)
        self._stale: Rect | None = None  # those pixels, uncovered but not yet drawn over
        self._drawn: Rect | None = None  # bounding box of the game's drawing since the last change
        self._redrawn = False  # the stale area was drawn over, as of the previous question

    def reason(self, wid: int, rect: Rect) -> str | None:
        """Why a screen grab of ``rect`` would not show window ``wid``: covered, not shown, or not yet
        redrawn where something was; or None."""
        d = self._w._d
        self._watch_drawing(wid)
        d.sync()
        changed = False
        while d.pending_events():
            ev = d.next_event()
            if ev.type == self._damage_event:
                area = ev.area
                self._drawn = _union(self._drawn, (area.x, area.y, area.width, area.height))
                continue
            changed = True
            self._drawn = None  # only drawing after the last change counts
        if changed or self._key != (wid, rect):
            self._key = (wid, rect)
            self._answer = self._reason(wid, rect)
        if self._answer is not None:
            self._stale, self._redrawn = None, False
            return self._answer
        if self._hidden is not None:  # just uncovered: those pixels are the cover's until redrawn
            self._stale, self._hidden, self._redrawn = self._hidden, None, False
        if self._stale is None or self._damage is None:
            self._stale = None
            return None
        if self._redrawn:
            self._stale, self._redrawn = None, False
            return None
        self._redrawn = self._drawn is not None and _contains(self._drawn, self._stale)
        return NOT_REDRAWN

    def _reason(self, wid: int, rect: Rect) -> str | None:
        try:
            if not self._w.viewable(wid):
                self._hidden = (0, 0, rect[2], rect[3])
                return NOT_SHOWN
            cover = self._w.covering(wid, rect)
        except Exception:  # the game window is gone: the capture says so itself
            return None
        if cover is None:
            return None
        x, y, w, h = cover.rect
        left, top = max(x, rect[0]), max(y, rect[1])
        right, bottom = min(x + w, rect[0] + rect[2]), min(y + h, rect[1] + rect[3])
        self._hidden = _union(self._hidden, (left - rect[0], top - rect[1], right - left, bottom - top))
        return f"the window {cover.title!r} covers the game"

    def _watch_drawing(self, wid: int) -> None:
        """Report the game window's drawing to this connection (once per window)."""
        if self._damage_event < 0 or wid == self._damage_wid:
            return
        d = self._w._d
        if self._damage is not None:
            d.damage_destroy(self._damage)
            self._damage = None
        self._damage_wid = wid
        try:
            geom = self._w._window(wid).get_geometry()  # a missing window: the capture reports it
        except Exception:
            return
        self._damage = self._w._window(wid).damage_create(damage.DamageReportRawRectangles)
        # What the screen shows there now may be a window that left just before: trusted once drawn.
        self._stale, self._drawn, self._redrawn = (0, 0, geom.width, geom.height), None, False

    def close(self) -> None:
        self._w.close()


def _union(a: Rect | None, b: Rect) -> Rect:
    if a is None:
        return b
    left, top = min(a[0], b[0]), min(a[1], b[1])
    return (left, top, max(a[0] + a[2], b[0] + b[2]) - left, max(a[1] + a[3], b[1] + b[3]) - top)


def _contains(outer: Rect, inner: Rect) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and outer[0] + outer[2] >= inner[0] + inner[2]
        and outer[1] + outer[3] >= inner[1] + inner[3]
    )
