"""Validate episodes and repair the ones a crash left behind.

A writer holds an flock on ``.lock`` while it lives, so an episode whose meta still says
``recording`` but whose lock is free was cut short (crash, kill -9, power loss). Repair keeps the
first ``n = min(readable lines, decodable frames)`` ticks: the video is cut by copying packets (no
re-encoding, possible because it has no B-frames) into a regular indexed MP4, the jsonl is cut to
``n`` lines, both written to temp files and renamed over the originals only after the cut video is
verified. Meta then says ``repaired`` with what was kept and lost. If nothing is usable it says
``broken`` with the reason, and the files are left untouched for a human to look at.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
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
from recorder.episode_reader import parse_lines
from recorder.video import VideoError, cut, probe

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOG = logging.getLogger(__name__)


@dataclass
class CheckReport:
    folder: Path
    status: str  # the episode's status after the check (complete, stopped, repaired, broken, recording)
    frames: int = 0
    lines: int = 0
    ok: bool = False
    repaired: bool = False
    lost_ticks: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verdict = "ok" if self.ok else "PROBLEM"
        extra = f", repaired, lost {self.lost_ticks} ticks" if self.repaired else ""
        text = (
            f"{self.folder.name}: {verdict} ({self.status}, {self.frames} frames, {self.lines} lines{extra})"
        )
        return "\n    ".join([text, *self.problems])


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


def check_episode(folder: Path, *, repair: bool = True, deep: bool = False) -> CheckReport:
    """Validate one episode; with ``repair``, fix a crashed or inconsistent one in place.

    ``deep`` decodes every frame instead of counting packets (slower; done anyway when repairing).
    """
    folder = Path(folder)
    if is_being_written(folder):
        return CheckReport(folder, "recording", ok=True, problems=["being recorded now; skipped"])
    problems: list[str] = []
    try:
        meta = read_meta(folder)
    except (OSError, ValueError) as exc:
        problems.append(f"{META} unreadable ({exc}); rebuilt from the data")
        meta = EpisodeMeta(mode=_mode_from_name(folder.name), status="recording")
    crashed = meta.status == "recording"
    if crashed:
        problems.append("the recording was cut short (crash or kill): meta still says 'recording'")

    lines: list[dict[str, Any]] = []
    if (folder / ACTIONS).is_file():
        lines, line_problems = parse_lines(folder / ACTIONS)
        problems += line_problems
    else:
        problems.append(f"{ACTIONS} missing")
    problems += _check_lines(lines)

    frames, decodable, video_problem = _count_frames(folder / VIDEO, decode=deep or crashed)
    if video_problem:
        problems.append(video_problem)

    n = min(len(lines), decodable)
    consistent = (
        not problems
        and frames == decodable == len(lines)
        and meta.frame_count == meta.line_count == len(lines)
    )
    report = CheckReport(folder, meta.status, frames=frames, lines=len(lines), problems=problems)
    if consistent:
        report.ok = meta.status in ("complete", "stopped", "repaired")
        if not report.ok:
            report.problems.append(f"status is {meta.status!r}")
        return report
    if frames == decodable == len(lines) and meta.frame_count != len(lines) and not crashed:
        problems.append(f"meta counts ({meta.frame_count} frames) disagree with the files ({len(lines)})")
    if not repair:
        return report
    if n == 0:
        return _mark_broken(folder, meta, report, "no tick has both a frame and a line")
    try:
        _repair(folder, meta, lines, frames_found=frames, n=n)
    except (OSError, VideoError) as exc:
        return _mark_broken(folder, meta, report, f"repair failed: {exc}")
    report.status, report.repaired, report.ok = "repaired", True, True
    report.lost_ticks = max(len(lines), decodable, frames) - n
    report.frames = report.lines = n
    return report


def check_all(root: Path, *, repair: bool = True, deep: bool = False) -> list[CheckReport]:
    return [check_episode(folder, repair=repair, deep=deep) for folder in list_episodes(root)]


def recover_crashed(root: Path) -> list[CheckReport]:
    """The start-up sweep: repair (or mark broken) every episode a dead writer left behind."""
    reports = []
    for folder in list_episodes(root):
        try:
            status = read_meta(folder).status
        except (OSError, ValueError):
            status = "recording"
        if status == "recording" and not is_being_written(folder):
            report = check_episode(folder, repair=True)
            LOG.warning("recovered an interrupted episode: %s", report.summary())
            reports.append(report)
    return reports


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
        problem = f"{VIDEO}: only {decodable} of {packets} frames decode (its end was cut off)"
    return packets, decodable, problem


_CODEC: ActionCodec | None = None


def _check_lines(lines: list[dict[str, Any]]) -> list[str]:
    """Tick numbering, required fields, and that action_ids are the codec's encoding of action."""
    global _CODEC
    if _CODEC is None:
        _CODEC = ActionCodec()
    problems = []
    bad_tick = next((i for i, line in enumerate(lines) if line.get("tick") != i), None)
    if bad_tick is not None:
        problems.append(f"{ACTIONS} line {bad_tick + 1} has tick {lines[bad_tick].get('tick')!r}")
    missing = {k for line in lines for k in LINE_KEYS if k not in line}
    if missing:
        problems.append(f"{ACTIONS} lines lack fields: {', '.join(sorted(missing))}")
    elif lines:
        encoded = _CODEC.encode_batch([line["action"] for line in lines])
        wrong = sum(ids != line["action_ids"] for ids, line in zip(encoded, lines, strict=True))
        if wrong:
            problems.append(f"{wrong} lines' action_ids are not the codec's encoding of their action")
    return problems


def _repair(
    folder: Path, meta: EpisodeMeta, lines: list[dict[str, Any]], *, frames_found: int, n: int
) -> None:
    video, actions = folder / VIDEO, folder / ACTIONS
    tmp_video = folder / "video.repair.mp4"
    tmp_actions = folder / "actions.repair.jsonl"
    for tmp in (tmp_video, tmp_actions):
        tmp.unlink(missing_ok=True)  # our own leftovers from an interrupted repair
    if frames_found != n:
        cut(video, tmp_video, n)
        got = int(probe(tmp_video, decode=True)["frames"])
        if got != n:
            tmp_video.unlink(missing_ok=True)
            raise VideoError(f"cut video has {got} frames, expected {n}")
    if len(lines) != n or _raw_line_count(actions) != n:
        with open(actions, "rb") as src, open(tmp_actions, "xb") as dst:
            for _ in range(n):
                dst.write(src.readline())
            dst.flush()
            os.fsync(dst.fileno())
    if tmp_video.exists():
        os.replace(tmp_video, video)
    if tmp_actions.exists():
        os.replace(tmp_actions, actions)
    lost = max(len(lines), frames_found) - n
    last_milli = lines[n - 1].get("milli")
    meta.repaired = {
        "at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "status_before": meta.status,
        "lines_found": len(lines),
        "frames_found": frames_found,
        "kept_ticks": n,
        "lost_ticks": lost,
        "lost_seconds": round(lost / FPS, 2),
        "note": "ticks still queued in memory when the writer died are not counted",
    }
    meta.status = "repaired"
    meta.frame_count = meta.line_count = n
    if meta.ended_at is None and isinstance(last_milli, int):
        meta.ended_at = (
            dt.datetime.fromtimestamp(last_milli / 1000).astimezone().isoformat(timespec="seconds")
        )
    write_meta(folder, meta)
    with contextlib.suppress(OSError):
        (folder / LOCK).unlink()
    log = folder / (VIDEO + ".log")  # the dead encoder's stderr: keep it only if it says something
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()


def _raw_line_count(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _mark_broken(folder: Path, meta: EpisodeMeta, report: CheckReport, reason: str) -> CheckReport:
    meta.status = "broken"
    meta.problems = [*report.problems, reason]
    with contextlib.suppress(OSError):
        write_meta(folder, meta)
    report.status, report.ok = "broken", False
    report.problems.append(reason)
    return report
