"""Fine-tune runs as folders: a fresh one per run, what a finished or unfinished one holds, which
episodes an adapter was trained on and which it never saw, the adapters the app trained with their
figures, and a steady time-left estimate.

Qt-free helpers for the fine-tune panel. A run's folder is never reused: a finished adapter is never
overwritten, and only an unfinished run (checkpoints, no adapter yet) can be resumed. The trainer's
``manifest.json`` (written with the adapter) names the episodes of each split, which is how the
comparison finds held-out episodes by itself and warns when pointed at training data.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.episodes import list_episodes

RESULT = "adapter_config.json"  # present once a run finished and saved its adapter


def base_slug(model: str) -> str:
    """A folder-safe short name of the base model: ``owner/Name-7B`` -> ``Name-7B``."""
    name = Path(model.rstrip("/")).name or model
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:40] or "model"


def fresh_out(parent: Path, model: str, now: float | None = None) -> Path:
    """A new run folder under ``parent``, named by time and base; never an existing one."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    out = Path(parent) / f"{stamp}-{base_slug(model)}"
    n = 2
    while out.exists():
        out = Path(parent) / f"{stamp}-{base_slug(model)}-{n}"
        n += 1
    return out


def finished(out: str | Path) -> bool:
    return (Path(out) / RESULT).is_file()


def unfinished(out: str | Path) -> bool:
    """A run that stopped before its adapter was saved and left a checkpoint: Resume continues it."""
    out = Path(out)
    return not finished(out) and any((out / "checkpoints").glob("step-*/state.pt"))


def in_use(out: str | Path) -> bool:
    """Anything there (an adapter, a run, other files): a new run must not write into it."""
    out = Path(out)
    return out.exists() and (not out.is_dir() or any(out.iterdir()))


def manifest(adapter: str | Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(adapter) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _split(adapter: str | Path) -> tuple[list[str], list[str], list[str]]:
    """(train names, valid names, episode roots) from the adapter's manifest (empty when absent)."""
    data = manifest(adapter) or {}
    episodes = data.get("episodes") or {}
    settings = data.get("settings") or {}
    return (
        list(episodes.get("train") or []),
        list(episodes.get("valid") or []),
        list(settings.get("episodes") or []),
    )


def held_out(adapter: str | Path) -> list[Path]:
    """The episodes the adapter's run kept for validation (split by episode), found again on disk."""
    train, valid, roots = _split(adapter)
    wanted = set(valid) - set(train)  # a lone episode split by ticks is in both: not held out
    found: dict[str, Path] = {}
    for root in roots:
        for folder in list_episodes(Path(root)):
            if folder.name in wanted:
                found.setdefault(folder.name, folder)
    return [found[name] for name in sorted(found)]


def trained_on(adapter: str | Path, folders: list[str]) -> list[str]:
    """Names of the episodes in ``folders`` that the adapter was trained on."""
    train, _valid, _roots = _split(adapter)
    names = set(train)
    return sorted({f.name for folder in folders for f in list_episodes(Path(folder)) if f.name in names})


def held_out_missing(train_episodes: int, valid_episodes: int, valid_samples: int) -> str:
    """Why a run has no held-out figure, in words (validation needs episodes it never trains on)."""
    if valid_episodes == 0 and train_episodes <= 1:
        return "no held-out figure: a single episode leaves none to hold out (record two or more)"
    if valid_episodes == 0:
        return "no held-out figure: this run held out no episode (its validation share is 0)"
    if valid_samples == 0:
        return (
            "no held-out figure: the held-out episodes had no usable ticks (all no-ops, or failures left out)"
        )
    return ""


@dataclass(frozen=True)
class TrainedAdapter:
    """One row of the Adapters tab: an adapter the app trained, with what its run and evaluations say."""

    folder: Path
    trained: str  # when its run finished, local time
    base: str
    steps: int | None
    held_out: str  # the last held-out figure (right kind of action, balanced over kinds), or a dash
    held_out_why: str  # what the figure is, or why there is none
    evaluation: str  # the latest evaluation in play, or "not evaluated yet"
    held_out_headline: str = ""  # the held-out figure in one sentence
    warnings: tuple[str, ...] = ()  # what the held-out figures say did not work, in words

    @property
    def name(self) -> str:
        return self.folder.name


@dataclass(frozen=True)
class HeldOut:
    """An adapter's last held-out figure as the Adapters tab shows it."""

    cell: str  # "92% of 24", "⚠ 50% of 24" with a warning, or a dash
    why: str  # the cell's tooltip: what the figure is, or why there is none
    headline: str  # one sentence under the list
    warnings: tuple[str, ...] = ()


def _held_out(data: dict[str, Any]) -> HeldOut:
    """The last held-out figure: the right kind of action balanced over kinds (the headline the run
    reported), or a dash and why there is none. A run from before that figure existed shows its
    exact-action accuracy, named as such."""
    episodes = data.get("episodes") or {}
    figures = [m for m in data.get("metrics") or [] if isinstance(m, dict)]
    samples = int(episodes.get("valid_samples") or 0)
    last = figures[-1] if figures else {}
    warnings = tuple(str(w) for w in (last.get("warnings") or data.get("warnings") or []))
    mark = "⚠ " if warnings else ""
    if "kind_accuracy" in last:
        measured = int(last.get("samples") or samples)
        rate = float(last["kind_accuracy"])
        what = f"the right kind of action on {rate:.0%} of {measured} held-out ticks, balanced over kinds"
        return HeldOut(
            f"{mark}{rate:.0%} of {measured}",
            f"{what} at the last evaluation (one answer whatever it sees scores 1/K)"
            + "".join(f"\nWarning: {w}" for w in warnings),
            f"Held out: {what}.",
            warnings,
        )
    exact = [m for m in figures if "action_accuracy" in m]
    if exact:
        rate = float(exact[-1]["action_accuracy"])
        return HeldOut(
            f"{mark}{rate:.0%} of {samples}",
            f"action accuracy on {samples} held-out ticks at the last evaluation",
            f"Held out: the exact action on {rate:.0%} of {samples} ticks.",
            warnings,
        )
    why = held_out_missing(len(episodes.get("train") or []), len(episodes.get("valid") or []), samples)
    why = why or "no held-out figure: the run measured none"
    return HeldOut("– (why?)", why, f"{why[:1].upper()}{why[1:]}.", warnings)


def _evaluation_text(folder: Path, history: list[dict[str, Any]]) -> str:
    """The adapter's latest evaluation in play, beside the base in the same run when it had one."""
    mine = [row for row in history if row.get("adapter") and Path(str(row["adapter"])) == folder]
    if not mine:
        return "not evaluated yet"
    last = mine[-1]
    text = f"{last.get('successes')}/{last.get('trials')} on {last.get('task')}"
    base = [row for row in history if row.get("run") == last.get("run") and not row.get("adapter")]
    if base:
        text += f" (base {base[-1].get('successes')}/{base[-1].get('trials')})"
    return text


def trained_adapters(root: Path, history: list[dict[str, Any]]) -> list[TrainedAdapter]:
    """The finished adapters under ``root`` (the app's adapters folder), newest first."""
    rows = []
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
    for folder in folders:
        if not finished(folder):
            continue
        data = manifest(folder) or {}
        made = folder / "manifest.json"
        stamp = made.stat().st_mtime if made.is_file() else (folder / RESULT).stat().st_mtime
        steps = data.get("steps_done")
        held = _held_out(data)
        rows.append(
            TrainedAdapter(
                folder=folder,
                trained=time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)),
                base=base_slug(str(data.get("base_model") or "?")),
                steps=int(steps) if isinstance(steps, int) else None,
                held_out=held.cell,
                held_out_why=held.why,
                held_out_headline=held.headline,
                evaluation=_evaluation_text(folder, history),
                warnings=held.warnings,
            )
        )
    return sorted(rows, key=lambda r: (r.trained, r.name), reverse=True)


@dataclass
class SteadyEta:
    """Time left from the average step time since this run (re)started: total elapsed / steps done.

    The trainer's own estimate follows the last steps and swings with evaluations and checkpoints;
    the average over the whole run moves slowly, and the shown value is rounded to whole minutes
    (half minutes under ten), so it does not jump."""

    clock: Any = time.monotonic
    _start: tuple[float, int] | None = field(default=None, init=False)

    def reset(self) -> None:
        self._start = None

    def update(self, step: int, steps: int) -> float | None:
        now = self.clock()
        if self._start is None or step < self._start[1]:
            self._start = (now, step)
            return None
        t0, s0 = self._start
        done = step - s0
        if done <= 0 or steps <= step:
            return 0.0 if steps and step >= steps else None
        return (now - t0) / done * (steps - step)

    @staticmethod
    def text(seconds: float | None) -> str:
        if seconds is None:
            return "measuring speed…"
        minutes = seconds / 60
        if minutes < 1:
            return "under a minute left"
        if minutes < 10:
            return f"about {round(minutes * 2) / 2:g} min left"
        return f"about {round(minutes):d} min left"
