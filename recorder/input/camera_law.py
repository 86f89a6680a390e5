"""How many degrees of view one OS mouse count turns, per game: the camera's one free parameter.

The connector divides env camera degrees by it to inject mouse counts; the recorder multiplies
human mouse counts by it to get env camera degrees. Keeping it in one object makes the two exact
inverses (spec §1.3, §6.4):

* Minecraft: ``0.15° × k(s)`` per count, ``k(s) = 8(0.6s + 0.2)³`` for the options.txt
  ``mouseSensitivity`` s; at s = 0.5 (the training env) k = 1, so 2400 counts are 360°.
* minetest/Luanti (``Game::updateCameraOrientation``, 5.6 to 5.12): ``mouse_sensitivity`` degrees per
  pixel times ``tan(fov_y / 2) · 1.3763819``, a factor that is 1 at its default 72° FOV on a 16:9
  window (``fov_y`` is the ``fov`` setting, widened on windows narrower than 16:10). So the demo game's
  0.15 at FOV 70 turns 0.1446° per pixel, not 0.15°.

Both games flip the vertical axis when the player inverts the mouse; ``invert_y`` carries that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MINECRAFT_DEGREES_PER_COUNT = 0.15  # vanilla Entity.rotateTowards scale at k = 1
MINETEST_DEFAULT_SENSITIVITY = 0.2
MINETEST_DEFAULT_FOV = 72.0
_MINETEST_FOV_NORM = 1.3763819  # 1 / tan(36°): the scale is 1 at FOV 72 on 16:9


def minecraft_k(sensitivity: float) -> float:
    return 8.0 * (0.6 * sensitivity + 0.2) ** 3


def minetest_fov_scale(fov: float = MINETEST_DEFAULT_FOV, aspect: float = 16 / 9) -> float:
    """minetest's ``getSensitivityScaleFactor``: turns stay the same fraction of the view at any FOV."""
    fov_y = math.radians(fov) * min(max(math.sqrt(1.6 / aspect), 1.0), 1.4)
    return math.tan(fov_y / 2.0) * _MINETEST_FOV_NORM


@dataclass(frozen=True)
class CameraLaw:
    degrees_per_count: float
    game: str = "minecraft"
    sensitivity: float = 0.5
    invert_y: bool = False  # the game turns the view up for a pointer moving down

    def __post_init__(self) -> None:
        if not self.degrees_per_count > 0:
            raise ValueError(f"degrees_per_count must be > 0, got {self.degrees_per_count}")

    @classmethod
    def minecraft(cls, sensitivity: float = 0.5, invert_y: bool = False) -> CameraLaw:
        return cls(MINECRAFT_DEGREES_PER_COUNT * minecraft_k(sensitivity), "minecraft", sensitivity, invert_y)

    @classmethod
    def minetest(
        cls,
        mouse_sensitivity: float = MINETEST_DEFAULT_SENSITIVITY,
        invert_y: bool = False,
        fov: float = MINETEST_DEFAULT_FOV,
        aspect: float = 16 / 9,
    ) -> CameraLaw:
        dpc = mouse_sensitivity * minetest_fov_scale(fov, aspect)
        return cls(dpc, "minetest", mouse_sensitivity, invert_y)

    @classmethod
    def for_game(cls, game: str, sensitivity: float | None = None) -> CameraLaw:
        if game.startswith("minetest"):
            return cls.minetest(0.2 if sensitivity is None else sensitivity)
        return cls.minecraft(0.5 if sensitivity is None else sensitivity)

    def to_degrees(self, dx: float, dy: float) -> tuple[float, float]:
        """Mouse counts (+dx right, +dy down) -> env camera (pitch, yaw): +pitch down, +yaw right."""
        pitch = dy * self.degrees_per_count
        return (-pitch if self.invert_y else pitch, dx * self.degrees_per_count)

    def to_counts(self, pitch: float, yaw: float) -> tuple[float, float]:
        """Env camera degrees -> fractional mouse counts (dx, dy); the inverse of ``to_degrees``."""
        dy = pitch / self.degrees_per_count
        return (yaw / self.degrees_per_count, -dy if self.invert_y else dy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "game": self.game,
            "sensitivity": self.sensitivity,
            "degrees_per_count": self.degrees_per_count,
            "invert_y": self.invert_y,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraLaw:
        return cls(
            float(data["degrees_per_count"]),
            str(data.get("game", "")),
            float(data.get("sensitivity", 0)),
            bool(data.get("invert_y", False)),
        )
