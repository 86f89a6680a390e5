"""The in-process policy: JARVIS-VLA through transformers on this machine's GPU (or CPU)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from model.actions.codec import ActionCodec, has_segment
from model.policies.base import PolicyStep
from model.prompts import PromptHistory
from model.vla import VLA, Sampling


@dataclass
class LocalPolicyConfig:
    history_num: int = 0  # past (frame, answer) pairs re-sent each step; kill 0, mine 3, GUI 4 upstream
    constrained: bool = True  # decode only the action grammar (fast); False samples as the official eval
    chunk_len: int = 1  # actions of a multi-action answer to keep, as upstream's action_chunk_len
    sampling: Sampling = field(default_factory=Sampling)


class LocalPolicy:
    def __init__(self, vla: VLA, config: LocalPolicyConfig | None = None) -> None:
        self.vla = vla
        self.config = config or LocalPolicyConfig()
        self.codec = ActionCodec()
        self.history: PromptHistory[Any] = PromptHistory(
            self.config.history_num, self.codec.text(self.codec.null_ids())
        )
        # A seed makes a whole run reproducible: seed once, then let the sampler's stream advance
        # (seeding every step would repeat the same draw each tick).
        self._sampling = replace(self.config.sampling, seed=None)
        if self.config.sampling.seed is not None:
            import torch  # heavy: torch

            torch.manual_seed(self.config.sampling.seed)

    def reset(self) -> None:
        self.history.reset()

    def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
        t0 = time.perf_counter()
        image = self.vla.prepare(frame)  # PIL's resize, or the frame as captured for a GPU resize
        messages, images = self.history.build(image, instruction)
        with self.vla.lock:
            generation = self.vla.generate(messages, images, self._sampling, self.config.constrained)
        t1 = time.perf_counter()
        joints = self.codec.ids_to_joints(generation.ids)
        actions = [self.codec.joint_to_env(j) for j in joints][: max(1, self.config.chunk_len)]
        malformed = not has_segment(generation.ids)
        self.history.record(image, generation.text)
        t2 = time.perf_counter()
        timings = dict(generation.timings_ms)
        timings.update(model_ms=(t1 - t0) * 1e3, decode_ms=(t2 - t1) * 1e3, total_ms=(t2 - t0) * 1e3)
        return PolicyStep(
            actions=actions, ids=generation.ids, text=generation.text, malformed=malformed, timings_ms=timings
        )

    def close(self) -> None:
        self.vla = None  # type: ignore[assignment]
