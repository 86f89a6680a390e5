"""The episodes library on real (synthetic) episodes: list, relabel, mark, trash, play back."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from recorder.episodes import library
from recorder.episodes.format import ACTIONS, EpisodeMeta, read_meta
from recorder.episodes.reader import EpisodeReader
from recorder.episodes.trash import TrashError
from recorder.episodes.writer import EpisodeWriter
from tests.recorder.episodes.synth import line_for, read_tick, tick_frame, write_episode


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME (and so the home trash) inside tmp_path: a test never touches the real trash."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return tmp_path / "home"


def test_list_shows_meta_and_survives_a_corrupt_episode(tmp_path: Path) -> None:
    a = write_episode(tmp_path, 5, instruction="chop a tree")
    b = write_episode(tmp_path, 8, instruction="dig down")
    broken = tmp_path / "20000101-000000-teleop-bad"
    broken.mkdir()
    (broken / "meta.json").write_text("{not json")
    rows = {r.folder: r for r in library.list_library(tmp_path)}
    assert set(rows) == {a, b, broken}
    assert (rows[a].frames, rows[a].instruction) == (5, "chop a tree")
    assert (rows[b].frames, rows[b].instruction) == (8, "dig down")
    assert rows[b].seconds == pytest.approx(8 / 20)
    assert rows[broken].meta is None and "unreadable" in rows[broken].label()
    assert "dig down" in rows[b].label() and "success" in rows[b].label()  # write_episode closes "success"
    assert library.list_library(tmp_path / "missing") == []


def test_set_instruction_rewrites_meta_and_every_line(tmp_path: Path) -> None:
    folder = write_episode(tmp_path, 7, instruction="chop a tree")
    before = EpisodeReader(folder).lines
    meta = library.set_instruction(folder, "  mine the oak log ")
    assert meta.instructions == [{"tick": 0, "text": "mine the oak log"}]
    assert read_meta(folder).first_instruction == "mine the oak log"
    reader = EpisodeReader(folder)
    assert len(reader.lines) == len(before) == reader.meta.frame_count == 7
    assert {line["instruction"] for line in reader.lines} == {"mine the oak log"}
    for old, new in zip(before, reader.lines, strict=True):  # nothing but the instruction changed
        assert {**old, "instruction": "mine the oak log"} == new
    assert [read_tick(frame) for frame, _ in reader] == list(range(7))
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == []


def test_set_instruction_refuses_damaged_lines_and_empty_text(tmp_path: Path) -> None:
    folder = write_episode(tmp_path, 4)
    with pytest.raises(library.LibraryError, match="empty"):
        library.set_instruction(folder, "   ")
    with open(folder / ACTIONS, "a") as f:
        f.write('{"tick": 4, "instr')  # a torn line, as a crash leaves it
    original = (folder / ACTIONS).read_bytes()
    with pytest.raises(library.LibraryError, match="episodes check"):
        library.set_instruction(folder, "something else")
    assert (folder / ACTIONS).read_bytes() == original
    assert read_meta(folder).first_instruction == "chop a tree"


def test_outcome_is_written_and_validated(tmp_path: Path) -> None:
    folder = write_episode(tmp_path, 3)
    library.set_outcome(folder, "failure")
    assert read_meta(folder).outcome == "failure"
    library.set_outcome(folder, "success")
    assert read_meta(folder).outcome == "success"
    with pytest.raises(library.LibraryError):
        library.set_outcome(folder, "great")


def test_an_episode_being_recorded_is_not_edited(tmp_path: Path) -> None:
    writer = EpisodeWriter(tmp_path, EpisodeMeta(instructions=[{"tick": 0, "text": "x"}]))
    assert writer.start(), writer.error
    assert writer.submit(tick_frame(0), line_for(0), block=True)
    assert writer.folder is not None
    try:
        with pytest.raises(library.LibraryError, match="still being recorded"):
            library.set_outcome(writer.folder, "success")
        with pytest.raises(library.LibraryError, match="still being recorded"):
            library.delete(writer.folder)
    finally:
        writer.close("unknown")
    library.set_outcome(writer.folder, "success")  # once closed it can be


def test_delete_moves_to_the_freedesktop_trash(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "rec ordings"  # a space: Path= in the .trashinfo is URL-escaped
    folder = write_episode(root, 3)
    target = library.delete(folder)
    trash = home / ".local" / "share" / "Trash"
    assert not folder.exists()
    assert target == trash / "files" / folder.name and (target / "meta.json").is_file()
    info = (trash / "info" / f"{folder.name}.trashinfo").read_text().splitlines()
    assert info[0] == "[Trash Info]"
    assert info[1].startswith("Path=") and "%20" in info[1]
    assert unquote(info[1].removeprefix("Path=")) == str(folder)
    assert info[2].startswith("DeletionDate=") and len(info[2]) == len("DeletionDate=2024-01-01T00:00:00")
    # the same name again (restored, re-recorded...) gets a free name, not an overwrite
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text("{}")
    second = library.delete(folder)
    assert second.name == f"{folder.name}.2" and (trash / "info" / f"{folder.name}.2.trashinfo").is_file()
    assert [r.folder for r in library.list_library(root)] == []


def test_delete_says_what_to_do_when_the_trash_is_unusable(tmp_path: Path, home: Path) -> None:
    folder = write_episode(tmp_path / "rec", 2)
    (home / ".local" / "share").mkdir(parents=True)
    (home / ".local" / "share" / "Trash").write_text("not a folder")
    with pytest.raises(TrashError, match="Nothing was deleted") as caught:
        library.delete(folder)
    assert str(folder) in str(caught.value)
    assert folder.is_dir() and (folder / "meta.json").is_file()


def test_playback_pairs_frames_and_lines_at_20_fps(tmp_path: Path) -> None:
    folder = write_episode(tmp_path, 6)
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pairs = list(library.playback(folder, clock=lambda: now[0], sleep=sleep))
    assert [read_tick(frame) for frame, _ in pairs] == list(range(6))
    assert [line["action"]["forward"] for _, line in pairs] == [i % 2 for i in range(6)]
    assert now[0] == pytest.approx(100.0 + 5 / 20)  # frame i shown at start + i/20
    assert len(slept) == 5


def test_player_steps_and_seeks(tmp_path: Path) -> None:
    folder = write_episode(tmp_path, 9)
    player = library.Player(folder)
    try:
        assert len(player) == 9
        first = player.step()
        assert first is not None and read_tick(first[0]) == 0 and player.position == 0
        player.seek(6)
        got = [player.step() for _ in range(4)]
        assert [read_tick(p[0]) for p in got if p is not None] == [6, 7, 8]
        assert got[-1] is None and player.at_end
    finally:
        player.close()
