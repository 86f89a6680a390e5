"""When a fine-tune evaluates, so that measuring never costs more than a fifth of the run, and its ETA.

Decoding held-out frames is slow next to a training step on a small run: ten evaluations of 64 decoded
frames took most of a 60-step tiny fine-tune on two cores, and the ETA jumped when the first one
came. So by default the run measures what a step and an evaluation cost and spaces the evaluations to
keep them within ``BUDGET`` of the whole run (the baseline before step 1 and the final one always
happen: they are the before/after figures). ``eval_every`` > 0 fixes the spacing instead. The ETA
counts the evaluations still to come.

The final evaluation is the one the summary, the manifest and their warnings rest on, so it decodes
more frames (``final_frames``) when the budget allows: a dozen frames a kind cannot tell an adapter
that over-answers one kind from one that answers it a little too eagerly (one adapter that mined 10
of 10 in the game answered 'look down' on 8 of 12 dig frames and 10 of 12 look-downs, a warning; on
all 89 held-out frames, 31 of 59 and 22 of 30, none). The spacing reserves its cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

BUDGET = 0.2  # the share of the run's time that evaluation may take


@dataclass
class EvalSchedule:
    steps: int
    every: int = 0  # fixed spacing; 0: fit the budget
    budget: float = BUDGET
    frames: int = 1  # frames a spaced evaluation (and the baseline) decodes
    final_frames: int = 1  # frames the final evaluation decodes when the budget allows
    eval_s: list[float] = field(default_factory=list)  # how long each evaluation took
    frame_s: list[float] = field(default_factory=list)  # ... per decoded frame
    train_s: float = 0.0  # time spent in training steps so far
    trained: int = 0  # steps timed so far
    last: int = 0  # step of the latest evaluation

    def evaluated(self, step: int, seconds: float, frames: int | None = None) -> None:
        self.eval_s.append(seconds)
        self.frame_s.append(seconds / max(1, frames or self.frames))
        self.last = step

    def stepped(self, seconds: float) -> None:
        self.train_s += seconds
        self.trained += 1

    @property
    def step_s(self) -> float | None:
        return self.train_s / self.trained if self.trained else None

    @property
    def per_frame_s(self) -> float | None:
        return sum(self.frame_s) / len(self.frame_s) if self.frame_s else None

    @property
    def one_eval_s(self) -> float | None:
        """What a spaced evaluation costs."""
        per_frame = self.per_frame_s
        return None if per_frame is None else per_frame * self.frames

    def _final_s(self) -> float:
        return (self.per_frame_s or 0.0) * max(self.frames, self.final_frames)

    def spacing(self) -> int:
        """Steps between evaluations: fixed, or as many as the budget affords once the baseline and the
        final one are paid for."""
        if self.every > 0:
            return self.every
        step_s, eval_s = self.step_s, self.one_eval_s
        if step_s is None or not eval_s:
            return self.steps
        # evaluation time E <= budget * (training time T + E)  =>  E <= b/(1-b) * T
        affordable = self.budget / (1 - self.budget) * self.steps * step_s
        spaced = math.floor((affordable - eval_s - self._final_s()) / eval_s)
        return max(1, math.ceil(self.steps / max(1, spaced + 1)))  # the final one closes the last gap

    def due(self, step: int) -> bool:
        return step >= self.steps or step - self.last >= self.spacing()

    def final_frames_now(self) -> int:
        """Frames for the final evaluation: ``final_frames`` if the budget still holds their cost
        (measured on the training actually done), else as many as it holds, never fewer than a spaced
        evaluation's (its figures stay comparable with theirs)."""
        per_frame = self.per_frame_s
        if per_frame is None or self.final_frames <= self.frames:
            return self.frames
        left = self.budget / (1 - self.budget) * self.train_s - sum(self.eval_s)
        return max(self.frames, min(self.final_frames, math.floor(left / per_frame)))

    def remaining_evals(self, step: int) -> int:
        """Evaluations after ``step``: the spaced ones still ahead, and the final one."""
        if step >= self.steps:
            return 0
        ahead = range(self.last + self.spacing(), self.steps, self.spacing())
        return sum(1 for at in ahead if at > step) + 1

    def eta_s(self, step: int) -> float | None:
        """Seconds left: the steps to go and the evaluations still to come, the final one at its size."""
        if self.step_s is None:
            return None
        left = self.remaining_evals(step)
        evals = (left - 1) * (self.one_eval_s or 0.0) + self._final_s() if left else 0.0
        return (self.steps - step) * self.step_s + evals
