"""When a fine-tune evaluates, so that measuring never costs more than a fifth of the run, and its ETA.

Decoding held-out frames is slow next to a training step on a small run: ten evaluations of 64 decoded
frames took most of a 60-step tiny fine-tune on two cores, and the ETA jumped when the first one
came. So by default the run measures what a step and an evaluation cost and spaces the evaluations to
keep them within ``BUDGET`` of the whole run (the baseline before step 1 and the final one always
happen: they are the before/after figures). ``eval_every`` > 0 fixes the spacing instead. The ETA
counts the evaluations still to come.
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
    eval_s: list[float] = field(default_factory=list)  # how long each evaluation took
    train_s: float = 0.0  # time spent in training steps so far
    trained: int = 0  # steps timed so far
    last: int = 0  # step of the latest evaluation

    def evaluated(self, step: int, seconds: float) -> None:
        self.eval_s.append(seconds)
        self.last = step

    def stepped(self, seconds: float) -> None:
        self.train_s += seconds
        self.trained += 1

    @property
    def step_s(self) -> float | None:
        return self.train_s / self.trained if self.trained else None

    @property
    def one_eval_s(self) -> float | None:
        return sum(self.eval_s) / len(self.eval_s) if self.eval_s else None

    def spacing(self) -> int:
        """Steps between evaluations: fixed, or as many as the budget affords (the final one counted)."""
        if self.every > 0:
            return self.every
        step_s, eval_s = self.step_s, self.one_eval_s
        if step_s is None or not eval_s:
            return self.steps
        # evaluation time E*n <= budget * (training time + E*n)  =>  n <= b/(1-b) * T / E
        affordable = self.budget / (1 - self.budget) * self.steps * step_s / eval_s
        evals = max(1, math.floor(affordable) - 1)  # the baseline is one of them
        return max(1, math.ceil(self.steps / evals))

    def due(self, step: int) -> bool:
        return step >= self.steps or step - self.last >= self.spacing()

    def remaining_evals(self, step: int) -> int:
        """Evaluations after ``step``: the spaced ones still ahead, and the final one."""
        if step >= self.steps:
            return 0
        ahead = range(self.last + self.spacing(), self.steps, self.spacing())
        return sum(1 for at in ahead if at > step) + 1

    def eta_s(self, step: int) -> float | None:
        """Seconds left: the steps to go and the evaluations still to come."""
        if self.step_s is None:
            return None
        evals = self.remaining_evals(step) * (self.one_eval_s or 0.0)
        return (self.steps - step) * self.step_s + evals
