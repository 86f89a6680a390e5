"""EpisodeWriter/EpisodeReader: round trip, alignment, no overwrite, and disk errors that never stop play."""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recorder.episodes import writer as episode_writer
from recorder.episodes.check import check_episode
from recorder.episodes.format import ACTIONS, LOCK, VIDEO, EpisodeMeta, read_meta
from recorder.episodes.reader import EpisodeReader
from recorder.episodes.writer import EpisodeWriter
from tests.recorder.episodes.synth import line_for, read_tick, tick_frame, write_episode
from tests.tmpfs import tmpfs


def test_round_trip_frame_i_belongs_to_line_i(tmp_path: Path) -> None:
    folder = write_episode(tmp_path, 45)
    meta = read_meta(folder)
    assert (meta.status, meta.frame_count, meta.line_count, meta.dropped_ticks) == ("complete", 45, 45, 0)
    reader = EpisodeReader(folder)
    pairs = list(reader)
    assert len(pairs) == len(reader) == 45
    for frame, line in pairs:
        assert frame.shape == (360, 640, 3)
        assert read_tick(frame) == line["tick"]
    assert [line["tick"] for _, line in pairs] == list(range(45))
    assert not (folder / LOCK).exists()
    report = check_episode(folder, deep=True)
    assert report.ok and (report.frames, report.lines) == (45, 45), report.summary()


def test_lines_are_vpt_shaped_json(tmp_path: Path) -> None:
    folder = write_episode(tmp_path, 3)
    raw = (folder / ACTIONS).read_text().splitlines()
    assert len(raw) == 3
    line = json.loads(raw[1])
    assert line["tick"] == 1 and isinstance(line["milli"], int)
    assert set(line["mouse"]) >= {"dx", "dy", "buttons", "newButtons"}
    assert set(line["keyboard"]) >= {"keys", "newKeys"}


def test_nothing_is_overwritten(tmp_path: Path, monkeypatch: Any) -> None:
    first = write_episode(tmp_path, 5)
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    # force the random suffix to collide with the existing folder once
    suffix = first.name.rsplit("-", 1)[1]
    names = iter([suffix, "abcdef"])
    monkeypatch.setattr(episode_writer.secrets, "token_hex", lambda n: next(names))
    monkeypatch.setattr(episode_writer.time, "strftime", lambda fmt, t=None: first.name.split("-teleop")[0])
    second = write_episode(tmp_path, 5)
    assert second != first and second.name.endswith("abcdef")
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before


def test_unwritable_folder_is_a_clear_error_and_play_continues(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    errors: list[str] = []
    writer = EpisodeWriter(blocker / "episodes", EpisodeMeta(), on_error=errors.append)
    assert writer.start() is False
    assert writer.status == "error"
    assert errors == [writer.error]
    assert writer.error is not None and "cannot write" in writer.error and "play continues" in writer.error
    assert writer.submit(tick_frame(0), line_for(0)) is False  # no exception into the loop
    writer.close()  # also harmless


class _FullDisk:
    """A jsonl file whose disk fills up after ``room`` lines."""

    def __init__(self, path: Path, room: int) -> None:
        self._f = open(path, "x", encoding="utf-8")  # noqa: SIM115
        self.room = room

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        return self._f.write(text)

    def flush(self) -> None:
        self._f.flush()

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        self._f.close()


def test_full_disk_stops_recording_without_raising(tmp_path: Path) -> None:
    errors: list[str] = []
    writer = EpisodeWriter(
        tmp_path, EpisodeMeta(), on_error=errors.append, open_lines=lambda p: _FullDisk(p, room=6)
    )
    assert writer.start()
    accepted = 0
    for i in range(40):  # the loop keeps ticking; submit never raises
        accepted += writer.submit(tick_frame(i), line_for(i), block=True)
        time.sleep(0.002)
    deadline = time.monotonic() + 10
    while writer.status != "error" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.status == "error"
    assert len(errors) == 1 and "disk is full (ENOSPC)" in errors[0] and "play continues" in errors[0]
    assert writer.submit(tick_frame(99), line_for(99)) is False
    meta = writer.close()
    assert meta.status == "stopped" and meta.error == errors[0]
    assert writer.folder is not None
    # what was written before the disk filled is a valid episode after a check
    report = check_episode(writer.folder)
    assert report.ok, report.summary()
    assert report.frames == report.lines == 6
    assert (writer.folder / ACTIONS).read_text().count("\n") == 6  # no partial line left behind


class _SlowEncoder:
    def __init__(self, path: Path) -> None:
        self.frames = 0
        self.gate = threading.Event()

    def write(self, frame: np.ndarray) -> None:
        self.gate.wait(5)
        self.frames += 1

    def close(self) -> None:
        pass


def test_a_slow_disk_drops_whole_ticks_instead_of_blocking(tmp_path: Path) -> None:
    encoders: list[_SlowEncoder] = []

    def factory(path: Path) -> _SlowEncoder:
        encoders.append(_SlowEncoder(path))
        return encoders[-1]

    writer = EpisodeWriter(tmp_path, EpisodeMeta(), queue_seconds=0.25, encoder_factory=factory)
    assert writer.start()
    ticks = [(tick_frame(i), line_for(i)) for i in range(30)]  # made first: only the submits are timed
    start = time.perf_counter()
    results = [writer.submit(frame, line) for frame, line in ticks]
    assert time.perf_counter() - start < 1.0  # never waited for the disk
    assert results.count(False) == writer.dropped > 0
    encoders[0].gate.set()
    meta = writer.close()
    assert meta.dropped_ticks == results.count(False)
    assert meta.frame_count == meta.line_count == results.count(True) == encoders[0].frames
    assert writer.folder is not None
    ticks = [json.loads(s)["tick"] for s in (writer.folder / ACTIONS).read_text().splitlines()]
    assert ticks == list(range(len(ticks)))  # accepted ticks are numbered without gaps


def test_other_frame_sizes_are_resized(tmp_path: Path) -> None:
    writer = EpisodeWriter(tmp_path, EpisodeMeta())
    assert writer.start()
    big = np.zeros((720, 1280, 3), np.uint8)
    assert writer.submit(big, line_for(0), block=True)
    writer.close()
    assert writer.folder is not None and (writer.folder / VIDEO).stat().st_size > 0
    assert next(EpisodeReader(writer.folder).frames()).shape == (360, 640, 3)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs (needs root, as on the project's machines); skipped where it cannot be mounted."""
    with tmpfs(tmp_path / "small", "size=2m") as mount:
        yield mount


@pytest.mark.tmpfs
def test_a_real_full_disk_names_the_disk_once_and_leaves_a_clean_episode(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[str] = []
    writer = EpisodeWriter(small_disk / "eps", EpisodeMeta(), on_error=errors.append)
    assert writer.start()
    for i in range(2000):  # 2 MB holds a few dozen of these noisy frames
        writer.submit(tick_frame(i), line_for(i), block=True)
        if not writer.recording:
            break
    assert not writer.recording and writer.status == "error"  # the REC state ends
    meta = writer.close()
    assert len(errors) == 1, errors
    assert "the disk is full (ENOSPC)" in errors[0] and f"at {small_disk};" in errors[0], errors[0]
    assert "Broken pipe" not in errors[0]
    assert sum("disk is full" in r.getMessage() for r in caplog.records) <= 1  # the callback reports it
    assert writer.folder is not None
    assert not [p.name for p in writer.folder.iterdir() if ".tmp" in p.name]  # no torn temporary left
    assert read_meta(writer.folder).status == meta.status == "stopped"
    report = check_episode(writer.folder, deep=True)
    assert report.ok, report.summary()
    pairs = list(EpisodeReader(writer.folder))
    assert len(pairs) > 5 and all(read_tick(f) == line["tick"] for f, line in pairs)
