"""Open the backend a session calls for (``session.detect``), or one named (the watchdog's process)."""

from __future__ import annotations

import os
from collections.abc import Collection

from recorder.desktop.protocol import Desktop, DesktopUnavailable, Releaser
from recorder.desktop.session import (
    DesktopSession,
    compositor_name,
    detect,
    ei_portal,
    probe_x,
    xwayland_notes,
)

BACKENDS = ("x11", "xwayland")


def open_desktop(session: DesktopSession | None = None) -> Desktop:
    """The desktop this process plays on; DesktopUnavailable (saying what to do) when none can."""
    session = session or detect()
    if not session.ok:
        raise DesktopUnavailable(session.reason)
    return open_backend(session.backend, session.display, session.notes)


def open_backend(name: str, display: str | None = None, notes: tuple[str, ...] = ()) -> Desktop:
    """Backend ``name`` on ``display`` (None: $DISPLAY)."""
    if name == "x11":
        from recorder.desktop.x11.backend import X11Desktop  # X11 only: the backend picked at run time

        return X11Desktop(display, notes)
    if name == "xwayland":
        from recorder.desktop.xwayland import XWaylandDesktop  # X11 only: the backend picked at run time

        shown = display or os.environ.get("DISPLAY") or ""
        facts = probe_x(shown) if shown else None
        portal = bool(facts and ei_portal(shown, facts.vendor_release))
        return XWaylandDesktop(display, notes, ei_portal=portal)
    raise DesktopUnavailable(f"no desktop backend {name!r}: the backends are {', '.join(BACKENDS)}")


def for_display(display: str | None = None) -> Desktop:
    """The backend for an X display this process was told to use (a test's, the demo game's):
    XWayland when the server is XWayland, else X11. Unlike ``open_desktop`` it ignores the session's
    WAYLAND_DISPLAY: the display is given."""
    shown = display or os.environ.get("DISPLAY") or ""
    if not shown:
        raise DesktopUnavailable(
            "no display: DISPLAY is not set. Run inside a desktop session or under xvfb-run"
        )
    facts = probe_x(shown)
    if not facts.reachable:
        raise DesktopUnavailable(f"cannot connect to the X display {shown}: {facts.error}")
    if facts.xwayland:
        return open_backend("xwayland", shown, xwayland_notes(compositor_name(os.environ)))
    return open_backend("x11", shown)


def releaser_for(name: str, display: str | None, keysyms: Collection[int]) -> Releaser:
    """The watchdog's releaser for backend ``name``, on a connection of its own (another process)."""
    if name in ("x11", "xwayland"):  # XWayland takes XTEST like any X server
        from recorder.desktop.x11.release import X11Releaser  # X11 only: the backend picked at run time

        return X11Releaser(display, keysyms)
    raise DesktopUnavailable(f"no desktop backend {name!r}: the backends are {', '.join(BACKENDS)}")
