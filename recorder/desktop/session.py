"""Which desktop this is, and which backend plays there: the one question asked once, at start.

An X11 session plays through the X11 backend. A Wayland session (GNOME, KDE Plasma, sway) plays a
game that runs under XWayland, the X server every such session runs for X11 clients (Minecraft Java,
minetest): capture, injection and listening all go through that X server, which sees what X clients
see and nothing of native Wayland windows. Whether an X server is XWayland is asked of the server
itself: XWayland names its RandR outputs ``XWAYLAND<n>``, so a session whose ``WAYLAND_DISPLAY`` is
unset (or a nested one) is still recognised.

Newer XWayland (23.2 and later, started with ``-enable-ei-portal`` as GNOME 46+ does) hands XTEST
input to the compositor through libei and the remote-desktop portal, which asks the person once and
drops every injected event when refused. That is detected here from the server's command line and
said; ``Desktop.check_injection`` then tells a refusal from a grant at start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

Server = str  # "x11", "wayland", "windows", "macos", "none"

XWAYLAND_EI_RELEASE = 12302000  # XWayland 23.2: the first with libei (vendor release 1.23.2)

HOW_TO_XWAYLAND = (
    "start the game as an X11 client under XWayland: for Minecraft, leave its launcher's 'prefer "
    "Wayland' off (or set GLFW_PLATFORM=x11), for SDL games set SDL_VIDEODRIVER=x11, for others "
    "unset WAYLAND_DISPLAY for the game"
)


@dataclass(frozen=True)
class XServer:
    """What an X server says about itself (``probe_x``)."""

    reachable: bool
    xwayland: bool = False
    vendor_release: int = 0
    error: str = ""  # why it could not be reached


@dataclass(frozen=True)
class DesktopSession:
    server: Server  # the session: x11, wayland, windows, macos, none
    backend: str  # the backend that plays here: "x11", "xwayland", or "" when none can
    display: str | None  # the X display the backend talks to
    compositor: str  # sway, gnome, kde, weston, ... or "" when not known
    reason: str  # why this backend, or why none (with what to do)
    notes: tuple[str, ...] = field(default_factory=tuple)  # what is not possible here

    @property
    def ok(self) -> bool:
        return bool(self.backend)


def probe_x(display: str) -> XServer:
    """Connect to ``display`` and ask whether it is XWayland (RandR outputs named XWAYLAND<n>)."""
    from Xlib import display as xdisplay  # optional: a bare GPU machine has no python-xlib
    from Xlib.ext import randr  # optional: as above

    from recorder.desktop.x11 import xlib_tables  # noqa: F401  (this connection gets its own tables)

    try:
        d = xdisplay.Display(display)
    except Exception as exc:  # DisplayConnectionError, auth refused, no socket
        return XServer(False, error=str(exc).strip() or type(exc).__name__)
    try:
        release = int(d.display.info.release_number)
        names: list[str] = []
        if d.has_extension(randr.extname):
            res = d.screen().root.xrandr_get_screen_resources()
            for output in res.outputs:
                names.append(str(d.xrandr_get_output_info(output, res.config_timestamp).name))
        return XServer(True, any(n.startswith("XWAYLAND") for n in names), release)
    except Exception as exc:
        return XServer(True, error=f"could not query the X server: {exc}")
    finally:
        d.close()


def compositor_name(env: Mapping[str, str]) -> str:
    if env.get("SWAYSOCK"):
        return "sway"
    desktop = env.get("XDG_CURRENT_DESKTOP", "").lower()
    for name in ("gnome", "kde", "sway", "hyprland", "weston", "wlroots"):
        if name in desktop:
            return name
    return desktop.split(":")[0] if desktop else ""


def xwayland_command(display: str, proc: Path = Path("/proc")) -> list[str]:
    """The command line of the XWayland process serving ``display`` (``:N``), or [] if not found."""
    want = display.split(".")[0]
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] and Path(argv[0].decode(errors="replace")).name == "Xwayland":
            args = [a.decode(errors="replace") for a in argv if a]
            if want in args:
                return args
    return []


def ei_portal(display: str, release: int, command: list[str] | None = None) -> bool:
    """Whether this XWayland sends XTEST input through libei and the remote-desktop portal."""
    if release < XWAYLAND_EI_RELEASE:
        return False
    args = xwayland_command(display) if command is None else command
    return "-enable-ei-portal" in args


def detect(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    probe: Callable[[str], XServer] = probe_x,
    command: Callable[[str], list[str]] = xwayland_command,
) -> DesktopSession:
    """The session this process runs in and the backend that can play a game there."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if plat.startswith("win") or plat == "darwin":
        server = "windows" if plat.startswith("win") else "macos"
        return DesktopSession(
            server, "", None, "", f"{server} has no desktop backend yet (X11 and XWayland only); "
            "use a MineRL environment (--env) instead",
        )  # fmt: skip
    wayland = bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE") == "wayland"
    compositor = compositor_name(env) if wayland else ""
    display = env.get("DISPLAY") or None
    if display is None:
        if wayland:
            return DesktopSession(
                "wayland", "", None, compositor,
                "this Wayland session runs no XWayland (DISPLAY is not set): jarvis-play plays X11 "
                "games through XWayland. Enable it (sway: 'xwayland enable'; GNOME and KDE start it "
                "with the first X11 app) and start jarvis-play from a terminal of that session",
            )  # fmt: skip
        return DesktopSession(
            "none",
            "",
            None,
            "",
            "no display: DISPLAY is not set. Run inside a desktop session or under xvfb-run",
        )
    facts = probe(display)
    if not facts.reachable:
        hint = ""
        if "authoriz" in facts.error.lower() or "protocol" in facts.error.lower():
            hint = (
                "; the X server refused this user: in the session, run "
                f"'xhost +si:localuser:{_user()}' (package x11-xserver-utils)"
            )
        return DesktopSession(
            "wayland" if wayland else "x11", "", display, compositor,
            f"cannot connect to the X display {display}: {facts.error}{hint}",
        )  # fmt: skip
    if not facts.xwayland:
        note = (
            (f"WAYLAND_DISPLAY is set, but {display} is a plain X server: playing it as X11",)
            if wayland
            else ()
        )
        return DesktopSession("x11", "x11", display, "", f"X11 session on {display}", note)
    notes = list(xwayland_notes(compositor))
    if ei_portal(display, facts.vendor_release, command(display)):
        notes.append(
            "this XWayland sends injected input through the remote-desktop portal: the desktop asks "
            "once to allow 'remote interaction'; refused, the game gets none of the agent's input "
            "(checked at start)"
        )
    where = f"{compositor} " if compositor else ""
    server = "wayland" if wayland else "x11"
    reason = f"{where}Wayland session: the game plays as an X11 client of XWayland on {display}"
    if not wayland:
        reason = f"{display} is XWayland (WAYLAND_DISPLAY is unset here): playing through it"
    return DesktopSession(server, "xwayland", display, compositor, reason, tuple(notes))


def xwayland_notes(compositor: str) -> tuple[str, ...]:
    """What is not possible when the game plays under XWayland, one sentence each."""
    notes = [
        "the panic, pause and save keys are heard only while an X11 window (the game or this one) "
        "has focus, never while a native Wayland window has it",
        "only X11 windows can be played and captured: a native Wayland game, the whole screen or a "
        "screen region cannot (XWayland shows nothing of Wayland windows)",
    ]
    if compositor == "sway":
        notes.append("sway tiles windows: it places this window beside the game itself")
    return tuple(notes)


def _user() -> str:
    try:
        import pwd  # POSIX only

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "$USER")
