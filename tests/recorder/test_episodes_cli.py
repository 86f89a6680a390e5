"""The `record`, `episodes list|check|export` verbs end to end, without a game (the fake connector)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from recorder.episode_format import list_episodes, read_meta
from tests.recorder.synth import write_episode


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
    argv = ["record", "--fake", "--out", str(out), "--seconds", "1", "--mode", "corrections",
            "--model", f"scripted:{actions}", "--no-listen", "--instruction", "walk"]  # fmt: skip
    assert main(argv) == 0
    (folder,) = list_episodes(out)
    lines = [json.loads(s) for s in (folder / "actions.jsonl").read_text().splitlines()]
    assert lines and all(line["control"] == "agent" for line in lines)
    # the executed actions: a null while the first model answer is pending, then the script
    assert all(line["action"]["forward"] == 1 and line["action"]["camera"][1] > 0 for line in lines[-10:])
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
    from tests.recorder import vpt_oracle

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
