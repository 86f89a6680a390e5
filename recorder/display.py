"""Which display server we are on, and whether screen capture and input injection can work there.

mss and pynput both speak X11 on Linux; under Wayland they see only XWayland windows, and with no
display at all ``import pynput`` raises. One place answers "can this work?" with a sentence the user
can act on, instead of every caller discovering it by crashing or, worse, recording black frames.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Literal

Server = Literal["x11", "wayland", "windows", "macos", "none"]


@dataclass(frozen=True)
class Capability:
    ok: bool
    reason: str = ""  # why not, and what to do about it, when ok is False


def display_server(environ: dict[str, str] | None = None, platform: str | None = None) -> Server:
    """The kind of display this process would talk to."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if plat.startswith("win"):
        return "windows"
    if plat == "darwin":
        return "macos"
    if env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland":
        # XWayland may still provide DISPLAY, but global input capture and other apps' windows are off limits
        return "wayland"
    if env.get("DISPLAY"):
        return "x11"
    return "none"


def can_capture(environ: dict[str, str] | None = None, platform: str | None = None) -> Capability:
    server = display_server(environ, platform)
    if server in ("x11", "windows", "macos"):
        return Capability(True)
    if server == "wayland":
        return Capability(
            False,
            "this is a Wayland session: screen capture of other windows is blocked. Log in to an "
            "'Xorg' / 'X11' session (login screen, gear icon) or run the game under Xvfb.",
        )
    return Capability(
        False, "no display: DISPLAY is not set. Run inside a desktop session or under xvfb-run."
    )


def can_inject(environ: dict[str, str] | None = None, platform: str | None = None) -> Capability:
    server = display_server(environ, platform)
    if server == "x11":
        return Capability(True)
    if server in ("windows", "macos"):
        return Capability(
            False,
            f"injection on {server} is not implemented yet (the X11 backend is the only one); "
            "use a MineRL environment connector instead.",
        )
    if server == "wayland":
        return Capability(
            False,
            "this is a Wayland session: synthetic keyboard and mouse input is blocked. Use an "
            "'Xorg' / 'X11' session or run the game under Xvfb.",
        )
    return Capability(
        False, "no display: DISPLAY is not set. Run inside a desktop session or under xvfb-run."
    )
