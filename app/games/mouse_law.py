"""Camera degrees <-> integer mouse counts, by Minecraft's sensitivity law (spec §1.3, §6.4).

Minecraft turns ``0.15 · k(s)`` degrees per mouse count, with ``k(s) = 8·(0.6·s + 0.2)³`` for the
options.txt ``mouseSensitivity`` s; at the training setting s = 0.5, k = 1 and 2400 counts are one
full turn. An OS mouse moves in whole counts, so each tick sends the rounded value and carries the
fraction into the next tick: over any run of ticks the camera is off by at most half a count, instead
of drifting by up to a count per tick (ten 0.1° nudges must still add up to 1°).
With a GUI screen open the same degrees move the cursor ``deg / 0.15 · guiScale`` window pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from recorder.input import MINECRAFT_DEGREES_PER_COUNT, CameraLaw, minecraft_k

# The law itself lives in recorder.input.camera_law, shared with the recorder so injection and recording
# are exact inverses; this module adds what only injection needs: whole counts and the GUI cursor.
MC_DEGREES_PER_COUNT = MINECRAFT_DEGREES_PER_COUNT
TRAINING_SENSITIVITY = 0.5
sensitivity_factor = minecraft_k


def degrees_per_count(sensitivity: float = TRAINING_SENSITIVITY) -> float:
    return CameraLaw.minecraft(sensitivity).degrees_per_count


def gui_pixels_per_degree(gui_scale: float) -> float:
    """Window pixels the cursor moves per camera degree while a GUI screen is open."""
    return gui_scale / MC_DEGREES_PER_COUNT


@dataclass
class MouseLaw:
    """Degrees to whole counts at ``counts_per_degree``, keeping the remainder between calls."""

    counts_per_degree: float
    _rest: list[float] = field(default_factory=lambda: [0.0, 0.0])  # x (yaw), y (pitch)

    @classmethod
    def for_sensitivity(cls, sensitivity: float = TRAINING_SENSITIVITY) -> MouseLaw:
        return cls(1.0 / degrees_per_count(sensitivity))

    @classmethod
    def for_degrees_per_count(cls, dpc: float) -> MouseLaw:
        if dpc <= 0:
            raise ValueError(f"degrees per count must be positive, got {dpc}")
        return cls(1.0 / dpc)

    def counts(self, pitch: float, yaw: float) -> tuple[int, int]:
        """(dx, dy) for a camera change of ``pitch`` (+ down) and ``yaw`` (+ right) degrees."""
        out = []
        for axis, degrees in ((0, yaw), (1, pitch)):
            exact = degrees * self.counts_per_degree + self._rest[axis]
            whole = math.floor(exact + 0.5)
            self._rest[axis] = exact - whole
            out.append(int(whole))
        return out[0], out[1]

    def degrees(self, dx: float, dy: float) -> tuple[float, float]:
        """(pitch, yaw) degrees for a mouse motion of (dx, dy) counts: the inverse, for recorders."""
        return CameraLaw(1.0 / self.counts_per_degree).to_degrees(dx, dy)

    @property
    def remainder(self) -> tuple[float, float]:
        """Counts not yet sent, (x, y), each in [-0.5, 0.5)."""
        return self._rest[0], self._rest[1]

    def reset(self) -> None:
        self._rest = [0.0, 0.0]
