"""Per-tick measurements of the control loop and their summary.

Each tick yields one ``TickRecord``: how long capture, injection and the whole tick's work took, the
latency of the model result applied (when one arrived this tick) and the end-to-end time from the
frame it saw to its action reaching the OS. The summary gives percentiles and the counts a user
cares about: model actions per second, missed ticks (the model was late), null actions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.runtime.takeover import Mode


@dataclass
class TickRecord:
    tick: int
    t: float  # loop clock, seconds
    mode: Mode
    focused: bool = True
    covered: str | None = None  # why the frame did not show the game (never given to the model or recorded)
    injected: bool = False  # an action reached the game this tick
    fresh: bool = False  # the action came from a model result that arrived this tick
    missed: bool = False  # the model was late: the fallback was applied
    null: bool = False  # the applied action was the null action
    capture_ms: float = 0.0
    inject_ms: float = 0.0
    work_ms: float = 0.0  # the whole tick minus its sleep
    model_ms: float | None = None  # latency of the result applied this tick
    e2e_ms: float | None = None  # frame captured -> its action injected
    # time.monotonic() when the frame was grabbed: the input listener's clock (not the loop's, which a
    # test may fake), so the recorder can label a frame with exactly the input that came after it
    captured_at: float | None = None


@dataclass
class Telemetry:
    keep: int = 20_000  # records kept for percentiles
    records: deque[TickRecord] = field(default_factory=deque)
    ticks: int = 0
    injected: int = 0
    model_actions: int = 0
    missed: int = 0
    nulls: int = 0
    overruns: int = 0  # ticks that started late because the previous one ran long
    unfocused: int = 0
    not_agent: int = 0
    start: float | None = None
    end: float | None = None

    def add(self, rec: TickRecord) -> None:
        if self.start is None:
            self.start = rec.t
        self.end = rec.t
        self.ticks += 1
        self.injected += rec.injected
        self.model_actions += rec.injected and rec.fresh
        self.missed += rec.missed
        self.nulls += rec.injected and rec.null
        self.unfocused += not rec.focused
        self.not_agent += rec.mode != Mode.AGENT
        self.records.append(rec)
        while len(self.records) > self.keep:
            self.records.popleft()

    def percentiles(self, name: str) -> tuple[float, float] | None:
        values = [getattr(r, name) for r in self.records if getattr(r, name) is not None]
        if name in ("inject_ms",):
            values = [r.inject_ms for r in self.records if r.injected]
        if not values:
            return None
        p50, p99 = np.percentile(np.asarray(values, dtype=np.float64), [50, 99])
        return float(p50), float(p99)

    def summary(self) -> dict[str, Any]:
        seconds = max((self.end or 0) - (self.start or 0), 1e-9)
        out: dict[str, Any] = {
            "ticks": self.ticks,
            "seconds": round(seconds, 3),
            "ticks_per_s": round(self.ticks / seconds, 2) if self.ticks > 1 else 0.0,
            "actions_per_s": round(self.model_actions / seconds, 2) if self.ticks > 1 else 0.0,
            "injected": self.injected,
            "missed_ticks": self.missed,
            "null_actions": self.nulls,
            "overruns": self.overruns,
            "unfocused_ticks": self.unfocused,
            "not_agent_ticks": self.not_agent,
        }
        for name in ("capture_ms", "model_ms", "inject_ms", "e2e_ms", "work_ms"):
            p = self.percentiles(name)
            if p is not None:
                out[name] = {"p50": round(p[0], 3), "p99": round(p[1], 3)}
        return out

    def format(self) -> str:
        s = self.summary()
        lines = [
            f"ticks {s['ticks']} in {s['seconds']:.1f} s ({s['ticks_per_s']}/s), model actions/s "
            f"{s['actions_per_s']}, missed ticks {s['missed_ticks']}, null actions {s['null_actions']}, "
            f"overruns {s['overruns']}, unfocused {s['unfocused_ticks']}, not agent {s['not_agent_ticks']}"
        ]
        for name in ("capture_ms", "model_ms", "inject_ms", "e2e_ms", "work_ms"):
            if name in s:
                lines.append(f"  {name[:-3]:<8} p50 {s[name]['p50']:8.2f} ms   p99 {s[name]['p99']:8.2f} ms")
        return "\n".join(lines)
