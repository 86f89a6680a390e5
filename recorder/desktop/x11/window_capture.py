"""Capture one X11 window's own pixels, even where other windows cover it (XComposite, as OBS does).

A screen grab records whatever is on top of the game: jarvis-play's own panels, a dialog, a
notification. With the Composite extension the server keeps the window's contents in an off-screen
pixmap. ``RedirectAutomatic`` still paints the window on screen as before, so the person sees no
change; ``NameWindowPixmap`` gives us a handle to that storage and MIT-SHM reads it.

The server gives the window a new pixmap every time it is redirected, mapped or resized, so the
capture listens to the window's StructureNotify events and names the pixmap again after them. A new
pixmap starts as a copy of the screen under the window, covering windows included, until the game
draws: DAMAGE tells when it has drawn over all of it, and until then ``hidden()`` gives the reason.
While the window is unmapped (minimized, another desktop) there is nothing current to read either.
Grabs always return a picture (the last one while hidden); ``hidden()`` is what the caller must ask
before using it, to pause instead of recording or acting on a frame that is not the game's.

Same interface as ``screen_capture.ScreenCapture`` (``recorder.desktop.protocol.Capture``:
``grab_bgra``, ``grab``, ``close``, ``size``).
One X connection per capturing thread (python-xlib connections are not meant to be shared), opened
on first use like mss's; the redirect ends with the connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import numpy as np
from Xlib import X
from Xlib import display as xdisplay
from Xlib.error import CatchError, DisplayError
from Xlib.ext import composite, damage

from recorder.desktop.frames import to_rgb
from recorder.desktop.protocol import NOT_SHOWN, DesktopError, WindowGone
from recorder.desktop.x11.shm import ShmImage, ShmUnavailable

NOT_DRAWN = "waiting for the game to draw its window (just captured, shown or resized)"
FIRST_DRAW_WAIT_S = 0.5


class WindowCaptureUnavailable(DesktopError):
    """This window cannot be captured through Composite; use a screen grab instead."""


class _Session:
    """One connection's redirect of the window, its named pixmap and an SHM segment to read into."""

    def __init__(self, window: int, display: str | None) -> None:
        self._X = X
        try:
            self._d = xdisplay.Display(display)
        except DisplayError as exc:
            raise WindowCaptureUnavailable(f"cannot open the X display: {exc}") from exc
        try:
            self._setup(window, CatchError)
        except Exception:
            self._d.close()
            raise

    def _setup(self, window: int, catch_error: Any) -> None:
        d, X = self._d, self._X
        if not d.has_extension(composite.extname):
            raise WindowCaptureUnavailable("the X server has no Composite extension")
        d.composite_query_version()  # the protocol requires it before any other Composite request
        if d.display.info.image_byte_order != X.LSBFirst:
            raise WindowCaptureUnavailable("the X server sends big-endian images")
        self._win = d.create_resource_object("window", window)
        catch = catch_error()
        try:
            geom = self._win.get_geometry()
            attrs = self._win.get_attributes()
        except Exception as exc:
            raise WindowGone(f"window {window:#x} does not exist") from exc
        if geom.depth not in (24, 32):
            raise WindowCaptureUnavailable(f"window {window:#x} has depth {geom.depth}, not 24 or 32 bits")
        self._win.change_attributes(event_mask=X.StructureNotifyMask)  # this connection's own mask
        self._ancestors: set[int] = set()
        self._watch_ancestors()
        self._damage: Any = None  # made before the redirect, so no drawing after it goes unseen
        self._damage_event = -1
        self.drawn = True  # without DAMAGE there is no telling: trust the pixmap
        if d.has_extension(damage.extname):
            d.damage_query_version()
            self._damage = self._win.damage_create(damage.DamageReportBoundingBox)
            self._damage_event = d.extension_event.DamageNotify  # an event code: python-xlib clones classes
        self._win.composite_redirect_window(composite.RedirectAutomatic, onerror=catch)
        d.sync()
        if catch.get_error() is not None:
            raise WindowCaptureUnavailable(f"the X server refused to redirect window {window:#x}")
        self.viewable = attrs.map_state == X.IsViewable
        self.gone = False
        self._stale = True  # the pixmap must be (re)named before the next read
        self._pixmap: Any = None
        self._shape = (0, 0, 0)  # width, height, border of the named pixmap
        self._shm: Any = None
        self._retired: list[Any] = []  # outgrown segments
        self._shm_failed = False
        self._last: np.ndarray | None = None

    def drain_events(self, drop_damage: bool = False) -> None:
        X, me = self._X, self._win.id
        ask = False
        while self._d.pending_events():
            ev = self._d.next_event()
            if self._damage is not None and ev.type == self._damage_event:
                if not drop_damage and self._covers_pixmap(ev.area):
                    self.drawn = True
                continue
            window = getattr(ev, "window", None)  # MappingNotify, sent to every client, has none
            wid = window.id if window is not None else 0
            if wid != me and wid not in self._ancestors:
                continue  # not ours, or a window manager's old frame
            if ev.type == X.UnmapNotify:  # the window, or its frame: minimized, another desktop
                self.viewable = False
            elif ev.type == X.MapNotify:  # shown only if every ancestor is mapped too: ask below
                ask = True
            elif ev.type == X.ReparentNotify and wid == me:  # framed or unframed by a window manager
                self._watch_ancestors()
                ask = True
            elif ev.type == X.ConfigureNotify and wid == me:
                if (ev.width, ev.height, ev.border_width) != self._shape:
                    self._stale = True
            elif ev.type == X.DestroyNotify and wid == me:
                self.gone = True
        if ask and not self.gone:
            self.check_shown()

    def _watch_ancestors(self) -> None:
        """Select StructureNotify on each ancestor below the root: a window manager hides a window by
        unmapping its frame, and the window itself then gets no event at all."""
        X = self._X
        root = self._d.screen().root.id
        self._ancestors = set()
        win = self._win
        for _ in range(16):
            try:
                parent = win.query_tree().parent
            except Exception:  # gone: DestroyNotify follows
                return
            if parent is None or parent.id in (0, root):
                return
            parent.change_attributes(event_mask=X.StructureNotifyMask)
            self._ancestors.add(parent.id)
            win = parent

    def _covers_pixmap(self, area: Any) -> bool:
        width, height, _ = self._shape
        return area.x <= 0 and area.y <= 0 and area.x + area.width >= width and area.y + area.height >= height

    def _await_drawing(self) -> None:
        """Forget damage so far (the redirect's own copy of the screen is some) and wait for the
        game's next drawing over the whole window before trusting the pixmap.

        Events are dropped before the subtract, never after: with a bounding-box report the server
        tells only when the damaged area grows, so a whole frame drawn just after the subtract is
        told once. Dropping that one event (the old order: subtract, sync, drop) left the window
        "not drawn" for good while the game went on drawing, and the agent never played."""
        if self._damage is None:
            return
        self._d.sync()  # the storage's own copy was made before this round trip: its events are queued
        self.drain_events(drop_damage=True)
        self.drawn = False
        self._d.damage_subtract(self._damage)  # every DamageNotify from here on is the game drawing
        self._d.flush()

    def _name_pixmap(self) -> bool:
        """Name the window's current storage; False when the server has none (window not viewable)."""
        catch = CatchError()
        pixmap = self._win.composite_name_window_pixmap(onerror=catch)
        try:
            geom = self._win.get_geometry()  # a round trip: the naming above has been answered too
        except Exception as exc:
            self.gone = True
            raise WindowGone("the captured window is gone") from exc
        if catch.get_error() is not None:  # BadMatch: unmapped, or an ancestor is; keep the old picture
            self.viewable = False
            return False
        if self._pixmap is not None:
            self._pixmap.free()
        self._pixmap = pixmap
        self._shape = (geom.width, geom.height, geom.border_width)
        self._stale = False
        self._await_drawing()
        return True

    def _read(self) -> np.ndarray:
        width, height, border = self._shape
        size = width * height * 4
        if self._shm is None and not self._shm_failed:
            self._shm = self._open_shm(size)
        elif self._shm is not None and self._shm.size < size:
            self._retired.append(self._shm)  # a caller may still hold a view of it: detach on close
            self._shm = self._open_shm(size)
        if self._shm is not None:
            return self._shm.read(self._pixmap, width, height, border, border)
        reply = self._pixmap.get_image(border, border, width, height, self._X.ZPixmap, 0xFFFFFFFF)
        return np.frombuffer(reply.data, np.uint8).reshape(height, width, 4)

    def _open_shm(self, size: int) -> Any:
        try:
            return ShmImage(self._d, max(size, 1))
        except ShmUnavailable:
            self._shm_failed = True  # a remote display: plain GetImage from now on
            return None

    def check_shown(self) -> bool:
        """Ask the server whether the window and all its ancestors are mapped."""
        try:
            shown = self._win.get_attributes().map_state == self._X.IsViewable
        except Exception:  # BadWindow: destroyed, its DestroyNotify still on the way
            self.gone = True
            return False
        if shown and not self.viewable:
            self._stale = True  # mapped again: a new pixmap to name
        self.viewable = shown
        return shown

    def refresh(self) -> None:
        """Catch up with the window: events, its shown state while hidden, a new pixmap to name."""
        self.drain_events()
        if not self.viewable and not self.gone:
            self.check_shown()
        if self.viewable and self._stale and not self.gone:
            self._name_pixmap()

    def wait_drawn(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.drawn and self.viewable and time.monotonic() < deadline:
            time.sleep(0.005)
            self.refresh()
        return self.drawn

    def grab_bgra(self) -> np.ndarray:
        self.refresh()
        if self.gone:
            raise WindowGone("the captured window is gone")
        if self._pixmap is None:  # never shown yet: black, the size the window claims
            if self._last is None:
                geom = self._win.get_geometry()
                self._last = np.zeros((geom.height, geom.width, 4), np.uint8)
            return self._last
        if not self.viewable:  # the old storage still holds the last picture: repeat it, say why
            if self._last is None:
                self._last = self._read().copy()
            return self._last
        self._last = None
        return self._read()

    def close(self) -> None:
        try:
            for shm in [*self._retired, self._shm]:
                if shm is not None:
                    shm.close()
            if self._pixmap is not None:
                self._pixmap.free()
        finally:
            self._d.close()  # ends the redirect: the window is painted straight to the screen again


class WindowCapture:
    """Frames of one window's own contents (what it draws, not what covers it), at ``size``."""

    def __init__(self, window: int, size: tuple[int, int] = (640, 360), display: str | None = None) -> None:
        self.window = window
        self.size = size  # output width, height
        self.display = display
        self._local = threading.local()
        self._sessions: list[_Session] = []
        self._lock = threading.Lock()

    @classmethod
    def probe(cls, window: int, display: str | None = None) -> str | None:
        """Why this window cannot be captured this way, or None when a test read worked."""
        try:
            session = _Session(window, display)
        except (WindowCaptureUnavailable, WindowGone) as exc:
            return str(exc)
        try:
            session.grab_bgra()
        except Exception as exc:  # anything the server refuses: the screen grab still works
            return f"reading window {window:#x} failed: {exc}"
        finally:
            session.close()
        return None

    def _session(self) -> _Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = _Session(self.window, self.display)
            session.refresh()
            session.wait_drawn(FIRST_DRAW_WAIT_S)  # a running game draws within a frame or two
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def grab_bgra(self) -> np.ndarray:
        """The window's contents, H×W×4 BGRX (a view valid until the next grab on this thread)."""
        return self._session().grab_bgra()

    def grab(self) -> np.ndarray:
        """RGB uint8 of shape (height, width, 3) at ``self.size``."""
        return to_rgb(self.grab_bgra(), self.size)

    def hidden(self) -> str | None:
        """Why the next frame would not be the game's own current picture, or None.

        Ask before each grab, on the capturing thread: the window is not shown, or the game has not
        drawn over the storage it got when it was captured, shown or resized (that storage starts as
        a copy of the screen, whatever covered the game included).
        """
        session = self._session()
        session.refresh()
        if session.gone:  # a destroyed window: the grab says so itself
            return None
        if not session.viewable:
            return NOT_SHOWN
        if not session.drawn:
            return NOT_DRAWN
        return None

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            with contextlib.suppress(Exception):  # the server may be gone already
                session.close()
        self._local = threading.local()
