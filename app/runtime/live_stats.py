"""The live figures the window shows, from the loop's tick records, over a sliding window.

``Telemetry`` keeps the whole run for the end-of-run report; a person watching wants what is happening
*now*: model latency and actions per second over the last couple of seconds, plus running counts of
missed ticks and null actions. Fed on the loop thread, read on the GUI thread.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from app.runtime.telemetry import TickRecord


@dataclass(frozen=True)
class Figures:
    model_ms: float | None = None  # mean latency of the model results applied in the window
    actions_per_s: float = 0.0  # model results applied per second
    ticks_per_s: float = 0.0
    missed_ticks: int = 0  # since start: ticks where the model was late and the fallback was applied
    null_actions: int = 0  # since start: applied actions that did nothing
    ticks: int = 0
    unfocused: bool = False  # the latest tick found the game without keyboard focus


class LiveStats:
    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._recent: deque[TickRecord] = deque()
        self._missed = self._nulls = self._ticks = 0
        self._unfocused = False

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._missed = self._nulls = self._ticks = 0
            self._unfocused = False

    def add(self, rec: TickRecord) -> None:
        with self._lock:
            self._recent.append(rec)
            while self._recent and rec.t - self._recent[0].t > self.window_s:
                self._recent.popleft()
            self._ticks += 1
            self._missed += rec.missed
            self._nulls += rec.injected and rec.null
            self._unfocused = not rec.focused

    def figures(self) -> Figures:
        with self._lock:
            recent = list(self._recent)
            missed, nulls, ticks, unfocused = self._missed, self._nulls, self._ticks, self._unfocused
        latencies = [r.model_ms for r in recent if r.model_ms is not None]
        span = recent[-1].t - recent[0].t if len(recent) > 1 else 0.0
        per_s = (len(recent) - 1) / span if span > 0 else 0.0
        fresh = sum(1 for r in recent[1:] if r.injected and r.fresh)
        return Figures(
            model_ms=sum(latencies) / len(latencies) if latencies else None,
            actions_per_s=fresh / span if span > 0 else 0.0,
            ticks_per_s=per_s,
            missed_ticks=missed,
            null_actions=nulls,
            ticks=ticks,
            unfocused=unfocused,
        )
