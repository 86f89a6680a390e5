"""A run's results file and the history across runs, for the plot and the Evaluate panel.

A run writes ``<out>/<started>-<task>.json`` (every trial, every arm's summary) and appends one line
per arm to ``<out>/history.jsonl``: the task, the adapter's fine-tune round and the episodes it was
trained on (from its ``manifest.json``), the success rate and its interval. The round is the
manifest's ``round`` when it names one, else the adapter's place among the adapters evaluated on the
task so far (the base model is round 0).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.eval.stats import compare, wilson
from recorder.files import write_atomically

HISTORY = "history.jsonl"


CI_LEVEL = 0.95  # what ``wilson`` computes (z = 1.96), named in the text and in every JSON row
CI_METHOD = "Wilson score"


@dataclass
class Arm:
    name: str  # "base" or the adapter folder's name
    adapter: str | None = None  # the adapter folder; None: the base model

    @property
    def label(self) -> str:
        return self.name


@dataclass
class Trial:
    index: int  # order played
    arm: str
    success: bool
    seconds: float | None  # time to success
    why: str
    episode: str | None = None  # the recorded episode's started_at (its meta.json)


@dataclass
class RunResult:
    task: str | None
    instruction: str
    model: str
    judge: str  # "game" or "person"
    seconds_per_trial: float
    trials_per_arm: int
    blind: bool
    seed: int
    started: str
    arms: list[Arm]
    trials: list[Trial] = field(default_factory=list)
    stopped_early: str | None = None
    # where a game-judged trial starts (position, view, how far each start was turned at random): ten
    # trials from one identical view are one situation measured ten times, and the file says which
    start: dict[str, Any] | None = None

    def summary(self) -> list[dict[str, Any]]:
        """Per arm: successes, rate, 95% Wilson interval, time to success, and the comparison with
        the first arm."""
        rows = []
        for arm in self.arms:
            mine = [t for t in self.trials if t.arm == arm.name]
            wins = [t for t in mine if t.success]
            low, high = wilson(len(wins), len(mine))
            times = sorted(t.seconds for t in wins if t.seconds is not None)
            rows.append(
                {
                    "arm": arm.name,
                    "adapter": arm.adapter,
                    "trials": len(mine),
                    "successes": len(wins),
                    "rate": len(wins) / len(mine) if mine else 0.0,
                    "ci_low": low,
                    "ci_high": high,
                    "ci_level": CI_LEVEL,
                    "ci_method": CI_METHOD,
                    "median_seconds_to_success": times[len(times) // 2] if times else None,
                }
            )
        ref = rows[0] if rows else None
        for row in rows[1:]:
            assert ref is not None
            row["vs_first"] = compare(
                row["successes"], row["trials"], ref["successes"], ref["trials"]
            ).to_dict()
        return rows

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary()
        return data

    def _setup(self) -> str:
        n = self.trials_per_arm
        return (
            f"task: {self.task or self.instruction}  judged by the {self.judge}, "
            f"{n} trial{'' if n == 1 else 's'} per arm of {self.seconds_per_trial:g} s"
        )

    def headline(self) -> str:
        """The run in one sentence (and how it stopped early, if it did)."""
        return self._setup() + (f"; stopped early: {self.stopped_early}" if self.stopped_early else "")

    def format(self) -> str:
        lines = [self._setup()]
        for row in self.summary():
            interval = (
                f"({CI_LEVEL:.0%} {CI_METHOD.split()[0]} interval {row['ci_low']:.0%}–{row['ci_high']:.0%})"
            )
            cell = f"{row['successes']}/{row['trials']} = {row['rate']:.0%} {interval}"
            line = f"  {row['arm']:<24}{cell}"
            if row["median_seconds_to_success"] is not None:
                line += f"  median {row['median_seconds_to_success']:.1f} s to success"
            if "vs_first" in row:
                c = row["vs_first"]
                line += f"  vs {self.arms[0].name}: {c['verdict']} (p = {c['p_value']:.3g}, {c['test']})"
            lines.append(line)
        if self.stopped_early:
            lines.append(f"  stopped early: {self.stopped_early}")
        return "\n".join(lines)


def adapter_info(adapter: str | None) -> dict[str, Any]:
    """What the adapter's manifest says about how it was made: round, episodes used."""
    if not adapter:
        return {"round": 0, "episodes": 0}
    try:
        manifest = json.loads((Path(adapter) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"round": None, "episodes": None}
    data = manifest.get("episodes") if isinstance(manifest, dict) else None
    episodes = len(data.get("train", [])) + len(data.get("valid", [])) if isinstance(data, dict) else None
    return {"round": manifest.get("round"), "episodes": episodes, "base_model": manifest.get("base_model")}


def read_history(out: Path) -> list[dict[str, Any]]:
    path = Path(out) / HISTORY
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut short by a crash: skip it, keep the rest
            continue
    return rows


def _round_for(adapter: str | None, info: dict[str, Any], task: str, history: list[dict[str, Any]]) -> int:
    if info.get("round") is not None:
        return int(info["round"])
    if not adapter:
        return 0
    seen: list[str] = []
    for row in history:
        if row.get("task") == task and row.get("adapter") and row["adapter"] not in seen:
            seen.append(row["adapter"])
    return seen.index(adapter) + 1 if adapter in seen else len(seen) + 1


def save(result: RunResult, out: Path) -> Path:
    """Write the run's file and append its arms to the history; returns the run's file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", result.task or result.instruction)[:60] or "run"
    stamp = re.sub(r"[^0-9T]", "", result.started)[:15]
    path = out / f"{stamp}-{slug}.json"
    n = 1
    while path.exists():
        n += 1
        path = out / f"{stamp}-{slug}-{n}.json"
    write_atomically(path, json.dumps(result.to_dict(), indent=2))
    history = read_history(out)
    task = result.task or result.instruction
    lines = []
    for row in result.summary():
        info = adapter_info(row["adapter"])
        lines.append(
            json.dumps(
                {
                    "run": path.name,
                    "started": result.started,
                    "task": task,
                    "judge": result.judge,
                    "arm": row["arm"],
                    "adapter": row["adapter"],
                    "round": _round_for(row["adapter"], info, task, history),
                    "episodes": info.get("episodes"),
                    "trials": row["trials"],
                    "successes": row["successes"],
                    "rate": row["rate"],
                    "ci_low": row["ci_low"],
                    "ci_high": row["ci_high"],
                    "ci_level": row["ci_level"],
                    "ci_method": row["ci_method"],
                }
            )
        )
    with open(out / HISTORY, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def episode_tasks(adapter: str | Path, library: Any) -> list[str]:
    """The task keys the adapter's training episodes were recorded for (from their meta.json), most
    common first: what "evaluate this adapter" offers."""
    try:
        manifest = json.loads((Path(adapter) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    roots = [Path(p) for p in (manifest.get("settings") or {}).get("episodes", [])]
    data = manifest.get("episodes") or {}
    names = set(data.get("train", [])) | set(data.get("valid", []))
    counts: dict[str, int] = {}
    for root in roots:
        folders = [root] if (root / "meta.json").is_file() else [root / n for n in names]
        for folder in folders:
            try:
                meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            for item in meta.get("instructions", []):
                text = item.get("text", "") if isinstance(item, dict) else str(item)
                key = library.task_of(text) if library is not None else None
                if key:
                    counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: -counts[k])
