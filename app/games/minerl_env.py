"""Play inside a MineRL-style environment (minerl's HumanSurvival, MineStudio's MinecraftSim with
``action_type="env"``), stepped in lockstep: one ``apply`` is one env step.

Duck-typed on purpose: neither gym nor gymnasium is imported. ``reset()`` may return ``obs`` or
``(obs, info)``; ``step()`` the gym 4-tuple ``(obs, reward, done, info)`` or the gymnasium 5-tuple
``(obs, reward, terminated, truncated, info)``. The frame is ``obs["pov"]`` (MineRL) or ``info["pov"]``
(MineStudio puts the raw frame there and a resized one in ``obs["image"]``).
Install the real environments with ``pip install .[minerl]`` (they download Minecraft).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from app.games.connector import FRAME_SIZE, Rect
from model.actions.env import BUTTONS, EnvAction

LOG = logging.getLogger(__name__)

EXTRA_KEYS = ("ESC", "pickItem", "swapHands")  # in MineRL 1.0's space, never produced by JARVIS


class MineRLConnector:
    realtime = False
    # the environment renders and takes env actions itself: no desktop input, window or key bindings
    ledger = None
    config = None
    display = None
    window_id = 0
    window_title = ""
    rect: Rect = (0, 0, *FRAME_SIZE)  # the frame the environment renders, resized to the model's
    gui_open = False  # the environment tracks its own GUI screens; this connector cannot tell
    cursor = None

    def __init__(self, env: Any, pov_keys: tuple[str, ...] = ("pov", "image")) -> None:
        self.env = env
        self.pov_keys = pov_keys
        self.finished = False  # the episode ended (done / terminated / truncated)
        self.steps = 0
        self.total_reward = 0.0
        self._closed = False
        self._frame: np.ndarray | None = None
        self._keys = _action_keys(env)

    def open(self) -> MineRLConnector:
        out = self.env.reset()
        obs, info = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
        self._take(obs, info)
        self.finished = False
        return self

    def _take(self, obs: Any, info: Any) -> None:
        frame = None
        if isinstance(info, Mapping) and "pov" in info:
            frame = info["pov"]
        elif isinstance(obs, Mapping):
            frame = next((obs[k] for k in self.pov_keys if k in obs), None)
        elif isinstance(obs, np.ndarray):
            frame = obs
        if frame is None:
            raise KeyError(f"the environment's observation has no frame under {self.pov_keys} or info['pov']")
        self._frame = _to_model_frame(np.asarray(frame))

    def to_env(self, action: EnvAction) -> dict[str, Any]:
        """Our env action as this environment wants it: its own key set, camera as float32 array."""
        out: dict[str, Any] = {k: int(action.get(k, 0)) for k in (*BUTTONS, *EXTRA_KEYS)}
        out["camera"] = np.asarray(action.get("camera", (0.0, 0.0)), dtype=np.float32)
        if self._keys is not None:
            out = {k: out.get(k, 0) for k in self._keys}
        return out

    # ----- Connector protocol -----------------------------------------------------------------
    def policy_frame(self, frame: np.ndarray) -> np.ndarray:
        """The environment draws its own GUI cursor (MineRL's FakeMouseCursor): nothing to add."""
        return frame

    def observe(self) -> np.ndarray:
        if self._frame is None:
            self.open()
        assert self._frame is not None
        return self._frame

    def apply(self, action: EnvAction) -> None:
        if self.finished or self._closed:
            return
        out = self.env.step(self.to_env(action))
        if len(out) == 5:
            obs, reward, terminated, truncated, info = out
            done = bool(terminated) or bool(truncated)
        elif len(out) == 4:
            obs, reward, done, info = out
        else:
            raise ValueError(f"env.step returned {len(out)} values; expected 4 (gym) or 5 (gymnasium)")
        self.steps += 1
        self.total_reward += float(reward or 0.0)
        self._take(obs, info)
        if done:
            self.finished = True
            LOG.info("episode ended after %d steps, reward %.2f", self.steps, self.total_reward)

    def release_all(self) -> None:
        """Nothing to do: an env action states every key each step, nothing stays held between steps."""

    def has_focus(self) -> bool:
        return True

    def covered(self) -> str | None:
        """The environment renders its own frames: nothing can cover them."""
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self.env, "close", None)  # duck-typed env: closing is optional
        if close is not None:
            close()


def _action_keys(env: Any) -> list[str] | None:
    space = getattr(env, "action_space", None)
    spaces = getattr(space, "spaces", None)
    if isinstance(spaces, Mapping):
        return list(spaces.keys())
    return None


def _to_model_frame(frame: np.ndarray) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] < 3:
        raise ValueError(f"expected an H×W×3 frame, got shape {frame.shape}")
    frame = frame[:, :, :3]
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if (frame.shape[1], frame.shape[0]) != FRAME_SIZE:
        frame = cv2.resize(frame, FRAME_SIZE, interpolation=cv2.INTER_LINEAR)  # MineStudio's choice
    return np.ascontiguousarray(frame)


def make_env(spec: str) -> Any:
    """``minerl`` (HumanSurvival), ``minestudio`` (MinecraftSim, env actions) or ``module:callable``."""
    if spec == "minerl":
        try:
            from minerl.herobraine.env_specs.human_survival_specs import HumanSurvival  # heavy: minerl
        except ImportError as exc:
            raise ImportError("minerl is not installed: pip install '.[minerl]' (needs Java 8)") from exc
        return HumanSurvival(
            fov_range=[70, 70],
            gamma_range=[2, 2],
            guiscale_range=[1, 1],
            resolution=list(FRAME_SIZE),
            cursor_size_range=[16.0, 16.0],
        ).make()
    if spec == "minestudio":
        try:
            from minestudio.simulator import MinecraftSim  # heavy: MineStudio
        except ImportError as exc:
            raise ImportError("MineStudio is not installed: pip install minestudio") from exc
        return MinecraftSim(obs_size=FRAME_SIZE, render_size=FRAME_SIZE, action_type="env")
    module, sep, name = spec.partition(":")
    if not sep:
        raise ValueError(f"unknown environment {spec!r}: use minerl, minestudio or module:callable")
    return getattr(importlib.import_module(module), name)()
