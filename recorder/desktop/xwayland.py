"""The XWayland backend: a Wayland session (GNOME, KDE Plasma, sway), the game an X11 client of XWayland.

Everything the X11 backend does works on XWayland for X11 windows: XComposite captures the game's own
pixels, XTEST injects into it, XRecord hears what X clients receive, XFixes shows its cursor. What
differs is who decides: the compositor owns focus and placement, and XWayland sees nothing of
native Wayland windows. So:

* focus is asked of the compositor: sway through its IPC (its default only marks an X11 focus
  request urgent), others through ``_NET_ACTIVE_WINDOW`` from a pager, which mutter and KWin honour;
* there is no screen or region grab (XWayland's root window shows no Wayland window, so a grab
  would record black or stale pixels): only a game window can be played;
* a game that is a native Wayland window is refused with how to run it under XWayland;
* where XWayland routes XTEST through libei and the remote-desktop portal, ``check_injection``
  moves the pointer by one pixel and back to see whether the portal let it through.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from Xlib import X
from Xlib.ext import xtest

from recorder.desktop import sway_ipc
from recorder.desktop.protocol import Capture, DesktopError, GameWindow, NotPlayable, Rect
from recorder.desktop.session import HOW_TO_XWAYLAND
from recorder.desktop.x11.backend import X11Desktop

LOG = logging.getLogger(__name__)

NO_SCREEN_GRAB = (
    "under Wayland only a game window can be captured (XWayland shows no Wayland window, so a "
    "screen or region grab would record black): pick the game's window instead"
)


class XWaylandDesktop(X11Desktop):
    name = "xwayland"

    def __init__(
        self,
        display: str | None = None,
        notes: tuple[str, ...] = (),
        swaysock: str | None = None,
        ei_portal: bool = False,
    ) -> None:
        super().__init__(display, notes)
        self.swaysock = swaysock if swaysock is not None else os.environ.get("SWAYSOCK") or None
        self.ei_portal = ei_portal

    def find_window(self, title: str | None = None, pid: int | None = None) -> GameWindow:
        try:
            return super().find_window(title, pid)
        except LookupError as exc:
            native = sway_ipc.native_window(self.swaysock, title) if self.swaysock else None
            if native is not None:
                raise NotPlayable(
                    f"{native!r} is a native Wayland window, which jarvis-play cannot capture or "
                    f"drive; {HOW_TO_XWAYLAND}"
                ) from exc
            raise LookupError(
                f"{exc} on XWayland ({self.display}); if the game runs as a native Wayland client, "
                f"{HOW_TO_XWAYLAND}"
            ) from exc

    def focus(self, window: int) -> None:
        """Ask the compositor: sway by IPC, the others through the X11 window manager's request."""
        if self.swaysock:
            try:
                sway_ipc.command(self.swaysock, f"[id={int(window)}] focus")
                self._wait_focus(window)
                return
            except sway_ipc.SwayError as exc:
                LOG.warning("sway did not focus the game (%s); asking through X11", exc)
        super().focus(window)

    def _wait_focus(self, window: int, timeout: float = 1.0) -> None:
        """The compositor hands XWayland the focus asynchronously: wait until the X server shows it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.has_focus(window):
            time.sleep(0.01)

    def screen_capture(self, region: Callable[[], Rect], size: tuple[int, int]) -> Capture:
        raise DesktopError(NO_SCREEN_GRAB)

    def check_injection(self) -> str | None:
        """Whether XTEST reaches the game: only in question where the portal carries it (libei)."""
        if not self.ei_portal:
            return None
        x, y = self.pointer()
        target = (x + 1, y) if x < self.screen_rect()[2] - 1 else (x - 1, y)

        with self._lock:
            xtest.fake_input(self._d, X.MotionNotify, x=target[0], y=target[1])
            self._d.sync()
        deadline = time.monotonic() + 2.0
        moved = False
        while time.monotonic() < deadline and not moved:
            moved = self.pointer() == target
            time.sleep(0.02)
        with self._lock:
            xtest.fake_input(self._d, X.MotionNotify, x=x, y=y)
            self._d.sync()
        if moved:
            return None
        return (
            "injected input does not arrive: this XWayland sends it through the remote-desktop "
            "portal, and the permission was refused or not answered. Allow 'remote interaction' "
            "for jarvis-play when the desktop asks (GNOME: it asks once per session), then start again"
        )
