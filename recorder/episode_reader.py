"""EpisodeReader: an episode folder as (frame, line) pairs, for export, replay and checks.

Reading is tolerant the way a crashed file needs: a torn last jsonl line (the process died
mid-write) is skipped rather than fatal, and frames stop at the last decodable one. Pairing stops at
the shorter of the two, so a caller never sees a frame without its line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from recorder.episode_format import ACTIONS, VIDEO, EpisodeMeta, read_meta
from recorder.video import read_frames


def parse_lines(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The jsonl lines up to the first unreadable one, and a problem description per defect.

    A line without its final newline is treated as torn (written partially when the writer died),
    even if it happens to parse.
    """
    lines: list[dict[str, Any]] = []
    problems: list[str] = []
    with open(path, "rb") as f:
        raw = f.read()
    chunks = raw.split(b"\n")
    tail = chunks.pop()  # b"" when the file ends with a newline
    for number, chunk in enumerate(chunks, 1):
        try:
            obj = json.loads(chunk)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            problems.append(f"{ACTIONS} line {number} unreadable ({exc}); it and later lines are ignored")
            return lines, problems
        lines.append(obj)
    if tail.strip():
        problems.append(f"{ACTIONS} ends with a torn line ({len(tail)} bytes without a newline)")
    return lines, problems


class EpisodeReader:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.meta: EpisodeMeta = read_meta(self.folder)
        self._lines: list[dict[str, Any]] | None = None

    @property
    def video_path(self) -> Path:
        return self.folder / VIDEO

    @property
    def lines(self) -> list[dict[str, Any]]:
        if self._lines is None:
            self._lines, _ = parse_lines(self.folder / ACTIONS)
        return self._lines

    def __len__(self) -> int:
        return len(self.lines)

    def frames(self, start: int = 0, limit: int | None = None) -> Iterator[np.ndarray]:
        return read_frames(self.video_path, start=start, limit=limit)

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """(frame i, line i) for every tick present in both files."""
        return zip(self.frames(limit=len(self.lines)), self.lines, strict=False)
