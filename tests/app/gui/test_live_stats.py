"""The live figures and the latest-only slot the GUI reads."""

from __future__ import annotations

from app.runtime.latest import Latest
from app.runtime.live_stats import LiveStats
from app.runtime.telemetry import TickRecord


def test_figures_over_the_window() -> None:
    stats = LiveStats(window_s=1.0)
    for i in range(41):  # 2 s at 20 Hz; a fresh model action every 4th tick, the rest fallbacks
        fresh = i % 4 == 0
        stats.add(
            TickRecord(
                i,
                i * 0.05,
                "agent",
                injected=True,
                fresh=fresh,
                missed=not fresh,
                null=not fresh,
                model_ms=100.0 + i if fresh else None,
            )
        )
    fig = stats.figures()
    assert fig.ticks == 41
    assert fig.missed_ticks == 30 and fig.null_actions == 30
    assert abs(fig.ticks_per_s - 20.0) < 0.01
    assert abs(fig.actions_per_s - 5.0) < 0.01  # 1 in 4 ticks
    assert fig.model_ms is not None and 120 < fig.model_ms < 141  # only the last second's results


def test_latest_keeps_only_the_newest() -> None:
    slot: Latest[int] = Latest()
    assert slot.put(1) is True  # was empty: wake the reader
    assert slot.put(2) is False  # reader already notified
    assert slot.take() == 2 and slot.take() is None
    assert slot.dropped == 1
