"""How many degrees of view one OS mouse count turns, per game: the camera's one free parameter.

The connector divides env camera degrees by it to inject mouse counts; the recorder multiplies
human mouse counts by it to get env camera degrees. Keeping it in one object makes the two exact
inverses (spec §1.3, §6.4):

* Minecraft: ``0.15° × k(s)`` per count, ``k(s) = 8(0.6s + 0.2)³`` for the options.txt
  ``mouseSensitivity`` s; at s = 0.5 (the training env) k = 1, so 2400 counts are 360°.
* minetest: its ``mouse_sensitivity`` setting is already degrees per pixel (default 0.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MINECRAFT_DEGREES_PER_COUNT = 0.15  # vanilla Entity.rotateTowards scale at k = 1


def minecraft_k(sensitivity: float) -> float:
    return 8.0 * (0.6 * sensitivity + 0.2) ** 3


@dataclass(frozen=True)
class CameraLaw:
    degrees_per_count: float
    game: str = "minecraft"
    sensitivity: float = 0.5

    def __post_init__(self) -> None:
        if not self.degrees_per_count > 0:
            raise ValueError(f"degrees_per_count must be > 0, got {self.degrees_per_count}")

    @classmethod
    def minecraft(cls, sensitivity: float = 0.5) -> CameraLaw:
        return cls(MINECRAFT_DEGREES_PER_COUNT * minecraft_k(sensitivity), "minecraft", sensitivity)

    @classmethod
    def minetest(cls, mouse_sensitivity: float = 0.2) -> CameraLaw:
        return cls(mouse_sensitivity, "minetest", mouse_sensitivity)

    @classmethod
    def for_game(cls, game: str, sensitivity: float | None = None) -> CameraLaw:
        if game.startswith("minetest"):
            return cls.minetest(0.2 if sensitivity is None else sensitivity)
        return cls.minecraft(0.5 if sensitivity is None else sensitivity)

    def to_degrees(self, dx: float, dy: float) -> tuple[float, float]:
        """Mouse counts (+dx right, +dy down) -> env camera (pitch, yaw): +pitch down, +yaw right."""
        return (dy * self.degrees_per_count, dx * self.degrees_per_count)

    def to_counts(self, pitch: float, yaw: float) -> tuple[float, float]:
        """Env camera degrees -> fractional mouse counts (dx, dy); the inverse of ``to_degrees``."""
        return (yaw / self.degrees_per_count, pitch / self.degrees_per_count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "game": self.game,
            "sensitivity": self.sensitivity,
            "degrees_per_count": self.degrees_per_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraLaw:
        return cls(
            float(data["degrees_per_count"]), str(data.get("game", "")), float(data.get("sensitivity", 0))
        )
