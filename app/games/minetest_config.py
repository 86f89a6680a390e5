"""Read the config a running Luanti/Minetest reads, for the settings that decide its camera law.

The game takes ``--config FILE`` from its command line, else ``$MINETEST_USER_PATH/minetest.conf``,
else ``~/.minetest/minetest.conf`` of the user it runs as (``src/main.cpp`` ``read_config_file``,
``src/porting.cpp``). The app must read that same file, not its own guess: a person's own
``mouse_sensitivity`` of 0.3 read as the default 0.2 labels every turn a third short.
Nothing is ever written back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.input import MINETEST_DEFAULT_FOV, MINETEST_DEFAULT_SENSITIVITY, CameraLaw


@dataclass
class MinetestConfig:
    path: Path | None = None
    values: dict[str, str] = field(default_factory=dict)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.values[key])
        except (KeyError, ValueError):
            return default

    @property
    def mouse_sensitivity(self) -> float:
        # the game clamps it to [0.001, 100] (Game::readSettings)
        return min(max(self._float("mouse_sensitivity", MINETEST_DEFAULT_SENSITIVITY), 0.001), 100.0)

    @property
    def invert_mouse(self) -> bool:
        return self.values.get("invert_mouse", "false").strip().lower() in ("true", "1", "yes")

    @property
    def fov(self) -> float:
        return min(max(self._float("fov", MINETEST_DEFAULT_FOV), 45.0), 160.0)

    def screen_size(self) -> tuple[int, int] | None:
        w, h = self._float("screen_w", 0), self._float("screen_h", 0)
        return (int(w), int(h)) if w > 0 and h > 0 else None

    def camera_law(self, window_size: tuple[int, int] | None = None) -> CameraLaw:
        """The law at this config; ``window_size`` (the game's client area) sets the FOV's aspect."""
        size = window_size or self.screen_size() or (16, 9)
        return CameraLaw.minetest(self.mouse_sensitivity, self.invert_mouse, self.fov, size[0] / size[1])

    def record(self, window_size: tuple[int, int] | None = None) -> dict[str, Any]:
        """What meta.json keeps: where the law came from and the settings it was made of."""
        return {
            "source": str(self.path) if self.path else "defaults (no config file)",
            "mouse_sensitivity": self.mouse_sensitivity,
            "invert_mouse": self.invert_mouse,
            "fov": self.fov,
            "window_size": list(window_size) if window_size else None,
        }


def parse(text: str, path: Path | None = None) -> MinetestConfig:
    """``name = value`` lines as the game's ``Settings::parseConfigLines`` reads them (last one wins);
    multi-line ``\"\"\"`` values and ``{ }`` groups are skipped, none of them matter here."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        if not sep:
            continue
        value = value.strip()
        if value.startswith('"""'):
            if not value[3:].rstrip().endswith('"""'):
                for rest in lines:
                    if rest.rstrip().endswith('"""'):
                        break
            continue
        if value == "{":
            depth = 1
            for rest in lines:
                depth += rest.strip().endswith("{") - (rest.strip() == "}")
                if depth == 0:
                    break
            continue
        values[name.strip()] = value
    return MinetestConfig(path, values)


def config_path(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Path:
    """The config file a minetest started with ``argv`` and environment ``env`` reads."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            given = Path(argv[i + 1])
            return given if given.is_absolute() or cwd is None else cwd / given
        if arg.startswith("--config="):
            given = Path(arg.split("=", 1)[1])
            return given if given.is_absolute() or cwd is None else cwd / given
    user = env.get("MINETEST_USER_PATH")
    if user:
        return Path(user) / "minetest.conf"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".minetest" / "minetest.conf"


def load(path: Path | str) -> MinetestConfig:
    """The config at ``path``; a missing file is the game's defaults (as the game itself treats it)."""
    p = Path(path).expanduser()
    try:
        return parse(p.read_text(encoding="utf-8", errors="replace"), p)
    except FileNotFoundError:
        return MinetestConfig(None, {})
