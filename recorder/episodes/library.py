"""The recordings folder as a library: list episodes, fix their labels, play them back, delete them.

Qt-free, so the window's episodes panel stays a thin view and tests drive every operation on
synthetic episodes. Edits never leave a half-written file: meta.json goes through ``write_meta``
and a new actions.jsonl replaces the old one as a whole (both through ``recorder.files``), with
exactly as many lines as before, so frame i still belongs to line i. An episode a recorder is still
writing is refused. Deleting moves the folder to the desktop trash (``trash``), so a wrong click can
be undone from the file manager.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recorder.episodes.check import meta_problems
from recorder.episodes.find import find_episodes, is_being_written
from recorder.episodes.format import ACTIONS, FPS, OUTCOMES, EpisodeMeta, read_meta, write_meta
from recorder.episodes.reader import EpisodeReader, parse_lines
from recorder.episodes.trash import move_to_trash
from recorder.errors import RecorderError
from recorder.files import atomic_open

LOG = logging.getLogger(__name__)


class LibraryError(RecorderError, RuntimeError):
    """An edit that could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class EpisodeSummary:
    """One row of the episodes list (read from meta.json only: listing stays fast)."""

    folder: Path
    meta: EpisodeMeta | None  # None: meta.json unreadable (``problem`` says why)
    problem: str = ""

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def instruction(self) -> str:
        return self.meta.first_instruction if self.meta else ""

    @property
    def frames(self) -> int:
        return self.meta.frame_count if self.meta else 0

    @property
    def seconds(self) -> float:
        return self.frames / (self.meta.fps or FPS) if self.meta else 0.0

    def label(self) -> str:
        """The list's text: when, how long, outcome, what was asked."""
        if self.meta is None:
            return f"{self.name} — unreadable: {self.problem}"
        m = self.meta
        corrections = f", {len(m.corrections)} corrections" if m.corrections else ""
        return (
            f"{self.name} · {m.mode} · {self.seconds:.1f} s{corrections} · {m.outcome} · "
            f"{self.instruction or '(no instruction)'}"
        )


def default_root() -> Path:
    """Where episodes go when nobody chose a folder: the platform's per-user data folder."""
    from platformdirs import user_data_dir  # optional: absent on a bare GPU machine (make gpu-check)

    return Path(user_data_dir("jarvis-play")) / "episodes"


def list_library(root: Path) -> list[EpisodeSummary]:
    """Every episode under ``root``, newest first; one with a missing or corrupt meta.json is listed
    with its problem (damaged, not invisible)."""
    rows = []
    for folder in reversed(find_episodes(root)):
        try:
            meta = read_meta(folder)
            wrong = meta_problems(meta)
            if wrong:
                raise ValueError("; ".join(wrong))
            rows.append(EpisodeSummary(folder, meta))
        except FileNotFoundError:
            missing = "meta.json missing; `jarvis-play episodes repair` rebuilds it"
            rows.append(EpisodeSummary(folder, None, missing))
        except (OSError, ValueError, TypeError) as exc:
            rows.append(EpisodeSummary(folder, None, str(exc)))
    return rows


def _editable(folder: Path) -> EpisodeMeta:
    if is_being_written(folder):
        raise LibraryError(f"{folder.name} is still being recorded: stop the run first, then edit it.")
    try:
        return read_meta(folder)
    except (OSError, ValueError) as exc:
        raise LibraryError(
            f"{folder.name} has no readable meta.json ({exc}): "
            "`jarvis-play episodes check` shows it; "
            "`jarvis-play episodes repair` rebuilds it."
        ) from exc


def set_outcome(folder: Path, outcome: str) -> EpisodeMeta:
    """Mark the episode a success or failure (or unknown); fine-tuning can filter on it."""
    if outcome not in OUTCOMES:
        raise LibraryError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    meta = _editable(folder)
    meta.outcome = outcome
    write_meta(folder, meta)
    return meta


def set_instruction(folder: Path, text: str) -> EpisodeMeta:
    """Relabel the whole episode with one instruction: meta.json and every line's ``instruction``.

    Lines are rewritten first (``recorder.files.atomic_open``) and meta last, so a crash in between leaves
    lines that already say the new text and a meta that still says the old: readable either way.
    """
    text = text.strip()
    if not text:
        raise LibraryError("The instruction is empty: type what the player was asked to do.")
    meta = _editable(folder)
    path = folder / ACTIONS
    try:
        lines, problems = parse_lines(path)
    except OSError as exc:
        raise LibraryError(f"Could not read {path} ({exc}).") from exc
    if problems:
        raise LibraryError(
            f"{folder.name} has damaged lines ({problems[0]}): run "
            "`jarvis-play episodes check`, then `jarvis-play episodes repair` on the folder, "
            "and try again."
        )
    try:
        with atomic_open(path) as f:
            for line in lines:
                line["instruction"] = text
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
    except OSError as exc:
        reason = exc.strerror or exc
        raise LibraryError(f"Could not rewrite {path} ({reason}); the episode is unchanged.") from exc
    meta.instructions = [{"tick": 0, "text": text}]
    write_meta(folder, meta)
    return meta


def delete(folder: Path) -> Path:
    """Move the episode to the trash; returns where it went. Raises ``TrashError`` with a fix."""
    if is_being_written(folder):
        raise LibraryError(f"{folder.name} is still being recorded: stop the run first.")
    return move_to_trash(folder)


class Player:
    """Frame-by-frame access to one episode for the player: ``step()`` decodes only the next frame.

    Seeking restarts the decoder at the wanted frame (ffmpeg ``select``), so scrubbing back costs one
    decoder start rather than decoding from the beginning in Python.
    """

    def __init__(self, folder: Path) -> None:
        self.reader = EpisodeReader(folder)
        self.lines = self.reader.lines
        self.position = -1  # index of the frame last returned
        self._frames: Iterator[np.ndarray] | None = None

    def __len__(self) -> int:
        return min(len(self.lines), self.reader.meta.frame_count or len(self.lines))

    @property
    def at_end(self) -> bool:
        return self.position >= len(self) - 1

    def seek(self, index: int) -> None:
        """The next ``step()`` returns frame ``index``."""
        self.close()
        index = max(0, min(index, len(self) - 1))
        self._frames = self.reader.frames(start=index, limit=len(self) - index)
        self.position = index - 1

    def step(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The next (frame, line), or None at the end (or where the video stops early)."""
        if self._frames is None:
            self.seek(self.position + 1)
        assert self._frames is not None
        if self.at_end:
            return None
        frame = next(self._frames, None)
        if frame is None:
            return None
        self.position += 1
        return frame, self.lines[self.position]

    def close(self) -> None:
        frames, self._frames = self._frames, None
        if frames is not None and hasattr(frames, "close"):
            frames.close()  # stops the ffmpeg child


def playback(
    folder: Path,
    fps: float = FPS,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """(frame, line) pairs at the recording's pace: frame i is due at ``start + i / fps``.

    Due times are absolute, so a slow consumer catches up instead of drifting (headless replay;
    the window paces with a timer over ``Player`` instead).
    """
    player = Player(folder)
    try:
        start = clock()
        for i in range(len(player)):
            wait = start + i / fps - clock()
            if wait > 0:
                sleep(wait)
            pair = player.step()
            if pair is None:
                return
            yield pair
    finally:
        player.close()
