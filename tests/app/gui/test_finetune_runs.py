"""Fine-tune runs as folders, held-out episodes from the manifest, the steady ETA, and what "Mark
failure" does to the training data (``failed_episodes``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.gui.finetune_runs import SteadyEta, fresh_out, held_out, in_use, trained_on, unfinished
from model.finetune.sft_data import SftOptions, episode_records
from recorder.episodes import library
from tests.recorder.episodes.synth import write_episode


def test_fresh_out_is_new_and_named_by_time_and_base(tmp_path: Path) -> None:
    first = fresh_out(tmp_path, "CraftJarvis/JarvisVLA-Qwen2-VL-7B", now=0)
    assert first.name.endswith("-JarvisVLA-Qwen2-VL-7B") and not first.exists()
    first.mkdir()
    second = fresh_out(tmp_path, "CraftJarvis/JarvisVLA-Qwen2-VL-7B", now=0)  # same second
    assert second != first and not second.exists()


def test_finished_runs_are_never_resumed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert not in_use(run) and not unfinished(run)
    (run / "checkpoints" / "step-4").mkdir(parents=True)
    (run / "checkpoints" / "step-4" / "state.pt").write_bytes(b"x")
    assert in_use(run) and unfinished(run)
    (run / "adapter_config.json").write_text("{}")
    assert not unfinished(run)  # finished: Start makes a new folder, Resume has nothing to do


def test_held_out_episodes_come_from_the_manifest(tmp_path: Path) -> None:
    root = tmp_path / "episodes"
    folders = [write_episode(root, 3) for _ in range(3)]
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    manifest = {
        "episodes": {"train": [f.name for f in folders[:2]], "valid": [folders[2].name]},
        "settings": {"episodes": [str(root)]},
    }
    (adapter / "manifest.json").write_text(json.dumps(manifest))
    assert held_out(adapter) == [folders[2]]
    assert trained_on(adapter, [str(root)]) == sorted(f.name for f in folders[:2])
    assert trained_on(adapter, [str(folders[2])]) == []
    assert held_out(tmp_path / "no-adapter") == []


def test_steady_eta_averages_the_whole_run() -> None:
    t = [100.0]
    eta = SteadyEta(clock=lambda: t[0])
    assert eta.update(0, 100) is None
    for step, seconds in ((1, 10.0), (2, 1.0), (3, 1.0), (4, 30.0)):  # an evaluation makes step 4 slow
        t[0] += seconds
        left = eta.update(step, 100)
    assert left == pytest.approx(42.0 / 4 * 96)
    assert SteadyEta.text(left) == "about 17 min left"
    assert SteadyEta.text(200.0) == "about 3.5 min left"
    assert SteadyEta.text(None) == "measuring speed…"


@pytest.mark.parametrize(("policy", "kept"), [("exclude", 0), ("downweight", 2), ("keep", 6)])
def test_mark_failure_changes_the_training_data(tmp_path: Path, policy: str, kept: int) -> None:
    folder = write_episode(tmp_path, 6, mode="corrections", phases={3: "correction", 4: "correction"})
    library.set_outcome(folder, "failure")  # what the Episodes panel's "Mark failure" does
    records = list(episode_records(folder, SftOptions(failed_episodes=policy)))
    assert len(records) == kept
    if policy == "downweight":
        assert {r["phase"] for r in records} == {"correction"}
    library.set_outcome(folder, "success")
    assert len(list(episode_records(folder, SftOptions(failed_episodes=policy)))) == 6
