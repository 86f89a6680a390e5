"""Success rates a researcher can trust on ten trials: Wilson intervals and Fisher's exact test.

With ten trials per arm a z-test's normal approximation breaks down (0/10 has zero variance), so the
comparison is Fisher's exact test on the 2x2 table, two-sided; the test and the Wilson interval are the
ones the fine-tune's held-out report uses (``model.finetune.evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.finetune.evaluate import ALPHA, fisher_exact, wilson

TEST_NAME = "Fisher's exact test, two-sided"

__all__ = ["ALPHA", "TEST_NAME", "Comparison", "compare", "fisher_exact", "wilson"]


@dataclass(frozen=True)
class Comparison:
    """One arm against the reference (first) arm."""

    test: str
    p_value: float
    difference: float  # this arm's rate minus the reference's
    verdict: str  # "better", "worse" or "no clear difference"

    def to_dict(self) -> dict[str, object]:
        return {
            "test": self.test,
            "p_value": self.p_value,
            "difference": self.difference,
            "verdict": self.verdict,
        }


def compare(successes: int, trials: int, ref_successes: int, ref_trials: int) -> Comparison:
    p = fisher_exact(successes, trials, ref_successes, ref_trials)
    rate = successes / trials if trials else 0.0
    ref = ref_successes / ref_trials if ref_trials else 0.0
    if p < ALPHA and rate > ref:
        verdict = "better"
    elif p < ALPHA and rate < ref:
        verdict = "worse"
    else:
        verdict = "no clear difference"
    return Comparison(TEST_NAME, p, rate - ref, verdict)
