"""Success rates a researcher can trust on ten trials: Wilson intervals and Fisher's exact test.

With ten trials per arm a z-test's normal approximation breaks down (0/10 has zero variance), so the
comparison is Fisher's exact test on the 2x2 table, two-sided; the interval is the same Wilson
interval the fine-tune's token-accuracy report uses (``model.finetune.evaluate.wilson``).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

from model.finetune.evaluate import wilson

ALPHA = 0.05
TEST_NAME = "Fisher's exact test, two-sided"

__all__ = ["ALPHA", "TEST_NAME", "Comparison", "compare", "fisher_exact", "wilson"]


def _table_p(a: int, row1: int, col1: int, total: int) -> float:
    """Hypergeometric probability of ``a`` successes in row 1, margins fixed."""
    return comb(col1, a) * comb(total - col1, row1 - a) / comb(total, row1)


def fisher_exact(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value: the probability of a table at most as likely as the one seen."""
    total, col1 = n1 + n2, s1 + s2
    if n1 == 0 or n2 == 0:
        return 1.0
    observed = _table_p(s1, n1, col1, total)
    low, high = max(0, col1 - n2), min(n1, col1)
    p = sum(q for a in range(low, high + 1) if (q := _table_p(a, n1, col1, total)) <= observed * (1 + 1e-9))
    return min(1.0, p)


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
