"""Camera degrees -> mouse counts: Minecraft's sensitivity law and the remainder carried between ticks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.games.mouse_law import (
    MouseLaw,
    degrees_per_count,
    gui_pixels_per_degree,
    sensitivity_factor,
)


def test_sensitivity_law_matches_minecraft() -> None:
    assert sensitivity_factor(0.5) == pytest.approx(1.0)
    assert sensitivity_factor(0.0) == pytest.approx(8 * 0.2**3)
    assert sensitivity_factor(1.0) == pytest.approx(8 * 0.8**3)
    assert degrees_per_count(0.5) == pytest.approx(0.15)  # 2400 counts = 360°
    assert 2400 * degrees_per_count(0.5) == pytest.approx(360.0)
    assert gui_pixels_per_degree(2) == pytest.approx(2 / 0.15)


def test_whole_degrees_become_exact_counts_with_the_right_signs() -> None:
    law = MouseLaw.for_sensitivity(0.5)
    assert law.counts(pitch=0.0, yaw=15.0) == (100, 0)  # +yaw turns right: +dx
    assert law.counts(pitch=-3.0, yaw=0.0) == (0, -20)  # -pitch looks up: -dy
    assert law.remainder == pytest.approx((0.0, 0.0))


def test_other_sensitivity_scales_counts() -> None:
    law = MouseLaw.for_sensitivity(1.0)  # 0.6144° per count
    dx, _ = law.counts(0.0, 61.44)
    assert dx == 100


def test_small_moves_accumulate_instead_of_vanishing() -> None:
    law = MouseLaw.for_degrees_per_count(0.15)
    steps = [law.counts(0.0, 0.05)[0] for _ in range(30)]  # 1/3 count each
    assert sum(steps) == 10  # 1.5° = exactly 10 counts, although no single tick reaches a count
    assert set(steps) <= {0, 1}
    naive = [round(0.05 / 0.15) for _ in range(30)]
    assert sum(naive) == 0  # what rounding each tick alone would have done


def test_reset_forgets_the_remainder() -> None:
    law = MouseLaw.for_degrees_per_count(0.15)
    law.counts(0.0, 0.06)
    assert law.remainder[0] != 0
    law.reset()
    assert law.remainder == (0.0, 0.0)


def test_inverse_gives_degrees_back() -> None:
    law = MouseLaw.for_sensitivity(0.5)
    assert law.degrees(100, -20) == pytest.approx((-3.0, 15.0))


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        MouseLaw.for_degrees_per_count(0.0)


@given(
    st.lists(st.tuples(st.floats(-20, 20), st.floats(-20, 20)), min_size=1, max_size=200),
    st.sampled_from([0.0, 0.25, 0.5, 0.8, 1.0]),
)
def test_total_counts_never_drift_more_than_half_a_count(moves: list[tuple[float, float]], s: float) -> None:
    law = MouseLaw.for_sensitivity(s)
    sent_x = sent_y = 0
    want_x = want_y = 0.0
    for pitch, yaw in moves:
        dx, dy = law.counts(pitch, yaw)
        assert isinstance(dx, int) and isinstance(dy, int)
        sent_x += dx
        sent_y += dy
        want_x += yaw / degrees_per_count(s)
        want_y += pitch / degrees_per_count(s)
        assert abs(sent_x - want_x) <= 0.5 + 1e-6
        assert abs(sent_y - want_y) <= 0.5 + 1e-6
    rx, ry = law.remainder
    assert math.isclose(sent_x + rx, want_x, abs_tol=1e-6)
    assert math.isclose(sent_y + ry, want_y, abs_tol=1e-6)
