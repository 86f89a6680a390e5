"""A connector with no game behind it: a moving test pattern in, actions recorded out.

For tests, for the GUI without Minecraft, and for the no-verb demo on machines without a display.
It keeps the same held-key bookkeeping as the desktop connector (and its inventory-toggle notion of
"GUI open"), so tests can check that a handover or a panic really left nothing pressed. Nothing is
injected into the desktop: no ledger, no window, no config; ``finished`` is settable to end an episode.
"""

from __future__ import annotations

import threading

import numpy as np

from app.games.connector import FRAME_SIZE, Rect
from model.actions.env import BUTTONS, EnvAction


class FakeConnector:
    ledger = None
    config = None
    display = None
    window_id = 0
    window_title = ""
    rect: Rect = (0, 0, *FRAME_SIZE)
    cursor = None  # no pointer: nothing to draw

    def __init__(self, realtime: bool = True) -> None:
        self.realtime = realtime
        self.finished = False  # a test sets it to end the episode, as an environment's done would
        self.gui_open = False
        self.applied: list[EnvAction] = []
        self.presses: list[str] = []  # env keys pressed (0→1), in order
        self.releases: list[str] = []
        self.focused = True
        self.cover: str | None = None
        self.closed = False
        self.yaw = 0.0  # integrated camera, degrees
        self.pitch = 0.0
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._tick = 0
        w, h = FRAME_SIZE
        self._base = np.zeros((h, w, 3), np.uint8)
        self._base[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
        self._base[:, :, 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]

    @property
    def held(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._held)

    def observe(self) -> np.ndarray:
        self._tick += 1
        frame: np.ndarray = self._base.copy()
        frame[:, :, 2] = (self._tick * 8 + int(self.yaw)) % 256
        return frame

    def policy_frame(self, frame: np.ndarray) -> np.ndarray:
        return frame

    def apply(self, action: EnvAction) -> None:
        with self._lock:
            if self.closed:
                return
            self.applied.append(action)
            for key in BUTTONS:
                want = bool(action.get(key, 0))
                if want and key not in self._held:
                    self._held.add(key)
                    self.presses.append(key)
                    if key == "inventory":
                        self.gui_open = not self.gui_open
                elif not want and key in self._held:
                    self._held.discard(key)
                    self.releases.append(key)
            pitch, yaw = action.get("camera", (0.0, 0.0))
            self.pitch = max(-90.0, min(90.0, self.pitch + pitch))
            self.yaw += yaw

    def release_all(self) -> None:
        with self._lock:
            self.releases.extend(sorted(self._held))
            self._held.clear()

    def has_focus(self) -> bool:
        return self.focused

    def covered(self) -> str | None:
        return self.cover  # a test sets it, as a window over a screen-grabbed game would

    def close(self) -> None:
        self.release_all()
        self.closed = True
