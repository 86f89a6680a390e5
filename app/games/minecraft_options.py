"""Read Minecraft's options.txt and say, in plain words, what will break injection or differ from
the conditions JARVIS-VLA was trained under (MineStudio's options: spec §1.4, §6.6).

The connector also takes three things from it: mouseSensitivity (for the degree -> count law),
guiScale (cursor speed in GUI screens) and the key bindings (so a rebound key is pressed instead of
the default). Nothing is ever written back: the user's settings are theirs to change.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from recorder.input import CameraLaw, keymap

Severity = Literal["breaks", "differs", "ok"]


@dataclass(frozen=True)
class Finding:
    severity: Severity  # breaks: the agent cannot play properly; differs: unlike training; ok: as trained
    text: str


@dataclass
class MinecraftOptions:
    path: Path | None = None
    values: dict[str, str] = field(default_factory=dict)

    def _bool(self, key: str) -> bool | None:
        v = self.values.get(key)
        return None if v is None else v.strip().lower() == "true"

    def _float(self, key: str) -> float | None:
        try:
            return float(self.values[key])
        except (KeyError, ValueError):
            return None

    @property
    def mouse_sensitivity(self) -> float:
        v = self._float("mouseSensitivity")
        return 0.5 if v is None else v

    @property
    def fov_degrees(self) -> float | None:
        """options.txt stores (fov - 70) / 40."""
        v = self._float("fov")
        return None if v is None else 70.0 + 40.0 * v

    @property
    def gui_scale(self) -> int | None:
        v = self._float("guiScale")
        return None if v is None else int(v)

    @property
    def invert_y(self) -> bool:
        return bool(self._bool("invertYMouse"))

    @property
    def raw_mouse_input(self) -> bool:
        """Raw input (the default, true) reads the mouse's own counts, unaccelerated."""
        return self._bool("rawMouseInput") is not False

    def camera_law(self) -> CameraLaw:
        return CameraLaw.minecraft(self.mouse_sensitivity, self.invert_y)

    def record(self) -> dict[str, object]:
        """What meta.json keeps: where the law came from and the settings it was made of."""
        return {
            "source": str(self.path) if self.path else "defaults (no options.txt)",
            "mouseSensitivity": self.mouse_sensitivity,
            "invertYMouse": self.invert_y,
            "guiScale": self.gui_scale,
            "rawMouseInput": self.raw_mouse_input,
            "fov": self.fov_degrees,
        }

    def bindings(self) -> dict[str, str]:
        """env key -> binding name, defaults overridden by the file's ``key_key.*`` lines."""
        out = dict(keymap.DEFAULT_BINDINGS)
        for env_key, option_id in keymap.OPTIONS_KEY_IDS.items():
            bound = self.values.get(f"key_{option_id}")
            if bound and (bound in keymap.X11_KEYSYMS or bound in keymap.MOUSE_BUTTONS):
                out[env_key] = bound
        return out

    def findings(self, window_height: int | None = None) -> list[Finding]:
        f: list[Finding] = []
        if self._bool("pauseOnLostFocus") is not False:
            f.append(
                Finding(
                    "breaks",
                    "pauseOnLostFocus is on: the game opens its pause menu whenever another "
                    "window gets focus, and the agent cannot close it (it has no ESC). Set "
                    "pauseOnLostFocus:false (F3+P in game).",
                )
            )
        if self._bool("rawMouseInput") is False:
            f.append(
                Finding(
                    "differs",
                    "rawMouseInput is off: OS pointer acceleration may scale the injected "
                    "camera motion. Training used rawMouseInput:true.",
                )
            )
        s = self.mouse_sensitivity
        if abs(s - 0.5) > 1e-6:
            f.append(
                Finding(
                    "ok",
                    f"mouseSensitivity is {s:g} (training: 0.5 = 100%): compensated, one count "
                    f"turns {0.15 * 8 * (0.6 * s + 0.2) ** 3:.4f}° instead of 0.15°.",
                )
            )
        if self.invert_y:
            f.append(Finding("ok", "invertYMouse is on: compensated by flipping vertical camera motion."))
        fov = self.fov_degrees
        if fov is not None and abs(fov - 70.0) > 0.5:
            f.append(
                Finding(
                    "differs",
                    f"FOV is {fov:.0f}° but the model was trained at 70°: objects look "
                    "smaller or larger than it expects. Set FOV to 70 (Normal).",
                )
            )
        gamma = self._float("gamma")
        if gamma is not None and abs(gamma - 2.0) > 1e-3:
            f.append(
                Finding(
                    "differs",
                    f"gamma (brightness) is {gamma:g}; training used 2.0, brighter than the "
                    "slider's 'Bright' (1.0). Edit options.txt to gamma:2.0 for caves to look as trained.",
                )
            )
        gui = self.gui_scale
        if gui is not None and window_height:
            want = max(1, round(window_height / 360))
            if gui != want:
                label = "Auto" if gui == 0 else str(gui)
                f.append(
                    Finding(
                        "differs",
                        f"GUI scale is {label}; for a {window_height}-pixel-high window the "
                        f"training layout (640×360 at scale 1) needs guiScale:{want}.",
                    )
                )
        for key, nice in (("toggleCrouch", "sneak"), ("toggleSprint", "sprint")):
            if self._bool(key):
                f.append(
                    Finding(
                        "breaks",
                        f"{key} is on: the agent holds {nice} as a key, like in training; "
                        f"set {nice} to 'Hold'.",
                    )
                )
        if self._bool("autoJump"):
            f.append(Finding("differs", "autoJump is on; training had it off."))
        rebound = {k: v for k, v in self.bindings().items() if v != keymap.DEFAULT_BINDINGS[k]}
        if rebound:
            f.append(
                Finding(
                    "ok",
                    "rebound keys are used as bound: "
                    + ", ".join(f"{k}={v}" for k, v in sorted(rebound.items())),
                )
            )
        return f


def parse(text: str, path: Path | None = None) -> MinecraftOptions:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return MinecraftOptions(path, values)


def default_path() -> Path:
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA", Path.home())) / ".minecraft" / "options.txt"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "minecraft" / "options.txt"
    return Path.home() / ".minecraft" / "options.txt"


def options_path(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Path:
    """The options.txt a Minecraft started with ``argv`` reads: ``<--gameDir>/options.txt``, else the
    default folder of the user it runs as (launchers pass --gameDir for every profile)."""
    for i, arg in enumerate(argv):
        given = argv[i + 1] if arg == "--gameDir" and i + 1 < len(argv) else None
        if arg.startswith("--gameDir="):
            given = arg.split("=", 1)[1]
        if given:
            folder = Path(given)
            if not folder.is_absolute() and cwd is not None:
                folder = cwd / folder
            return folder / "options.txt"
    home = env.get("HOME")
    if home and not sys.platform.startswith(("win", "darwin")):
        return Path(home) / ".minecraft" / "options.txt"
    return default_path()


def load(path: Path | str | None = None) -> MinecraftOptions | None:
    """The options at ``path`` (or the default location); None when there is no such file."""
    p = Path(path).expanduser() if path else default_path()
    try:
        return parse(p.read_text(encoding="utf-8", errors="replace"), p)
    except FileNotFoundError:
        return None
