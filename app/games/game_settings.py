"""The camera law of a running game, read from the settings that very process reads.

``game_settings_for_pid(pid)`` looks at the process's command line and environment (/proc) to tell
Minecraft from Luanti/Minetest and to find its settings file (``--gameDir``/``--config``, else the
default of the user it runs as), then makes the ``CameraLaw`` and the record of where it came from
that meta.json keeps. A calibration measured by ``jarvis-play calibrate`` (a per-game file) stands in
where no settings can be read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.games import minecraft_options, minetest_config
from recorder.files import write_atomically
from recorder.input import CameraLaw


@dataclass
class GameSettings:
    game: str  # "minecraft" | "minetest"
    law: CameraLaw
    record: dict[str, Any] = field(default_factory=dict)  # for meta.json: the law and its source
    options: Any = None  # MinecraftOptions or MinetestConfig, for bindings, guiScale and findings

    def meta(self) -> dict[str, Any]:
        """``CameraLaw.to_dict()`` plus where it came from: the value for ``EpisodeMeta.camera_law``."""
        return {**self.law.to_dict(), "settings": self.record}


def process_info(pid: int) -> tuple[list[str], dict[str, str], Path | None]:
    """argv, environment and working directory of a process (empty where /proc does not tell)."""
    proc = Path("/proc") / str(pid)
    try:
        argv = [a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        argv = []
    env: dict[str, str] = {}
    try:
        for item in (proc / "environ").read_bytes().split(b"\0"):
            key, sep, value = item.decode(errors="replace").partition("=")
            if sep:
                env[key] = value
    except OSError:
        pass
    try:
        cwd: Path | None = Path(os.readlink(proc / "cwd"))
    except OSError:
        cwd = None
    return argv, env, cwd


def game_of(argv: list[str]) -> str | None:
    """The game a command line runs ("minetest" or "minecraft"); None for anything else."""
    if argv and any(n in Path(argv[0]).name.lower() for n in ("minetest", "luanti")):
        return "minetest"
    joined = " ".join(argv).lower()
    if "net.minecraft" in joined or "--gamedir" in joined or (argv and "minecraft" in Path(argv[0]).name):
        return "minecraft"
    return None


def game_settings_for_pid(pid: int, window_size: tuple[int, int] | None = None) -> GameSettings | None:
    """The law of the game running as ``pid`` (``window_size``: its client area, for minetest's FOV
    scale); None when the process is neither game or cannot be read (then calibrate, or assume)."""
    argv, env, cwd = process_info(pid)
    game = game_of(argv)
    if game == "minetest":
        path = minetest_config.config_path(argv, env, cwd)
        config = minetest_config.load(path)
        record = {"game": "minetest", "pid": pid, **config.record(window_size)}
        if config.path is None:
            record["missing_file"] = str(path)
        return GameSettings("minetest", config.camera_law(window_size), record, config)
    if game == "minecraft":
        path = minecraft_options.options_path(argv, env, cwd)
        opts = minecraft_options.load(path) or minecraft_options.MinecraftOptions(None, {})
        record = {"game": "minecraft", "pid": pid, **opts.record()}
        if opts.path is None:
            record["missing_file"] = str(path)
        return GameSettings("minecraft", opts.camera_law(), record, opts)
    return None


# ----- calibrations measured by `jarvis-play calibrate` ---------------------------------------------
def calibration_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "jarvis-play" / "camera-calibration.json"


def save_calibration(key: str, law: CameraLaw, record: dict[str, Any], path: Path | None = None) -> Path:
    """Keep a measured law under ``key`` (the window title the user gave), beside earlier ones."""
    path = path or calibration_path()
    data = load_calibrations(path)
    data[key] = {**law.to_dict(), "settings": record}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def load_calibrations(path: Path | None = None) -> dict[str, Any]:
    try:
        data = json.loads((path or calibration_path()).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def calibrated_settings(title: str, path: Path | None = None) -> GameSettings | None:
    """A measured law for a window whose title contains a calibrated key (case-insensitive)."""
    for key, entry in load_calibrations(path).items():
        if key.lower() in title.lower():
            law = CameraLaw.from_dict(entry)
            return GameSettings(law.game, law, dict(entry.get("settings", {})))
    return None
