"""Validate episodes; reads only.

``check_episode`` reports every defect: a meta.json that is missing or corrupt, a crash (meta still
says ``recording`` while no writer holds ``.lock``), unreadable or out-of-step lines (every line
carries its ``tick``; a deleted line shows as a gap), a video shorter or longer than the lines,
counts in meta that disagree with the files. A damaged episode is never "ok". Fixing is
``recorder.episodes.repair``'s job, and only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.actions.codec import ActionCodec
from recorder.episodes.find import find_episodes, is_being_written
from recorder.episodes.format import (
    ACTIONS,
    FPS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    LINE_KEYS,
    META,
    VIDEO,
    EpisodeMeta,
    read_meta,
)
from recorder.episodes.reader import is_lost, parse_lines
from recorder.episodes.video import VideoError, probe

USABLE = ("complete", "stopped", "repaired")
_CUT_OFF = "(its end was cut off)"


@dataclass
class CheckReport:
    folder: Path
    status: str  # the episode's status (complete, stopped, repaired, broken, recording, unknown)
    frames: int = 0
    lines: int = 0
    ok: bool = False
    repaired: bool = False
    lost_ticks: int = 0  # ticks without data: placeholders for lost lines plus a cut tail
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong
    backups: list[str] = field(default_factory=list)  # originals a repair kept, file names in folder

    def summary(self) -> str:
        verdict = "ok" if self.ok else ("BROKEN" if self.status == "broken" else "DAMAGED")
        extra = ""
        if self.repaired:
            extra = f", repaired, {self.lost_ticks} ticks without data"
            if self.backups:
                extra += f"; originals kept as {', '.join(self.backups)}"
        elif self.ok and self.lost_ticks:
            extra = f", {self.lost_ticks} ticks marked lost"
        text = (
            f"{self.folder.name}: {verdict} ({self.status}, {self.frames} frames, {self.lines} lines{extra})"
        )
        return "\n    ".join([text, *self.problems, *self.notes])


_META_TYPES: dict[str, Any] = {
    "mode": str, "status": str, "outcome": str, "frame_count": int, "line_count": int, "fps": int,
    "dropped_ticks": int, "instructions": list, "corrections": list, "problems": list, "frame_size": list,
}  # fmt: skip


def meta_problems(meta: EpisodeMeta) -> list[str]:
    """Fields of a parsed meta.json whose values have the wrong type or range (hand edits, other tools)."""
    problems = []
    for name, kind in _META_TYPES.items():
        value = getattr(meta, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            problems.append(f"{META}: {name} is {value!r}, not a {kind.__name__}")
        elif kind is int and value < (1 if name == "fps" else 0):
            problems.append(f"{META}: {name} is {value!r}")
    if isinstance(meta.instructions, list) and not all(
        isinstance(i, str) or (isinstance(i, dict) and isinstance(i.get("text"), str))
        for i in meta.instructions
    ):
        problems.append(f"{META}: instructions must be a list of {{tick, text}}")
    if isinstance(meta.corrections, list) and not all(
        isinstance(c, dict) and all(isinstance(c.get(k), int) for k in ("start", "end"))
        for c in meta.corrections
    ):
        problems.append(f"{META}: corrections must be a list of {{start, end, context_start}}")
    return problems


def _sane_meta(meta: EpisodeMeta, folder: Path, lines: list[dict[str, Any]]) -> EpisodeMeta:
    """``meta`` with each field of the wrong type reset to what the files say (or its default)."""
    bad = meta_problems(meta)
    if not bad:
        return meta
    fresh = rebuilt_meta(folder, lines)
    for name in _META_TYPES:
        if any(p.startswith(f"{META}: {name} ") for p in bad):
            setattr(meta, name, getattr(fresh, name))
    if any("instructions must" in p for p in bad):
        meta.instructions = fresh.instructions
    if any("corrections must" in p for p in bad):
        meta.corrections = []
    meta.problems = [*(meta.problems if isinstance(meta.problems, list) else []), *bad]
    return meta


@dataclass
class Scan:
    meta: EpisodeMeta | None
    meta_problem: str | None
    lines: list[dict[str, Any]]
    problems: list[str]  # everything wrong except meta's own state and the files' lengths
    mismatch: str | None  # video and lines differ in length
    bad_lines: bool  # actions.jsonl has unreadable, torn or out-of-step lines
    torn_tail_only: bool  # the only line defect is a torn last line (what a crash leaves)
    raw_lines: int
    frames: int  # packets
    decodable: int

    @property
    def lost(self) -> int:
        return sum(is_lost(line) for line in self.lines)


def scan_episode(folder: Path, *, decode: bool) -> Scan:
    meta, meta_problem = None, None
    if not (folder / META).exists():
        meta_problem = f"{META} missing"
    else:
        try:
            meta = read_meta(folder)
        except (OSError, ValueError, TypeError) as exc:
            meta_problem = f"{META} unreadable ({exc})"
        else:
            wrong = meta_problems(meta)
            if wrong:
                meta_problem = "; ".join(wrong)
    problems: list[str] = []
    lines: list[dict[str, Any]] = []
    line_problems: list[str] = []
    raw = 0
    if (folder / ACTIONS).is_file():
        try:
            lines, line_problems = parse_lines(folder / ACTIONS)
            raw = _raw_line_count(folder / ACTIONS)
        except OSError as exc:
            line_problems = [f"{ACTIONS} unreadable ({exc})"]
    else:
        line_problems = [f"{ACTIONS} missing"]
    if meta is not None and meta_problem:  # wrong types: work on (and a repair writes) a sane copy
        meta = _sane_meta(meta, folder, lines)
    problems += line_problems + _check_lines([line for line in lines if not is_lost(line)])
    torn_only = all("torn line" in p for p in line_problems) and len(problems) == len(line_problems)
    crashed = meta is not None and meta.status == "recording"
    frames, decodable, video_problem = _count_frames(folder / VIDEO, decode=decode or crashed)
    if video_problem:
        problems.append(video_problem)
    mismatch = None
    if (folder / VIDEO).is_file() and decodable != len(lines):
        if decodable < len(lines):
            mismatch = (
                f"{VIDEO} has {decodable} frames for {len(lines)} lines: "
                f"the last {len(lines) - decodable} lines have no frame"
            )
        else:
            mismatch = (
                f"{VIDEO} has {decodable} frames for {len(lines)} lines: "
                f"the last {decodable - len(lines)} frames have no line"
            )
    return Scan(
        meta, meta_problem, lines, problems, mismatch, bool(line_problems), torn_only, raw, frames, decodable
    )


def check_episode(folder: Path, *, deep: bool = False) -> CheckReport:
    """Validate one episode; reads only. ``deep`` decodes every frame (catches a cut-off end)."""
    folder = Path(folder)
    if is_being_written(folder):
        return CheckReport(folder, "recording", ok=True, problems=["being recorded now; skipped"])
    return report_of(folder, scan_episode(folder, decode=deep))


def report_of(folder: Path, scan: Scan) -> CheckReport:
    """The verdict on what ``scan_episode`` found (a repair reuses its scan: decoding costs)."""
    meta = scan.meta
    problems = list(scan.problems)
    if scan.meta_problem:
        problems.insert(0, scan.meta_problem)
    status = meta.status if meta is not None else "unknown"
    notes = []
    usable = min(scan.decodable, len(scan.lines))
    if status == "stopped" and abs(scan.decodable - len(scan.lines)) <= FPS:
        # the disk error that stopped the writer caught its last tick half-written: expected, not damage
        cut_end = [p for p in problems if p.endswith(_CUT_OFF)]
        if len(cut_end) == len(problems):
            tail = [*cut_end, *([scan.mismatch] if scan.mismatch else [])]
            notes += [
                f"note: {t} (by the error that stopped the recording; {usable} whole ticks)" for t in tail
            ]
            problems = []
        elif scan.mismatch:
            problems.append(scan.mismatch)
    elif scan.mismatch:
        problems.append(scan.mismatch)
    if meta is not None:
        if meta.status == "recording":
            problems.insert(0, "the recording was cut short (crash or kill): meta still says 'recording'")
        elif meta.status not in USABLE:
            problems.insert(
                0, f"status is {meta.status!r}" + (f": {meta.problems[-1]}" if meta.problems else "")
            )
        elif not problems and not notes and (meta.frame_count, meta.line_count) != (usable, usable):
            problems.append(
                f"meta counts ({meta.frame_count} frames, {meta.line_count} lines) disagree "
                f"with the files ({scan.frames}, {len(scan.lines)})"
            )
    report = CheckReport(
        folder,
        status,
        frames=scan.frames,
        lines=len(scan.lines),
        problems=problems,
        lost_ticks=scan.lost,
        notes=notes,
    )
    report.ok = not problems and status in USABLE
    return report


def check_all(root: Path, *, deep: bool = False) -> list[CheckReport]:
    return [check_episode(folder, deep=deep) for folder in find_episodes(root)]


def rebuilt_meta(folder: Path, lines: list[dict[str, Any]]) -> EpisodeMeta:
    """A meta for an episode whose own is missing or corrupt, from what the files say."""
    meta = EpisodeMeta(mode=_mode_from_name(folder.name), status="unknown")
    text = next((line.get("instruction") for line in lines if line.get("instruction")), "")
    if text:
        meta.instructions = [{"tick": 0, "text": text}]
    meta.problems = [f"{META} was rebuilt from the data by a repair"]
    return meta


def _mode_from_name(name: str) -> str:
    parts = name.split("-")
    return parts[2] if len(parts) >= 4 else "unknown"


def _count_frames(video: Path, *, decode: bool) -> tuple[int, int, str | None]:
    """(packets, decodable frames, problem). Decodable equals packets when not decoding."""
    if not video.is_file():
        return 0, 0, f"{VIDEO} missing"
    decodable: int | None = None
    try:
        info = probe(video, decode=decode)
    except VideoError as exc:
        if not decode:
            return 0, 0, f"{VIDEO} unreadable: {exc}"
        try:  # it reads, but does not decode
            info, decodable = probe(video), 0
        except VideoError as unreadable:
            return 0, 0, f"{VIDEO} unreadable: {unreadable}"
    problem = None
    if (info["width"], info["height"]) != (FRAME_WIDTH, FRAME_HEIGHT):
        problem = f"{VIDEO} is {info['width']}x{info['height']}, expected {FRAME_WIDTH}x{FRAME_HEIGHT}"
    elif round(float(info["fps"])) != FPS:
        problem = f"{VIDEO} runs at {info['fps']} fps, expected {FPS}"
    packets = int(info["packets"])
    if not decode:
        return packets, packets, problem
    if decodable is None:
        decodable = int(info["frames"])
    if decodable < packets and problem is None:
        problem = f"{VIDEO}: only {decodable} of {packets} frames decode {_CUT_OFF}"
    return packets, decodable, problem


_CODEC: ActionCodec | None = None


def _check_lines(lines: list[dict[str, Any]]) -> list[str]:
    """Required fields, and that action_ids are the codec's encoding of action."""
    global _CODEC
    if _CODEC is None:
        _CODEC = ActionCodec()
    problems = []
    missing = {k for line in lines for k in LINE_KEYS if k not in line}
    if missing:
        problems.append(f"{ACTIONS} lines lack fields: {', '.join(sorted(missing))}")
        return problems
    if lines:
        try:
            encoded = _CODEC.encode_batch([line["action"] for line in lines])
        except (KeyError, TypeError, ValueError) as exc:
            return [f"{ACTIONS} has actions the codec cannot read ({exc})"]
        wrong = sum(ids != line["action_ids"] for ids, line in zip(encoded, lines, strict=True))
        if wrong:
            problems.append(f"{wrong} lines' action_ids are not the codec's encoding of their action")
    return problems


def _raw_line_count(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)
