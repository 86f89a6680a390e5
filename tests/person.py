"""A scripted person at a real keyboard and mouse: xdotool input, eyes on the game's own pose log.

The learning-loop tests feed the product the way a person does: through real X input that jarvis-play
did not make, with the pauses, hesitations, mistakes and uneven mouse moves of someone playing, and
with other windows in between; never through curated ticks written into the recorder. What the person
"sees" is the game's ground truth (the pose and event log of the jarvis_pose mod), so the rule they
demonstrate and the verdicts they give are the game's, not our code's idea of them.

The rule demonstrated for ``mine_block:stone`` in the demo arena: while the view shows sky, move the
mouse down in uneven steps; once the stone floor is in view, hold the left button a while (the mod
logs each dug node); pauses everywhere in between.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

FLOOR_PITCH = 25.0  # degrees down from level at which the arena's stone fills the crosshair's view


@dataclass
class Habits:
    """How this person plays: seconds of idle between actions, mouse steps in counts, slips."""

    pause: tuple[float, float] = (0.15, 0.6)
    step_counts: tuple[int, int] = (20, 50)  # one mouse step down: 3°-7.5° at 0.15°/count (a flick)
    step_gap: tuple[float, float] = (0.03, 0.12)  # between two steps of one look-down
    dig: tuple[float, float] = (0.5, 1.3)  # how long the button is held
    overshoot: tuple[float, float] = (0.0, 30.0)  # looks further down than needed, degrees
    wrong_way: float = 0.15  # chance that a look-down starts with a small move up, then corrects


class Person:
    def __init__(self, display: str, game: Any, seed: int = 0, habits: Habits | None = None) -> None:
        if shutil.which("xdotool") is None:
            pytest.skip("xdotool is not installed (apt-get install xdotool)")
        self.display = display
        self.game = game
        self.rng = np.random.default_rng(seed)
        self.habits = habits or Habits()
        self.held: set[str] = set()

    def xdotool(self, *args: str) -> None:
        env = {**os.environ, "DISPLAY": self.display}
        subprocess.run(["xdotool", *args], env=env, check=True, timeout=10)

    def pitch(self) -> float:
        """Degrees below level, as the game says (the pose log's pitch is radians, + looks down)."""
        return float(np.degrees(self.game.pose().pitch))

    def pause(self, scale: float = 1.0) -> None:
        lo, hi = self.habits.pause
        time.sleep(scale * float(self.rng.uniform(lo, hi)))

    def move(self, dx: int, dy: int) -> None:
        self.xdotool("mousemove_relative", "--", str(dx), str(dy))

    def look_down_to_floor(self, timeout: float = 8.0) -> None:
        """Uneven steps down, a little sideways wobble, now and then a slip the wrong way first."""
        h = self.habits
        if self.rng.random() < h.wrong_way:
            self.move(0, -int(self.rng.integers(*h.step_counts)))
            self.pause(0.5)
        target = FLOOR_PITCH + float(self.rng.uniform(*h.overshoot))
        deadline = time.monotonic() + timeout
        while self.pitch() < target and time.monotonic() < deadline:
            dy = int(self.rng.integers(*h.step_counts))
            dx = int(self.rng.integers(-4, 5)) if self.rng.random() < 0.3 else 0
            self.move(dx, dy)
            time.sleep(float(self.rng.uniform(*h.step_gap)))
            if self.rng.random() < 0.1:  # a hesitation in the middle of the look-down
                self.pause(0.5)
        time.sleep(0.1)  # the game applies the last step

    def dig(self) -> None:
        self.xdotool("mousedown", "1")
        self.held.add("1")
        try:
            time.sleep(float(self.rng.uniform(*self.habits.dig)))
        finally:
            self.xdotool("mouseup", "1")
            self.held.discard("1")

    def to_the_sky(self, spawn: tuple[float, float, float]) -> None:
        """Back to the start of the task: at the spawn, a random yaw, looking up into the sky."""
        self.game.reset(spawn, float(self.rng.uniform(0, 360)), float(self.rng.uniform(-70, -30)))
        time.sleep(0.3)  # the client echoes its old look for a moment after a teleport

    def mine_stone_once(self, spawn: tuple[float, float, float]) -> None:
        """One segment: the view starts in the sky; read the screen, look down, dig, pause."""
        self.to_the_sky(spawn)
        self.pause()
        self.look_down_to_floor()
        self.pause(0.5)
        self.dig()
        self.pause()

    def type_elsewhere(self, window: int, text: str) -> None:
        """Switch to another window, type there, switch back to the game (keyboard, no click)."""
        self.xdotool("windowfocus", "--sync", str(window))
        self.xdotool("type", "--delay", "30", text)
        self.pause()
        self.game.focus()  # back into the game: focus and the pointer to its centre, as alt-tab would

    def release(self) -> None:
        for button in list(self.held):
            self.xdotool("mouseup", button)
        self.held.clear()
