"""The one seam between the play loop and whatever chooses actions.

A policy takes the current RGB frame (H×W×3 uint8, 640×360 from every connector) and the instruction
in force, and returns a ``PolicyStep``: one or more env actions (an action chunk; the loop executes
them in order, one per tick) plus what it cost. Implementations keep their own history, so
``reset()`` starts a new episode. Nothing here imports torch, so a remote policy needs none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from model.actions.env import EnvAction, null_action
from model.errors import ModelError


class PolicyError(ModelError, RuntimeError):
    """The policy could not produce a step (server down or too slow, model crashed).

    The message says what to do. The loop catches it, counts the tick as missed and applies its
    fallback; malformed *output* is not an error but a null step (``PolicyStep.malformed``).
    """


@dataclass
class PolicyStep:
    actions: list[EnvAction]
    ids: list[int] = field(default_factory=list)  # generated token ids (action tokens and any text)
    text: str = ""  # raw model output as text, kept verbatim for the history
    malformed: bool = False  # no complete BEGIN…END segment: the null action was substituted
    timings_ms: dict[str, float] = field(default_factory=dict)  # preprocess, model, decode, total

    @classmethod
    def null(cls, reason_ms: dict[str, float] | None = None) -> PolicyStep:
        return cls(actions=[null_action()], malformed=True, timings_ms=reason_ms or {})


@runtime_checkable
class Policy(Protocol):
    def reset(self) -> None:
        """Forget history; the next ``act`` starts a new episode."""

    def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
        """Choose actions for this frame. Never raises for bad model output (that is a null step)."""

    def close(self) -> None:
        """Release models, sockets and threads."""
