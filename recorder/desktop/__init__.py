"""The desktop seam: everything a game needs from the display server, behind one small protocol.

``protocol.Desktop`` names what a game needs (find and track its window, focus, capture, its GUI and
cursor state, inject, listen to the person, place windows, release everything); ``session.detect``
tells which display server this is and which backend can play there; ``backends.open_desktop`` opens
it. X11 (``x11``) is the first backend and XWayland (``xwayland``: a Wayland session, the game an X11
client of its XWayland server) the second. A Windows or macOS backend plugs in at the same place.
"""

from recorder.desktop.backends import BACKENDS, for_display, open_backend, open_desktop, releaser_for
from recorder.desktop.frames import to_rgb
from recorder.desktop.protocol import (
    NOT_SHOWN,
    Capture,
    Desktop,
    DesktopError,
    DesktopUnavailable,
    GameWindow,
    GuiState,
    Injector,
    KeyCodes,
    NotPlayable,
    Rect,
    WindowGone,
)
from recorder.desktop.session import DesktopSession, detect
from recorder.desktop.virtual_display import VirtualDisplay, parent_death_signal

__all__ = [
    "BACKENDS",
    "NOT_SHOWN",
    "Capture",
    "Desktop",
    "DesktopError",
    "DesktopSession",
    "DesktopUnavailable",
    "GameWindow",
    "GuiState",
    "Injector",
    "KeyCodes",
    "NotPlayable",
    "Rect",
    "VirtualDisplay",
    "WindowGone",
    "detect",
    "for_display",
    "open_backend",
    "open_desktop",
    "parent_death_signal",
    "releaser_for",
    "to_rgb",
]
