"""Validate episodes (read-only) and, when asked, repair them without destroying anything.

``check_episode`` only reads. It reports every defect: a meta.json that is missing or corrupt, a
crash (meta still says ``recording`` while no writer holds ``.lock``), unreadable or out-of-step
lines (every line carries its ``tick``; a deleted line shows as a gap), a video shorter or longer
than the lines, counts in meta that disagree with the files. A damaged episode is never "ok".

``repair_episode`` is explicit. It keeps every good line in its place (a lost tick becomes a
placeholder flagged ``lost`` that exporters skip, so frame i still belongs to line i), cuts only the
part of the longer file that has no partner in the other, and keeps each file it replaces next to it
as ``<name>.orig-<time>``: a repair can always be undone by hand. The video is cut by copying
packets (no re-encoding: no B-frames) into a regular indexed MP4 and verified before anything is
renamed. If nothing is usable it only marks meta ``broken`` (its old meta kept) and leaves the data.

``recover_crashed`` is the sweep at every recording start. It finishes only episodes whose meta
says ``recording`` and whose writer is dead, and only when the repair is a crash's: a torn tail of
at most a second. Anything else is left alone for a person to look at with ``episodes check``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.actions.codec import ActionCodec
from recorder.episode_format import (
    ACTIONS,
    FPS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    LINE_KEYS,
    LOCK,
    META,
    VIDEO,
    EpisodeMeta,
    list_episodes,
    read_meta,
    write_meta,
)
from recorder.episode_reader import is_lost, parse_lines
from recorder.video import VideoError, cut, probe

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOG = logging.getLogger(__name__)
USABLE = ("complete", "stopped", "repaired")
_CUT_OFF = "(its end was cut off)"
_EPISODE_FILES = (META, ACTIONS, VIDEO, LOCK)


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


def is_being_written(folder: Path) -> bool:
    """True while a live writer holds the episode's lock."""
    lock = folder / LOCK
    if fcntl is None or not lock.exists():
        return False
    try:
        with open(lock, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def looks_like_episode(folder: Path) -> bool:
    """An episode folder even without its meta.json (a crash before the first write, a deletion)."""
    return folder.is_dir() and any((folder / name).exists() for name in _EPISODE_FILES)


def find_episodes(root: Path) -> list[Path]:
    """Like ``list_episodes``, but a folder missing meta.json is listed too: damaged, not invisible."""
    root = Path(root)
    if looks_like_episode(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if looks_like_episode(p))


# ----- reading ------------------------------------------------------------------------------------
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
    fresh = _rebuilt_meta(folder, lines)
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
class _Scan:
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


def _scan(folder: Path, *, decode: bool) -> _Scan:
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
    return _Scan(
        meta, meta_problem, lines, problems, mismatch, bool(line_problems), torn_only, raw, frames, decodable
    )


def check_episode(folder: Path, *, repair: bool = False, deep: bool = False) -> CheckReport:
    """Validate one episode; reads only. ``deep`` decodes every frame (catches a cut-off end).

    ``repair=True`` is ``repair_episode`` (kept for callers of the old signature).
    """
    folder = Path(folder)
    if repair:
        return repair_episode(folder)
    if is_being_written(folder):
        return CheckReport(folder, "recording", ok=True, problems=["being recorded now; skipped"])
    scan = _scan(folder, decode=deep)
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


def check_all(root: Path, *, repair: bool = False, deep: bool = False) -> list[CheckReport]:
    if repair:
        return repair_all(root)
    return [check_episode(folder, deep=deep) for folder in find_episodes(root)]


def repair_all(root: Path) -> list[CheckReport]:
    return [repair_episode(folder) for folder in find_episodes(root)]


def recover_crashed(root: Path) -> list[CheckReport]:
    """The start-up sweep: finish episodes a dead writer left ``recording``; touch nothing else."""
    reports = []
    for folder in list_episodes(root):
        try:
            status = read_meta(folder).status
        except (OSError, ValueError, TypeError):
            continue  # not ours to guess at: `episodes check` shows it
        if status != "recording" or is_being_written(folder):
            continue
        report = repair_episode(folder, crash_only=True)
        LOG.warning("interrupted episode: %s", report.summary())
        reports.append(report)
    return reports


# ----- repairing ----------------------------------------------------------------------------------
def repair_episode(folder: Path, *, crash_only: bool = False, max_tail: int = FPS) -> CheckReport:
    """Make the episode consistent, keeping each replaced file as ``<name>.orig-<time>``.

    ``crash_only`` (the start sweep) repairs only what a crash leaves: meta ``recording``, no bad
    line but a torn last one, at most ``max_tail`` ticks cut from the end. Otherwise nothing changes
    and the report says to run ``episodes repair``.
    """
    folder = Path(folder)
    if is_being_written(folder):
        return CheckReport(folder, "recording", ok=True, problems=["being recorded now; skipped"])
    before = check_episode(folder, deep=True)
    if before.ok:
        return before
    scan = _scan(folder, decode=True)
    lines, n = scan.lines, min(len(scan.lines), scan.decodable)
    tail = max(len(lines), scan.frames) - n
    if crash_only and not (scan.torn_tail_only and tail <= max_tail and n > 0):
        before.problems.append(
            "not a crash's torn tail: left as it is; look with `jarvis-play episodes "
            "check`, then fix with `jarvis-play episodes repair`"
        )
        return before
    meta = scan.meta or _rebuilt_meta(folder, lines)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if n == 0:
        return _mark_broken(folder, meta, before, "no tick has both a frame and a line", stamp)
    backups: list[str] = []
    try:
        backups += _replace_video(folder, scan, n, stamp)
        backups += _replace_lines(folder, scan, n, stamp)
    except (OSError, VideoError) as exc:
        return _mark_broken(folder, meta, before, f"repair failed, nothing replaced: {exc}", stamp)
    lost = sum(is_lost(line) for line in lines[:n])
    last_milli = lines[n - 1].get("milli")
    meta.repaired = {
        "at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "status_before": scan.meta.status if scan.meta is not None else None,
        "problems": before.problems[:20],
        "lines_found": len(lines) - scan.lost,
        "frames_found": scan.frames,
        "kept_ticks": n,
        "lost_ticks": lost + tail,
        "lost_lines_marked": lost,
        "tail_cut": tail,
        "lost_seconds": round((lost + tail) / FPS, 2),
        "originals": backups,
        "note": "ticks still queued in memory when a writer died are not counted",
    }
    meta.status = "repaired"
    meta.frame_count = meta.line_count = n
    if meta.ended_at is None and isinstance(last_milli, int) and last_milli:
        meta.ended_at = (
            dt.datetime.fromtimestamp(last_milli / 1000).astimezone().isoformat(timespec="seconds")
        )
    backups += _backup_meta(folder, stamp)
    meta.repaired["originals"] = backups
    write_meta(folder, meta)
    with contextlib.suppress(OSError):
        (folder / LOCK).unlink()
    log = folder / (VIDEO + ".log")  # the dead encoder's stderr: keep it only if it says something
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()
    report = CheckReport(
        folder,
        "repaired",
        frames=n,
        lines=n,
        ok=True,
        repaired=True,
        lost_ticks=lost + tail,
        problems=before.problems,
        backups=backups,
    )
    return report


def _backup_name(folder: Path, name: str, stamp: str) -> Path:
    path = folder / f"{name}.orig-{stamp}"
    k = 1
    while path.exists():
        k += 1
        path = folder / f"{name}.orig-{stamp}-{k}"
    return path


def _replace_video(folder: Path, scan: _Scan, n: int, stamp: str) -> list[str]:
    if scan.frames == n == scan.decodable:
        return []
    video, tmp = folder / VIDEO, folder / "video.repair.mp4"
    tmp.unlink(missing_ok=True)  # our own leftover from an interrupted repair
    cut(video, tmp, n)
    got = int(probe(tmp, decode=True)["frames"])
    if got != n:
        tmp.unlink(missing_ok=True)
        raise VideoError(f"cut video has {got} frames, expected {n}")
    backup = _backup_name(folder, VIDEO, stamp)
    os.replace(video, backup)
    os.replace(tmp, video)
    return [backup.name]


def _replace_lines(folder: Path, scan: _Scan, n: int, stamp: str) -> list[str]:
    if scan.raw_lines == len(scan.lines) == n and not scan.bad_lines:
        return []
    actions, tmp = folder / ACTIONS, folder / "actions.repair.jsonl"
    tmp.unlink(missing_ok=True)
    with open(tmp, "x", encoding="utf-8") as dst:
        for line in scan.lines[:n]:
            dst.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
        dst.flush()
        os.fsync(dst.fileno())
    backup = _backup_name(folder, ACTIONS, stamp)
    os.replace(actions, backup)
    os.replace(tmp, actions)
    return [backup.name]


def _backup_meta(folder: Path, stamp: str) -> list[str]:
    if not (folder / META).exists():
        return []
    backup = _backup_name(folder, META, stamp)
    shutil.copy2(folder / META, backup)
    return [backup.name]


def _rebuilt_meta(folder: Path, lines: list[dict[str, Any]]) -> EpisodeMeta:
    """A meta for an episode whose own is missing or corrupt, from what the files say."""
    meta = EpisodeMeta(mode=_mode_from_name(folder.name), status="unknown")
    text = next((line.get("instruction") for line in lines if line.get("instruction")), "")
    if text:
        meta.instructions = [{"tick": 0, "text": text}]
    meta.problems = [f"{META} was rebuilt from the data by a repair"]
    return meta


def _mark_broken(
    folder: Path, meta: EpisodeMeta, report: CheckReport, reason: str, stamp: str
) -> CheckReport:
    meta.status = "broken"
    meta.problems = [*meta.problems, *report.problems, reason]
    with contextlib.suppress(OSError):
        report.backups += _backup_meta(folder, stamp)
        write_meta(folder, meta)
    report.status, report.ok = "broken", False
    report.problems.append(reason)
    return report


# ----- helpers ------------------------------------------------------------------------------------
def _mode_from_name(name: str) -> str:
    parts = name.split("-")
    return parts[2] if len(parts) >= 4 else "unknown"


def _count_frames(video: Path, *, decode: bool) -> tuple[int, int, str | None]:
    """(packets, decodable frames, problem). Decodable equals packets when not decoding."""
    if not video.is_file():
        return 0, 0, f"{VIDEO} missing"
    try:
        info = probe(video)
    except VideoError as exc:
        return 0, 0, f"{VIDEO} unreadable: {exc}"
    problem = None
    if (info["width"], info["height"]) != (FRAME_WIDTH, FRAME_HEIGHT):
        problem = f"{VIDEO} is {info['width']}x{info['height']}, expected {FRAME_WIDTH}x{FRAME_HEIGHT}"
    elif round(float(info["fps"])) != FPS:
        problem = f"{VIDEO} runs at {info['fps']} fps, expected {FPS}"
    packets = int(info["frames"])
    if not decode:
        return packets, packets, problem
    try:
        decodable = int(probe(video, decode=True)["frames"])
    except VideoError:
        decodable = 0
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
