"""The seam between the play loop and a game.

Every connector yields 640×360 RGB frames and executes MineRL env actions. A *real-time* connector
(the desktop) runs on the loop's clock and its game does not wait; a *lockstep* connector (a MineRL
environment) advances one game tick per ``apply``. ``release_all`` must be safe to call from any
thread at any time: it is the safety path (panic key, focus loss, exceptions, signals).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from model.actions.env import EnvAction

FRAME_SIZE = (640, 360)  # width, height the model was trained on


@runtime_checkable
class Connector(Protocol):
    realtime: bool

    def observe(self) -> np.ndarray:
        """The latest frame, RGB uint8 of shape (360, 640, 3)."""

    def apply(self, action: EnvAction) -> None:
        """Execute one tick's env action (held-state semantics: press on 0→1, release on 1→0)."""

    def release_all(self) -> None:
        """Release every key and button this connector holds. Idempotent and thread-safe."""

    def has_focus(self) -> bool:
        """Whether input may be injected now (the game window is focused). Always True for env games."""

    def close(self) -> None:
        """Release input and free resources; called exactly once on every exit path."""
