"""Which game to play, as a short spec string, and opening it as a connector.

Specs: ``demo`` (a fresh minetest world, started and closed by us), ``window:<title>`` (a window
whose title contains the text), ``pid:<process id>`` (the window of that process),
``region:left,top,width,height`` (a fixed screen rectangle),
``screen`` (the whole screen), ``minerl:<env>`` (a MineRL environment in lockstep: ``minerl``,
``minestudio`` or ``module:callable``), ``fake`` (a test pattern, no game), and ``auto`` (the demo
game when minetest is installed, else the whole screen). Opening is slow (starting minetest takes
seconds): call it off the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.errors import UserError
from app.games import game_settings, minecraft_options
from app.games.connector import Connector
from app.games.demo_game import DemoGame, DemoGameConfig, find_binary
from app.games.desktop import DesktopConfig, DesktopConnector
from app.games.fake import FakeConnector
from app.games.game_settings import GameSettings
from app.games.minerl_env import MineRLConnector, make_env
from recorder.desktop import DesktopError, NotPlayable, for_display, open_desktop
from recorder.input import CameraLaw, keymap

LOG = logging.getLogger(__name__)

KINDS: dict[str, str] = {
    "demo": "Demo game (minetest)",
    "window": "Game window",
    "pid": "Game process",
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
                f"unknown game {text!r}: use demo, window:<title>, pid:<process id>, region:l,t,w,h, "
                "screen, minerl:<env> or fake"
            )
        if kind == "window" and not arg.strip():
            raise GameError("window: needs part of the game window's title, e.g. window:Minecraft")
        if kind == "region":
            parse_region(arg)
        if kind == "pid" and not arg.strip().isdigit():
            raise GameError(f"pid: needs the game's process id, e.g. pid:4242; not {arg!r}")
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
    return GameSpec("demo") if find_binary() else GameSpec("screen")


@dataclass
class GameOptions:
    """How the game is set up, where the app cannot read it from the game itself.

    Defaults suit a first run: bindings, sensitivity and GUI scale come from the game's own settings
    (Minecraft's options.txt) when they can be read, else from the training setup.
    """

    options_file: str = ""  # Minecraft's options.txt; empty: the default ~/.minecraft/options.txt
    bindings: dict[str, str] = field(default_factory=dict)  # env key -> key, only where not default
    degrees_per_count: float | None = None  # camera degrees per mouse count; None: from the game
    gui_scale: float | None = None  # Minecraft guiScale; None: from options.txt or the window height
    require_focus: bool = True  # inject only while the game window has keyboard focus


@dataclass
class OpenGame:
    """An open connector and whatever else must be closed with it (the demo game's process)."""

    spec: GameSpec
    connector: Connector
    label: str
    process: Any = None  # DemoGame for "demo", or one attached to (owned by whoever started it)
    game_name: str = "unknown"  # meta.game: minecraft, minetest, fake or minerl
    law: CameraLaw = field(default_factory=CameraLaw.minecraft)  # mouse counts <-> camera degrees
    notes: list[str] = field(default_factory=list)  # what the game's settings mean for the agent
    law_record: dict[str, Any] = field(default_factory=dict)  # the law and where it came from, for meta.json
    desktop_notes: tuple[str, ...] = ()  # what the desktop cannot do here (recorder.desktop), for the window

    @property
    def started_game(self) -> bool:
        """This session started the game (the demo game): it may place its window and must close it."""
        return self.process is not None and getattr(self.process, "attached_pid", None) is None

    def focus(self) -> None:
        """Give the game keyboard focus, so injected input reaches it (the window's clicks took it)."""
        window_id = self.connector.window_id
        desktop = getattr(self.connector, "desktop", None)  # only a desktop game has a window
        if window_id and desktop is not None:
            desktop.focus(window_id)

    def close(self) -> None:
        try:
            self.connector.close()
        finally:
            if self.process is not None:
                self.process.close()


def open_game(
    spec: GameSpec,
    options: GameOptions | None = None,
    *,
    display: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
    on_process: Callable[[Any], None] = lambda _: None,
) -> OpenGame:
    """Open ``spec`` as a connector: slow (starting minetest takes seconds), so off the GUI thread.
    ``on_process`` gets a process this starts (the demo game) before it starts, so whoever must be
    able to stop it while it starts (a session that is closing) can close it from another thread."""
    options = options or GameOptions()
    if spec.kind == "fake":
        return OpenGame(spec, FakeConnector(), spec.label, None, "fake")
    if spec.kind == "minerl":
        return _open_minerl(spec, progress)

    try:
        desktop = open_desktop() if display is None else for_display(display)
    except DesktopError as exc:
        raise GameError(str(exc)) from exc
    try:
        return _open_desktop_game(spec, options, desktop, progress, on_process)
    except BaseException:
        desktop.close()
        raise


def _open_desktop_game(
    spec: GameSpec,
    options: GameOptions,
    desktop: Any,
    progress: Callable[[str], None],
    on_process: Callable[[Any], None] = lambda _: None,
) -> OpenGame:
    display = desktop.display
    config = DesktopConfig(require_focus=options.require_focus)
    process = None
    if spec.kind == "demo":
        if find_binary() is None:
            raise GameError(
                "minetest is not installed (Debian/Ubuntu: sudo apt-get install minetest); "
                "pick a game window or a screen region instead."
            )
        progress("Starting the demo game (minetest)…")
        process = DemoGame(DemoGameConfig(), display=display)
        on_process(process)
        process.start()
        assert process.proc is not None
        config.pid = process.proc.pid
    else:
        if spec.kind == "window":
            config.title = spec.arg
        elif spec.kind == "pid":
            config.pid = int(spec.arg)
        else:
            config.region = parse_region(spec.arg) if spec.kind == "region" else desktop.screen_rect()
    progress(f"Opening {spec.label}…")
    connector = DesktopConnector(config, display=display, desktop=desktop, own_desktop=True)
    try:
        connector.open()
    except NotPlayable as exc:  # found, but not playable here: the message says what to do instead
        if process is not None:
            process.close()
        raise GameError(str(exc)) from exc
    except LookupError as exc:
        if process is not None:
            process.close()
        raise GameError(
            f"{exc}; start the game first (jarvis-play demo-game starts one), "
            "or check the title in the game picker"
        ) from exc
    except DesktopError as exc:
        if process is not None:
            process.close()
        raise GameError(str(exc)) from exc
    except BaseException:
        if process is not None:
            process.close()
        raise
    if process is None and connector.window_pid:
        # a demo game someone started (``jarvis-play demo-game``): its mod can judge and reset trials
        process = DemoGame.attach(connector.window_pid, display)
        if process is not None:
            process.window_id = connector.window_id
    try:
        found = _game_settings(connector, options)
        notes = _configure(connector, options, found) + [f"[note] {n}" for n in desktop.notes]
    except BaseException:
        connector.close()
        if process is not None:
            process.close()
        raise
    label = f"{spec.label}: {connector.window_title} at {connector.rect}"
    name = found.game if found.game in ("minecraft", "minetest") else "minecraft"
    return OpenGame(spec, connector, label, process, name, found.law, notes, found.meta(), desktop.notes)


def _game_settings(connector: Any, options: GameOptions) -> GameSettings:
    """The camera law and settings of the game behind ``connector``, from where the game reads them.

    In order: an options.txt the person named; the running process's own settings (Minecraft's
    options.txt of its --gameDir, minetest's --config or the user's minetest.conf); a law measured
    by ``jarvis-play calibrate`` for this window; else Minecraft's training settings, said plainly.
    An explicit degrees-per-count overrides the law in every case.
    """
    size = (int(connector.rect[2]), int(connector.rect[3]))
    found: GameSettings | None = None
    if options.options_file:
        opts = minecraft_options.load(options.options_file)
        if opts is None:
            raise GameError(f"no options file at {options.options_file}")
        found = GameSettings("minecraft", opts.camera_law(), {"game": "minecraft", **opts.record()}, opts)
    if found is None and connector.window_pid:
        found = game_settings.game_settings_for_pid(connector.window_pid, size)
    if found is None and connector.window_title:
        found = game_settings.calibrated_settings(connector.window_title)
    if found is None:
        law = CameraLaw.minecraft()
        found = GameSettings("minecraft", law, {"game": "minecraft", "source": "assumed: training settings"})
    if options.degrees_per_count:
        law = found.law
        found = GameSettings(
            found.game,
            CameraLaw(options.degrees_per_count, law.game, law.sensitivity, law.invert_y),
            {**found.record, "override": {"degrees_per_count": options.degrees_per_count}},
            found.options,
        )
    return found


def _configure(connector: Any, options: GameOptions, found: GameSettings) -> list[str]:
    """Bindings, camera law and GUI scale for injection, from the game's settings; returns notes."""
    cfg = connector.config
    notes: list[str] = []
    bindings = dict(keymap.DEFAULT_BINDINGS)
    cfg.degrees_per_count = found.law.degrees_per_count
    cfg.invert_y = found.law.invert_y
    source = found.record.get("source", "")
    notes.append(f"camera: {found.law.degrees_per_count:.4f}° per mouse count ({found.game}, {source})")
    opts = found.options
    if isinstance(opts, minecraft_options.MinecraftOptions):
        findings = opts.findings(window_height=connector.rect[3])
        notes += [f"[{f.severity}] {f.text}" for f in findings] or [f"{source}: all as in training"]
        bindings.update(opts.bindings())
        cfg.gui_scale = float(opts.gui_scale or max(1, round(connector.rect[3] / 360)))
    elif found.game == "minecraft" and not found.options:
        notes.append(
            "no Minecraft options.txt found: assuming training settings (sensitivity 100%, guiScale 2)"
        )
    for env_key, key in options.bindings.items():
        if env_key not in keymap.DEFAULT_BINDINGS:
            actions = ", ".join(keymap.DEFAULT_BINDINGS)
            raise GameError(f"cannot bind {env_key!r}: the actions are {actions}")
        try:
            bindings[env_key] = keymap.binding_name(key)
        except ValueError as exc:
            raise GameError(str(exc)) from exc
    cfg.bindings = bindings
    if options.gui_scale:
        cfg.gui_scale = options.gui_scale
    connector.reconfigure()
    return notes


def _open_minerl(spec: GameSpec, progress: Callable[[str], None]) -> OpenGame:
    env_spec = spec.arg or "minerl"
    progress(f"Starting the {env_spec} environment (Minecraft takes a minute to boot)…")
    try:
        connector = MineRLConnector(make_env(env_spec)).open()
    except ImportError as exc:
        raise GameError(f"{exc}; or pick the demo game or a game window instead") from exc
    return OpenGame(spec, connector, spec.label, None, "minerl")


def list_windows(display: str | None = None) -> list[str]:
    """Titles of the windows a game picker can offer (best effort: empty where no backend plays)."""
    try:
        desktop = open_desktop() if display is None else for_display(display)
    except Exception:
        return []
    try:
        return sorted({w.title for w in desktop.windows() if w.rect[2] > 100 and w.rect[3] > 100})
    finally:
        desktop.close()
