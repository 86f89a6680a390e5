"""kill -9 in the middle of a recording, then check/repair: all but at most the last second survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recorder.episodes.check import check_all, check_episode
from recorder.episodes.find import is_being_written
from recorder.episodes.format import FPS, read_meta
from recorder.episodes.reader import EpisodeReader
from recorder.episodes.repair import repair_episode
from recorder.episodes.sweep import recover_crashed
from tests.recorder.episodes.synth import read_tick

REPO = Path(__file__).resolve().parents[3]


def _record_then_kill(root: Path, *, kill_encoder: bool, ticks: int = 50) -> tuple[Path, int]:
    """Start a recording child, let it accept ``ticks`` ticks, SIGKILL it. (folder, ticks accepted)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.recorder.episodes.record_child", str(root)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    folder, encoder, accepted = None, None, 0
    deadline = time.monotonic() + 30
    try:
        for raw in proc.stdout:
            key, _, value = raw.strip().partition(" ")
            if key == "folder":
                folder = Path(value)
            elif key == "encoder":
                encoder = int(value)
            elif key == "tick":
                accepted = int(value)
                if accepted >= ticks:
                    break
            assert time.monotonic() < deadline, "the recording child is too slow"
        assert folder is not None and encoder is not None
        assert is_being_written(folder)  # a live writer holds the lock
        os.kill(proc.pid, signal.SIGKILL)
        if kill_encoder:  # the worst case: the encoder dies too, with its unwritten fragment
            os.kill(encoder, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    if not kill_encoder:  # the orphaned encoder finishes the file on end of input; wait for it
        for _ in range(100):
            try:
                os.kill(encoder, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    return folder, accepted


@pytest.mark.slow  # records in child processes and kills them: ~9 s each
@pytest.mark.parametrize("kill_encoder", [False, True], ids=["writer-killed", "writer-and-encoder-killed"])
def test_kill_9_loses_at_most_one_second(tmp_path: Path, kill_encoder: bool) -> None:
    folder, accepted = _record_then_kill(tmp_path, kill_encoder=kill_encoder)
    assert read_meta(folder).status == "recording"  # as the crash left it
    assert not is_being_written(folder)  # the kernel dropped the dead writer's lock

    assert not check_episode(folder).ok  # check reads only and says what is wrong
    assert read_meta(folder).status == "recording"
    report = repair_episode(folder)
    assert report.ok and report.repaired, report.summary()
    assert report.backups and all((folder / name).exists() for name in report.backups)  # originals kept
    meta = read_meta(folder)
    assert meta.status == "repaired" and meta.repaired is not None
    kept = meta.frame_count
    assert kept == meta.line_count == report.frames == report.lines
    print(f"accepted {accepted}, kept {kept}")
    assert accepted - kept <= FPS, f"lost {accepted - kept} ticks of {accepted}"
    assert meta.repaired["kept_ticks"] == kept

    reader = EpisodeReader(folder)
    pairs = list(reader)
    assert len(pairs) == kept
    assert all(read_tick(frame) == line["tick"] == i for i, (frame, line) in enumerate(pairs))

    again = check_episode(folder, deep=True)  # a repaired episode checks clean, and stays as it is
    assert again.ok and not again.repaired and again.frames == kept, again.summary()


@pytest.mark.slow  # crashes recorder processes, then sweeps: ~5 s
def test_next_start_sweep_repairs_crashed_episodes(tmp_path: Path) -> None:
    folder, _ = _record_then_kill(tmp_path, kill_encoder=True, ticks=30)
    reports = recover_crashed(tmp_path)
    assert [r.folder for r in reports] == [folder]
    assert read_meta(folder).status == "repaired"
    assert recover_crashed(tmp_path) == []  # nothing left to do
    assert all(r.ok for r in check_all(tmp_path))


def test_an_episode_with_nothing_usable_is_marked_broken(tmp_path: Path) -> None:
    folder = tmp_path / "20260101-000000-teleop-000000"
    folder.mkdir()
    (folder / "meta.json").write_text('{"mode": "teleop", "status": "recording"}')
    (folder / "actions.jsonl").write_text('{"tick": 0, "mil')  # torn first line
    (folder / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom")  # killed before the first fragment
    report = repair_episode(folder)
    assert not report.ok and report.status == "broken"
    meta = read_meta(folder)
    assert meta.status == "broken" and any("no tick" in p for p in meta.problems)
    assert (folder / "actions.jsonl").read_text() == '{"tick": 0, "mil'  # evidence left untouched
