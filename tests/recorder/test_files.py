"""Whole-file replacement and mount points (recorder/files.py), on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recorder import files
from recorder.files import atomic_open, keep_copy, mount_point, replace_folder, write_atomically


def test_a_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    target.write_text("old")
    write_atomically(target, "new")
    assert target.read_text() == "new"
    write_atomically(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


def test_a_write_that_fails_halfway_leaves_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    target.write_text("old and whole")
    with pytest.raises(RuntimeError, match="disk vanished"), atomic_open(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("disk vanished")
    assert target.read_text() == "old and whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_the_data_and_the_rename_are_fsynced_before_the_call_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    target = tmp_path / "a.txt"
    write_atomically(target, "x")
    assert len(synced) == 2
    assert Path(synced[0]).parent == tmp_path and Path(synced[0]).name.startswith(".a.txt.tmp-")
    assert Path(synced[1]) == tmp_path  # the folder, so the rename itself survives a power loss


def test_only_whole_files_are_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"), atomic_open(tmp_path / "x", "a"):
        pass


def test_a_folder_is_replaced_whole_and_the_old_one_survives_a_failed_build(tmp_path: Path) -> None:
    target = tmp_path / "step-10"
    replace_folder(target, lambda d: (d / "weights").write_text("first"))
    assert (target / "weights").read_text() == "first"

    def torn(folder: Path) -> None:
        (folder / "weights").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        replace_folder(target, torn)
    assert (target / "weights").read_text() == "first"
    replace_folder(target, lambda d: (d / "weights").write_text("second"))
    assert (target / "weights").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-10"]


def test_a_kept_copy_holds_the_old_content_after_the_file_is_replaced(tmp_path: Path) -> None:
    original, copy = tmp_path / "actions.jsonl", tmp_path / "actions.jsonl.orig"
    original.write_text("before\n")
    keep_copy(original, copy)
    write_atomically(original, "after\n")
    assert copy.read_text() == "before\n" and original.read_text() == "after\n"


def test_the_mount_point_of_a_path_not_made_yet_is_its_nearest_existing_folders(tmp_path: Path) -> None:
    here = mount_point(tmp_path)
    assert os.path.ismount(here) and tmp_path.resolve().is_relative_to(here)
    assert mount_point(tmp_path / "not" / "yet" / "made") == here
    assert mount_point(Path("/")) == Path("/")
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    assert mount_point(link / "x") == here  # symlinks are followed to the disk that holds the data
