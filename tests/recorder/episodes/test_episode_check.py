"""Checking never destroys data: the damaged episodes from issue 16, on real files.

Each scenario: ``check`` reads only (bytes unchanged) and never says "ok"; the reader keeps every good
tick on its own frame; ``repair`` is explicit, keeps each file it replaces as ``<name>.orig-<time>``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.cli import main
from recorder.episodes.check import check_episode
from recorder.episodes.find import find_episodes
from recorder.episodes.format import ACTIONS, META, VIDEO, read_meta, write_meta
from recorder.episodes.library import list_library
from recorder.episodes.reader import EpisodeReader, is_lost
from recorder.episodes.repair import repair_episode
from recorder.episodes.sweep import recover_crashed
from tests.recorder.episodes.synth import read_tick, write_episode

pytestmark = pytest.mark.slow  # each checks or repairs a 240-frame episode video: 8-25 s on a busy 2-core box

N = 240


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_episode(tmp_path_factory.mktemp("pristine"), N)


@pytest.fixture
def episode(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "eps" / pristine.name
    shutil.copytree(pristine, copy)
    return copy


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _raw_lines(folder: Path) -> list[bytes]:
    return (folder / ACTIONS).read_bytes().splitlines(keepends=True)


def _assert_aligned(folder: Path) -> list[dict]:
    """Every frame shows the tick its line says; returns the lines."""
    pairs = list(EpisodeReader(folder))
    assert all(read_tick(frame) == line["tick"] == i for i, (frame, line) in enumerate(pairs))
    return [line for _, line in pairs]


def _backup(folder: Path, name: str) -> Path:
    (found,) = folder.glob(f"{name}.orig-*")
    return found


def test_a_pristine_episode_checks_ok(episode: Path) -> None:
    report = check_episode(episode, deep=True)
    assert report.ok and (report.frames, report.lines, report.lost_ticks) == (N, N, 0), report.summary()


def test_one_bad_line_in_the_middle_cuts_nothing(episode: Path) -> None:
    raw = _raw_lines(episode)
    raw[99] = b'{"tick": 99, "mouse": garbage\n'  # line 100 of 240
    (episode / ACTIONS).write_bytes(b"".join(raw))
    before = _snapshot(episode)

    report = check_episode(episode, deep=True)
    assert not report.ok and "DAMAGED" in report.summary()
    assert any("line 100 unreadable" in p for p in report.problems), report.problems
    assert _snapshot(episode) == before  # check reads only

    lines = _assert_aligned(episode)  # all 240 frames, each with its own line
    assert len(lines) == N and [i for i, line in enumerate(lines) if is_lost(line)] == [99]

    fixed = repair_episode(episode)
    assert fixed.ok and fixed.repaired and fixed.lost_ticks == 1, fixed.summary()
    assert _backup(episode, ACTIONS).read_bytes() == before[ACTIONS]
    assert (episode / VIDEO).read_bytes() == before[VIDEO]  # the video needed nothing
    assert not list(episode.glob(f"{VIDEO}.orig-*"))
    meta = read_meta(episode)
    assert (meta.status, meta.frame_count, meta.line_count) == ("repaired", N, N)
    assert meta.repaired is not None and meta.repaired["lost_lines_marked"] == 1
    assert len(_assert_aligned(episode)) == N
    again = check_episode(episode, deep=True)
    assert again.ok and again.lost_ticks == 1, again.summary()


def test_a_deleted_line_is_flagged_not_paired_with_the_wrong_frame(episode: Path) -> None:
    raw = _raw_lines(episode)
    del raw[120]
    (episode / ACTIONS).write_bytes(b"".join(raw))
    before = _snapshot(episode)

    report = check_episode(episode)
    assert not report.ok
    assert any("tick 120 missing" in p and "out of step" in p for p in report.problems), report.problems
    assert _snapshot(episode) == before

    lines = _assert_aligned(episode)
    assert len(lines) == N and is_lost(lines[120]) and not is_lost(lines[121])

    fixed = repair_episode(episode)
    assert fixed.ok and fixed.lost_ticks == 1, fixed.summary()
    assert _backup(episode, ACTIONS).read_bytes() == before[ACTIONS]
    assert check_episode(episode, deep=True).ok
    assert len(_assert_aligned(episode)) == N


def test_a_video_cut_to_half_keeps_the_lines_in_a_backup(episode: Path) -> None:
    video = episode / VIDEO
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    before = _snapshot(episode)

    report = check_episode(episode)
    assert not report.ok, report.summary()
    deep = check_episode(episode, deep=True)
    assert not deep.ok and any("lines have no frame" in p for p in deep.problems), deep.summary()
    assert _snapshot(episode) == before

    fixed = repair_episode(episode)
    assert fixed.ok and fixed.repaired, fixed.summary()
    kept = read_meta(episode).frame_count
    assert 0 < kept < N and fixed.lost_ticks == N - kept
    assert _backup(episode, ACTIONS).read_bytes() == before[ACTIONS]  # all 240 lines kept
    assert _backup(episode, VIDEO).read_bytes() == before[VIDEO]
    assert len(_assert_aligned(episode)) == kept
    assert check_episode(episode, deep=True).ok


def test_a_corrupt_meta_is_backed_up_before_it_is_rebuilt(episode: Path) -> None:
    (episode / META).write_text('{"mode": "teleop", "status": "comp')
    before = _snapshot(episode)
    report = check_episode(episode)
    assert not report.ok and any("meta.json unreadable" in p for p in report.problems)
    assert _snapshot(episode) == before
    assert recover_crashed(episode.parent) == [] and _snapshot(episode) == before  # the sweep keeps off

    fixed = repair_episode(episode)
    assert fixed.ok, fixed.summary()
    assert _backup(episode, META).read_bytes() == before[META]
    meta = read_meta(episode)
    assert (meta.status, meta.frame_count, meta.first_instruction) == ("repaired", N, "chop a tree")
    assert (episode / ACTIONS).read_bytes() == before[ACTIONS] and (episode / VIDEO).read_bytes() == before[
        VIDEO
    ]


def test_an_episode_without_meta_is_listed_as_damaged(
    episode: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (episode / META).unlink()
    root = episode.parent
    assert find_episodes(root) == [episode]
    (row,) = list_library(root)
    assert row.meta is None and "meta.json missing" in row.label()
    assert main(["episodes", "list", str(root)]) == 0
    assert "DAMAGED: meta.json missing" in capsys.readouterr().out
    assert main(["episodes", "check", str(root)]) == 1
    assert "meta.json missing" in capsys.readouterr().out
    assert not (episode / META).exists()

    assert main(["episodes", "repair", str(root)]) == 0
    meta = read_meta(episode)
    assert meta.status == "repaired" and meta.frame_count == N and meta.mode == "teleop"
    assert main(["episodes", "check", str(root)]) == 0


def test_the_start_sweep_touches_only_crashed_recordings(episode: Path, tmp_path: Path) -> None:
    """A complete episode with a bad line, and a 'recording' one damaged mid-file, stay byte for byte."""
    raw = _raw_lines(episode)
    raw[50] = b"not json\n"
    (episode / ACTIONS).write_bytes(b"".join(raw))
    crashed = episode.parent / (episode.name[:-6] + "abcdef")
    shutil.copytree(episode, crashed)
    meta = read_meta(crashed)
    meta.status = "recording"
    write_meta(crashed, meta)
    before = {f: _snapshot(f) for f in (episode, crashed)}

    reports = recover_crashed(episode.parent)
    assert [r.folder for r in reports] == [crashed]
    assert not reports[0].ok and "left as it is" in reports[0].summary()
    assert {f: _snapshot(f) for f in (episode, crashed)} == before


def test_check_cli_reads_only_and_repair_cli_keeps_originals(
    episode: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _raw_lines(episode)
    raw[99] = b"\x00\x01garbage\n"
    (episode / ACTIONS).write_bytes(b"".join(raw))
    root = episode.parent
    before = _snapshot(episode)
    assert main(["episodes", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out and "1 damaged" in out and " ok (" not in out
    assert _snapshot(episode) == before
    assert main(["episodes", "repair", str(root)]) == 0
    out = capsys.readouterr().out
    assert "originals kept as actions.jsonl.orig-" in out
    lines = [json.loads(s) for s in (episode / ACTIONS).read_text().splitlines()]
    assert len(lines) == N and [line["tick"] for line in lines] == list(range(N))


def test_a_meta_with_wrong_types_is_a_message_not_a_traceback(
    episode: Path, pristine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-edited meta: every verb answers in words, export skips it and still exports the rest."""
    meta = json.loads((episode / META).read_text())
    meta.update(frame_count="many", status=3, instructions="x", corrections=5)
    (episode / META).write_text(json.dumps(meta))
    good = episode.parent / (pristine.name[:-6] + "abcdef")
    shutil.copytree(pristine, good)
    root = episode.parent
    assert main(["episodes", "list", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"{episode.name}" in out and "DAMAGED" in out and "frame_count is 'many'" in out
    assert main(["episodes", "check", str(root)]) == 1
    assert "1 damaged" in capsys.readouterr().out
    assert (
        main(["episodes", "export", str(root), "--out", str(root.parent / "sft"), "--valid-fraction", "0"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"skipped {episode.name}: " in out and "train: 240 rows from 1 episodes" in out
    assert main(["episodes", "repair", str(root)]) == 0
    assert _backup(episode, META).read_text() == json.dumps(meta)
    fixed = read_meta(episode)
    assert (fixed.status, fixed.frame_count, fixed.corrections) == ("repaired", N, [])
    assert main(["episodes", "check", str(root)]) == 0


def test_vpt_export_skips_a_damaged_episode_and_exports_the_rest(
    episode: Path, pristine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _raw_lines(episode)
    del raw[10]
    (episode / ACTIONS).write_bytes(b"".join(raw))
    good = episode.parent / (pristine.name[:-6] + "abcdef")
    shutil.copytree(pristine, good)
    out = episode.parent.parent / "vpt"
    assert main(["episodes", "export", str(episode.parent), "--out", str(out), "--format", "vpt"]) == 0
    printed = capsys.readouterr().out
    assert f"skipped {episode.name}: damaged" in printed and "tick 10 missing" in printed
    assert len(list(out.glob("*.jsonl"))) == 1


def test_a_lost_tick_is_never_trained_on(episode: Path) -> None:
    from model.finetune.sft_data import SftOptions, episode_records

    raw = _raw_lines(episode)
    raw[99] = b"garbage\n"
    (episode / ACTIONS).write_bytes(b"".join(raw))
    assert repair_episode(episode).ok
    ticks = [r["tick"] for r in episode_records(episode, SftOptions(skip_flags=()))]
    assert ticks == [t for t in range(N) if t != 99]
