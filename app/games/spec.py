"""Which game to play, as a short spec string, and opening it as a connector.

Specs: ``demo`` (a fresh minetest world, started and closed by us), ``window:<title>`` (a window
whose title contains the text), ``region:left,top,width,height`` (a fixed screen rectangle),
``screen`` (the whole screen), ``minerl:<env>`` (a MineRL environment in lockstep: ``minerl``,
``minestudio`` or ``module:callable``), ``fake`` (a test pattern, no game), and ``auto`` (the demo
game when minetest is installed, else the whole screen). Opening is slow (starting minetest takes
seconds): call it off the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.errors import UserError
from app.games.connector import Connector

LOG = logging.getLogger(__name__)

KINDS: dict[str, str] = {
    "demo": "Demo game (minetest)",
    "window": "Game window",
    "region": "Screen region",
    "screen": "Whole screen",
    "minerl": "MineRL environment",
    "fake": "Test pattern (no game)",
}


class GameError(UserError):
    """A game that cannot be opened; the message says what to do."""


@dataclass(frozen=True)
class GameSpec:
    kind: str
    arg: str = ""

    @classmethod
    def parse(cls, text: str) -> GameSpec:
        text = text.strip()
        kind, _, arg = text.partition(":")
        kind = kind.lower()
        if kind == "auto":
            return auto_game()
        if kind not in KINDS:
            raise GameError(
                f"unknown game {text!r}: use demo, window:<title>, region:l,t,w,h, screen, "
                "minerl:<env> or fake"
            )
        if kind == "window" and not arg.strip():
            raise GameError("window: needs part of the game window's title, e.g. window:Minecraft")
        if kind == "region":
            parse_region(arg)
        return cls(kind, arg.strip())

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind

    @property
    def label(self) -> str:
        return f"{KINDS[self.kind]}" + (f" ({self.arg})" if self.arg else "")


def parse_region(text: str) -> tuple[int, int, int, int]:
    try:
        left, top, width, height = (int(v) for v in text.replace(" ", "").split(","))
    except ValueError as exc:
        raise GameError(
            f"a region is left,top,width,height in screen pixels, e.g. 0,0,1280,720; not {text!r}"
        ) from exc
    if width < 16 or height < 16:
        raise GameError(f"the region {text!r} is too small to play in")
    return left, top, width, height


def auto_game() -> GameSpec:
    from app.games.demo_game import find_binary

    return GameSpec("demo") if find_binary() else GameSpec("screen")


@dataclass
class OpenGame:
    """An open connector and whatever else must be closed with it (the demo game's process)."""

    spec: GameSpec
    connector: Connector
    label: str
    process: Any = None  # DemoGame for "demo"
    game_name: str = "unknown"

    def focus(self) -> None:
        """Give the game keyboard focus, so injected input reaches it (the window's clicks took it)."""
        window_id = getattr(self.connector, "window_id", 0)
        if not window_id:
            return
        from recorder.window_x11 import X11Windows

        windows = X11Windows(getattr(self.connector, "display", None))
        try:
            windows.focus(window_id)
        finally:
            windows.close()

    def close(self) -> None:
        try:
            self.connector.close()
        finally:
            if self.process is not None:
                self.process.close()


def open_game(
    spec: GameSpec,
    *,
    degrees_per_count: float = 0.15,
    bindings: dict[str, str] | None = None,
    display: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> OpenGame:
    from recorder.display import can_capture, can_inject

    if spec.kind == "fake":
        from app.games.fake import FakeConnector

        return OpenGame(spec, FakeConnector(), spec.label, None, "fake")
    if spec.kind == "minerl":
        return _open_minerl(spec, progress)
    for capability in (can_capture(), can_inject()):
        if not capability.ok:
            raise GameError(capability.reason)
    from app.games.desktop import DesktopConfig, DesktopConnector
    from recorder import keymap

    binds = dict(bindings or keymap.DEFAULT_BINDINGS)
    process = None
    if spec.kind == "demo":
        from app.games.demo_game import DemoGame, DemoGameConfig, find_binary

        if find_binary() is None:
            raise GameError("minetest is not installed (Debian/Ubuntu: sudo apt-get install minetest); "
                            "pick a game window or a screen region instead.")
        progress("Starting the demo game (minetest)…")
        process = DemoGame(DemoGameConfig(degrees_per_count=degrees_per_count), display=display).start()
        config = DesktopConfig(pid=process.proc.pid, bindings=binds, degrees_per_count=degrees_per_count)
        name = "minetest"
    elif spec.kind == "window":
        config = DesktopConfig(title=spec.arg, bindings=binds, degrees_per_count=degrees_per_count)
        name = "desktop-window"
    else:
        region = parse_region(spec.arg) if spec.kind == "region" else _screen_rect(display)
        config = DesktopConfig(region=region, bindings=binds, degrees_per_count=degrees_per_count)
        name = "desktop-region"
    progress(f"Opening {spec.label}…")
    connector = DesktopConnector(config, display=display)
    try:
        connector.open()
    except LookupError as exc:
        if process is not None:
            process.close()
        raise GameError(f"{exc}; start the game first, or check the title in the game picker") from exc
    except BaseException:
        if process is not None:
            process.close()
        raise
    label = f"{spec.label}: {getattr(connector, 'window_title', '')} at {connector.rect}"
    return OpenGame(spec, connector, label, process, name)


def _open_minerl(spec: GameSpec, progress: Callable[[str], None]) -> OpenGame:
    from app.games.minerl_env import MineRLConnector, make_env

    env_spec = spec.arg or "minerl"
    progress(f"Starting the {env_spec} environment (Minecraft takes a minute to boot)…")
    try:
        connector = MineRLConnector(make_env(env_spec)).open()
    except ImportError as exc:
        raise GameError(f"{exc}; or pick the demo game or a game window instead") from exc
    return OpenGame(spec, connector, spec.label, None, env_spec)


def _screen_rect(display: str | None) -> tuple[int, int, int, int]:
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        screen = d.screen()
        return 0, 0, int(screen.width_in_pixels), int(screen.height_in_pixels)
    finally:
        d.close()


def list_windows(display: str | None = None) -> list[str]:
    """Titles of the windows a game picker can offer (best effort: empty without X11)."""
    try:
        from recorder.window_x11 import X11Windows

        windows = X11Windows(display)
    except Exception:
        return []
    try:
        return sorted({w.title for w in windows.list() if w.rect[2] > 100 and w.rect[3] > 100})
    finally:
        windows.close()
