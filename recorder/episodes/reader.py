"""EpisodeReader: an episode folder as (frame, line) pairs, for export, replay and checks.

Line i belongs to frame i, and every line carries its ``tick``. Reading trusts the ``tick`` field,
not the line's position, so one unreadable or deleted line in the middle can neither cut the good
lines after it nor shift every later frame onto the wrong action: the gap is filled with a
placeholder line flagged ``lost`` (no data: exporters skip it) and reported as a problem. A torn
last line (the process died mid-write) is left out, and frames stop at the last decodable one.
Pairing stops at the shorter of the two, so a caller never sees a frame without its line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from model.actions.codec import ActionCodec
from model.actions.env import null_action
from recorder.episodes.format import ACTIONS, VIDEO, EpisodeMeta, read_meta
from recorder.episodes.video import read_frames

FLAG_LOST = "lost"  # a placeholder for a line that was unreadable or missing: no data, never trained on
MAX_PROBLEMS = 20  # a file of garbage gets a summary, not one message per line


def placeholder_line(tick: int, near: dict[str, Any] | None) -> dict[str, Any]:
    """The line a lost tick gets: a null action flagged ``lost``, labelled like its neighbour."""
    codec = ActionCodec()
    ids = codec.encode(null_action())
    near = near or {}
    return {
        "tick": tick,
        "milli": near.get("milli", 0),
        "mouse": {"dx": 0.0, "dy": 0.0, "dwheel": 0.0, "buttons": [], "newButtons": []},
        "keyboard": {"keys": [], "newKeys": [], "chars": ""},
        "isGuiOpen": near.get("isGuiOpen"),
        "action": codec.decode(ids)[0],
        "action_ids": ids,
        "control": near.get("control", "human"),
        "phase": near.get("phase", "none"),
        "instruction": near.get("instruction", ""),
        "flags": [FLAG_LOST],
    }


def is_lost(line: dict[str, Any]) -> bool:
    return FLAG_LOST in (line.get("flags") or ())


def parse_lines(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The lines in tick order, gaps filled with ``lost`` placeholders, and one problem per defect.

    A line is bad when it is not a JSON object or its ``tick`` is not the next unused tick number;
    later good lines keep their place. A line without its final newline is torn (written partially
    when the writer died), even if it happens to parse, and is left out.
    """
    with open(path, "rb") as f:
        raw = f.read()
    chunks = raw.split(b"\n")
    tail = chunks.pop()  # b"" when the file ends with a newline
    by_tick: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    bad = 0

    def problem(text: str) -> None:
        nonlocal bad
        bad += 1
        if bad <= MAX_PROBLEMS:
            problems.append(text)

    last = -1
    for number, chunk in enumerate(chunks, 1):
        try:
            obj = json.loads(chunk)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            problem(f"{ACTIONS} line {number} unreadable ({exc})")
            continue
        tick = obj.get("tick")
        if not isinstance(tick, int) or isinstance(tick, bool) or tick < 0:
            problem(f"{ACTIONS} line {number} has no tick number ({tick!r})")
            continue
        if tick <= last:
            problem(f"{ACTIONS} line {number} has tick {tick}, out of order after tick {last}: ignored")
            continue
        if tick != last + 1:
            missing = f"tick {last + 1}" if tick == last + 2 else f"ticks {last + 1}-{tick - 1}"
            problem(f"{ACTIONS} line {number} has tick {tick}: {missing} missing (lines out of step)")
        by_tick[tick] = obj
        last = tick
    if bad > MAX_PROBLEMS:
        problems.append(f"{ACTIONS}: {bad - MAX_PROBLEMS} more bad lines")
    if tail.strip():
        problems.append(f"{ACTIONS} ends with a torn line ({len(tail)} bytes without a newline)")
    lines: list[dict[str, Any]] = []
    for tick in range(last + 1):
        line = by_tick.get(tick)
        if line is None:
            near = lines[-1] if lines else next(iter(by_tick.values()), None)
            line = placeholder_line(tick, near)
        lines.append(line)
    return lines, problems


class EpisodeReader:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.meta: EpisodeMeta = read_meta(self.folder)
        self._lines: list[dict[str, Any]] | None = None
        self.problems: list[str] = []

    @property
    def video_path(self) -> Path:
        return self.folder / VIDEO

    @property
    def lines(self) -> list[dict[str, Any]]:
        """Line i is tick i; a lost tick is a placeholder (``is_lost``)."""
        if self._lines is None:
            self._lines, self.problems = parse_lines(self.folder / ACTIONS)
        return self._lines

    def __len__(self) -> int:
        return len(self.lines)

    def frames(self, start: int = 0, limit: int | None = None) -> Iterator[np.ndarray]:
        return read_frames(self.video_path, start=start, limit=limit)

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """(frame i, line i) for every tick present in both files, lost ticks included (flagged)."""
        return zip(self.frames(limit=len(self.lines)), self.lines, strict=False)
