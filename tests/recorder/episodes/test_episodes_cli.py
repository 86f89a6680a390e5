"""The `record`, `episodes list|check|export` verbs end to end, without a game (the fake connector)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from recorder.episodes.format import list_episodes, read_meta
from tests.recorder.episodes.synth import write_episode
from tests.tmpfs import fill, tmpfs


@pytest.fixture(autouse=True)
def _no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)  # no listener: the fake game needs none


def test_record_teleop_on_the_fake_game(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eps"
    assert (
        main(["record", "--fake", "--out", str(out), "--seconds", "1", "--instruction", "look around"]) == 0
    )
    (folder,) = list_episodes(out)
    meta = read_meta(folder)
    assert (meta.mode, meta.status, meta.first_instruction) == ("teleop", "complete", "look around")
    assert 15 <= meta.frame_count <= 21  # 1 s at 20 fps
    assert main(["episodes", "check", str(out)]) == 0
    assert "1 ok" in capsys.readouterr().out


def test_record_corrections_with_a_scripted_agent(tmp_path: Path) -> None:
    actions = tmp_path / "walk.jsonl"
    actions.write_text("\n".join(json.dumps({"forward": 1, "camera": [0, 2]}) for _ in range(5)))
    out = tmp_path / "eps"
    argv = ["record", "--fake", "--out", str(out), "--seconds", "2", "--mode", "corrections",
            "--model", f"scripted:{actions}", "--no-listen", "--instruction", "walk"]  # fmt: skip
    assert main(argv) == 0
    (folder,) = list_episodes(out)
    lines = [json.loads(s) for s in (folder / "actions.jsonl").read_text().splitlines()]
    assert lines and all(line["control"] == "agent" for line in lines)
    # the executed actions: a null while the first model answer is pending, then the script. When the
    # first answer comes depends on the machine's load, so the test finds it instead of assuming it
    # came within the first half second
    walked = [line["action"]["forward"] == 1 and line["action"]["camera"][1] > 0 for line in lines]
    assert any(walked), lines[-1]["action"]
    first = walked.index(True)
    assert all(walked[first:]), [line["action"] for line in lines[first:]]
    assert not any(line["action"]["forward"] or any(line["action"]["camera"]) for line in lines[:first])
    assert read_meta(folder).model_id == f"scripted:{actions}"


def test_list_check_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eps = tmp_path / "eps"
    write_episode(eps, 4, instruction="a")
    write_episode(eps, 3, instruction="b")
    assert main(["episodes", "list", str(eps)]) == 0
    listing = capsys.readouterr().out
    assert listing.count("complete") == 2
    out = tmp_path / "sft"
    assert main(["episodes", "export", str(eps), "--out", str(out), "--valid-fraction", "0.5"]) == 0
    assert "train: " in capsys.readouterr().out
    assert main(["episodes", "export", str(eps), "--out", str(out)]) == 2  # refuses to overwrite
    bad = eps / list_episodes(eps)[0].name / "actions.jsonl"
    bad.write_text(bad.read_text() + '{"tick": 4, "torn')
    assert main(["episodes", "check", str(eps)]) == 1  # reads only: still damaged afterwards
    assert main(["episodes", "check", str(eps)]) == 1
    assert main(["episodes", "repair", str(eps)]) == 0  # the torn line is cut off, the original kept
    assert main(["episodes", "check", str(eps)]) == 0
    assert list(bad.parent.glob("actions.jsonl.orig-*"))


def test_record_then_export_vpt_reads_back_the_stored_actions(tmp_path: Path) -> None:
    from model.actions.codec import ActionCodec
    from tests.recorder.episodes import vpt_oracle

    script = tmp_path / "walk.jsonl"
    steps = [{"forward": 1, "camera": [0, 2]}, {"hotbar.4": 1, "attack": 1}, {"jump": 1, "camera": [-3, 0]}]
    script.write_text("\n".join(json.dumps(s) for s in steps * 4))
    eps = tmp_path / "eps"
    argv = ["record", "--fake", "--out", str(eps), "--seconds", "1", "--mode", "agent",
            "--model", f"scripted:{script}", "--no-listen", "--instruction", "walk"]  # fmt: skip
    assert main(argv) == 0
    (folder,) = list_episodes(eps)
    out = tmp_path / "vpt"
    assert main(["episodes", "export", str(eps), "--out", str(out), "--format", "vpt"]) == 0
    assert not (out / "data").exists()  # not the SFT layout
    native = [json.loads(s) for s in (folder / "actions.jsonl").read_text().splitlines()]
    assert {line["hotbar"] for line in native} >= {3}  # the agent's hotbar.4 selected slot 3
    codec = ActionCodec()
    loaded = vpt_oracle.load_trajectory(*vpt_oracle.vpt_pairs(out)[folder.name])
    assert len(loaded) == len(native)
    for step, line in zip(loaded, native, strict=True):
        action = {**step.action, "camera": [float(v) for v in step.action["camera"]]}
        assert codec.encode(action) == line["action_ids"], step.index
    assert main(["episodes", "export", str(eps), "--out", str(out), "--format", "vpt"]) == 2  # no overwrite


@pytest.fixture
def nearly_full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs with ~150 kB left (needs root, as on the project's machines)."""
    with tmpfs(tmp_path / "small", "size=2m") as mount:
        fill(mount, leave_bytes=150 * 1024)
        yield mount


@pytest.mark.tmpfs
def test_record_on_a_full_disk_names_the_disk_once(
    nearly_full_disk: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = nearly_full_disk / "eps"
    assert main(["record", "--fake", "--out", str(out), "--seconds", "6", "--instruction", "x"]) == 1
    printed = capsys.readouterr()
    said = printed.out + printed.err + "\n".join(r.getMessage() for r in caplog.records)
    assert said.count("disk is full") == 1, said
    assert f"at {nearly_full_disk}; free space there" in said
    assert "Broken pipe" not in said
    (folder,) = list_episodes(out)
    assert not [p.name for p in folder.iterdir() if ".tmp" in p.name]  # no torn temporary left
    meta = read_meta(folder)
    assert meta.status == "stopped" and 0 < meta.frame_count < 6 * 20
    assert main(["episodes", "check", str(out)]) == 0  # what was written before the disk filled is whole


@pytest.mark.tmpfs
def test_the_rec_state_ends_when_the_disk_fills(nearly_full_disk: Path) -> None:
    from app.games.fake import FakeConnector
    from tests.sessions import session_for

    errors: list[str] = []
    session = session_for(FakeConnector(), record=True, episodes_dir=str(nearly_full_disk / "eps"))
    session.on_error.append(errors.append)
    try:
        session.start(seconds=20, teleop=True)  # the person plays; the fake game draws frames
        deadline = time.monotonic() + 15
        while not session.recording_now and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.recording_now
        while not errors and time.monotonic() < deadline:
            time.sleep(0.05)
        assert errors and "disk is full" in errors[0]
        assert session.running and not session.recording_now  # play goes on, REC is off
    finally:
        session.stop()
        session.wait(30)
        session.close()
    assert len(errors) == 1, errors


@pytest.mark.tmpfs
def test_record_into_a_read_only_folder_fails_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "ro", "size=1m,ro") as mount:
        start = time.monotonic()
        assert main(["record", "--fake", "--out", str(mount), "--seconds", "5"]) == 2
        assert time.monotonic() - start < 5  # refused before playing
        err = capsys.readouterr().err
        assert "cannot write to the episodes folder" in err and "choose another --out" in err, err
        assert err.count("play continues") == 0
