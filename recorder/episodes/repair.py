"""Repair episodes when a person (or the start-up sweep) asks, without destroying anything.

``repair_episode`` keeps every good line in its place (a lost tick becomes a placeholder flagged
``lost`` that exporters skip, so frame i still belongs to line i), cuts only the part of the longer
file that has no partner in the other, and keeps each file it replaces next to it as
``<name>.orig-<time>``: a repair can always be undone by hand. The video is cut by copying packets
(no re-encoding: no B-frames) into a regular indexed MP4 and verified before anything is renamed. If
nothing is usable it only marks meta ``broken`` (its old meta kept) and leaves the data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from pathlib import Path

from recorder.episodes.check import CheckReport, Scan, rebuilt_meta, report_of, scan_episode
from recorder.episodes.find import find_episodes, is_being_written
from recorder.episodes.format import ACTIONS, FPS, LOCK, META, VIDEO, EpisodeMeta, write_meta
from recorder.episodes.reader import is_lost
from recorder.episodes.video import VideoError, cut, probe
from recorder.files import atomic_open, keep_copy, move_into_place


def repair_episode(folder: Path, *, crash_only: bool = False, max_tail: int = FPS) -> CheckReport:
    """Make the episode consistent, keeping each replaced file as ``<name>.orig-<time>``.

    ``crash_only`` (the start sweep) repairs only what a crash leaves: meta ``recording``, no bad
    line but a torn last one, at most ``max_tail`` ticks cut from the end. Otherwise nothing changes
    and the report says to run ``episodes repair``.
    """
    folder = Path(folder)
    if is_being_written(folder):
        return CheckReport(folder, "recording", ok=True, problems=["being recorded now; skipped"])
    scan = scan_episode(folder, decode=True)
    before = report_of(folder, scan)
    if before.ok:
        return before
    lines, n = scan.lines, min(len(scan.lines), scan.decodable)
    tail = max(len(lines), scan.frames) - n
    if crash_only and not (scan.torn_tail_only and tail <= max_tail and n > 0):
        before.problems.append(
            "not a crash's torn tail: left as it is; look with `jarvis-play episodes "
            "check`, then fix with `jarvis-play episodes repair`"
        )
        return before
    meta = scan.meta or rebuilt_meta(folder, lines)
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


def _replace_video(folder: Path, scan: Scan, n: int, stamp: str) -> list[str]:
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
    keep_copy(video, backup)
    move_into_place(tmp, video)
    return [backup.name]


def _replace_lines(folder: Path, scan: Scan, n: int, stamp: str) -> list[str]:
    if scan.raw_lines == len(scan.lines) == n and not scan.bad_lines:
        return []
    actions = folder / ACTIONS
    backup = _backup_name(folder, ACTIONS, stamp)
    keep_copy(actions, backup)
    with atomic_open(actions) as dst:
        for line in scan.lines[:n]:
            dst.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
    return [backup.name]


def _backup_meta(folder: Path, stamp: str) -> list[str]:
    if not (folder / META).exists():
        return []
    backup = _backup_name(folder, META, stamp)
    keep_copy(folder / META, backup)
    return [backup.name]


def repair_all(root: Path) -> list[CheckReport]:
    return [repair_episode(folder) for folder in find_episodes(root)]


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
