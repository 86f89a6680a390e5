"""Fine-tuning never destroys a result: no silent overwrite, no resuming another run, atomic
checkpoints that a full disk (a real small tmpfs) cannot tear, and damaged episodes skipped."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.finetune.config import FinetuneConfig
from model.finetune.errors import FinetuneError
from model.finetune.run_folder import prepare_out, run_settings, write_atomically
from tests.model.test_finetune import colour_episodes
from tests.tmpfs import fill, tmpfs


def _config(out: Path, **kw: object) -> FinetuneConfig:
    return FinetuneConfig(model="tiny", episodes=["eps"], out=str(out), **kw)  # type: ignore[arg-type]


def _fake_checkpoint(out: Path, step: int, config: FinetuneConfig | None) -> Path:
    import json

    folder = out / "checkpoints" / f"step-{step}"
    folder.mkdir(parents=True)
    (folder / "state.pt").write_bytes(b"state")
    if config is not None:
        (folder / "run.json").write_text(json.dumps({"step": step, "settings": run_settings(config)}))
    return folder


def test_an_existing_adapter_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "adapter_model.safetensors").write_bytes(b"weights")
    (out / "manifest.json").write_text("{}")
    _fake_checkpoint(out, 8, _config(out))
    with pytest.raises(FinetuneError, match=r"already holds an adapter.*--overwrite"):
        prepare_out(_config(out))
    assert (out / "adapter_model.safetensors").read_bytes() == b"weights"  # untouched
    assert prepare_out(_config(out, overwrite=True)) is None
    assert not (out / "adapter_model.safetensors").exists() and not (out / "checkpoints").exists()
    assert prepare_out(_config(tmp_path / "fresh")) is None  # a new folder needs nothing


def test_resume_only_a_run_with_the_same_settings(tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    mine = _config(out, lr=1e-3, steps=40)
    _fake_checkpoint(out, 4, mine)
    latest = _fake_checkpoint(out, 12, mine)
    assert prepare_out(dataclasses.replace(mine, resume=True, eval_every=3, device="cpu")) == latest
    other = dataclasses.replace(mine, resume=True, lr=5e-3, episodes=["elsewhere"])
    with pytest.raises(FinetuneError, match=r"other settings.*episodes.*lr: 0\.001 -> 0\.005"):
        prepare_out(other)
    with pytest.raises(FinetuneError, match="nothing to resume"):
        prepare_out(_config(tmp_path / "empty", resume=True))
    legacy = tmp_path / "legacy"
    _fake_checkpoint(legacy, 3, None)
    with pytest.raises(FinetuneError, match="does not record its run's settings"):
        prepare_out(_config(legacy, resume=True))


def test_a_failed_write_keeps_the_previous_checkpoint_whole(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "step-4"

    def good(folder: Path) -> None:
        (folder / "state.pt").write_bytes(b"first")

    def torn(folder: Path) -> None:
        (folder / "state.pt").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    write_atomically(target, good)
    with pytest.raises(FinetuneError, match="the disk is full at"):
        write_atomically(target, torn)
    assert (target / "state.pt").read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["step-4"]  # no temporary left


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small", "size=8m") as mount:
        yield mount


@pytest.mark.tmpfs
@pytest.mark.slow  # trains twice on the tiny model: 20-40 s
def test_a_full_disk_during_a_checkpoint_is_named_and_resume_still_works(
    small_disk: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    from model.finetune.train import train

    episodes = colour_episodes(tmp_path / "episodes", episodes=3, ticks=8)
    out = small_disk / "adapter"
    config = FinetuneConfig(model=str(tiny_model_dir), episodes=[str(episodes)], out=str(out), steps=4,
                            batch_size=2, eval_every=2, checkpoint_every=2, eval_samples=2,
                            device="cpu")  # fmt: skip
    cancel = threading.Event()

    def stop_at_2(event: dict) -> None:
        if event.get("event") == "step" and event["step"] == 2:
            cancel.set()

    first = train(config, stop_at_2, cancel)
    assert first["cancelled"] and first["steps_done"] == 2
    step2 = out / "checkpoints" / "step-2"
    before = {p.name: p.read_bytes() for p in step2.iterdir()}

    filler = fill(small_disk)
    resumed = dataclasses.replace(config, resume=True)
    with pytest.raises(
        FinetuneError, match=f"the disk is full at {small_disk}.*free space or choose another --out"
    ):
        train(resumed)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-2"]  # nothing torn, no temp
    assert {p.name: p.read_bytes() for p in step2.iterdir()} == before
    assert not (out / "manifest.json").exists()

    filler.unlink()
    events: list[dict] = []
    manifest = train(resumed, events.append)
    assert any(e["event"] == "resumed" and e["step"] == 2 for e in events)
    assert manifest["steps_done"] == 4 and (out / "manifest.json").is_file()
    with pytest.raises(FinetuneError, match="already holds an adapter"):
        train(config)  # a finished result is not overwritten by a second run
    assert (out / "adapter_model.safetensors").is_file()


def test_finetune_skips_a_damaged_episode(tmp_path: Path, tiny_model_dir: Path) -> None:
    from model.finetune.records import load_records

    episodes = colour_episodes(tmp_path / "episodes", episodes=3, ticks=6)
    damaged = sorted(episodes.iterdir())[0]
    lines = (damaged / "actions.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = b"garbage\n"
    (damaged / "actions.jsonl").write_bytes(b"".join(lines))
    shutil.copytree(damaged, episodes / "20990101-000000-teleop-ffffff")
    (episodes / "20990101-000000-teleop-ffffff" / "meta.json").unlink()
    config = FinetuneConfig(model=str(tiny_model_dir), episodes=[str(episodes)], out=str(tmp_path / "a"))
    data = load_records(config)
    train, info = data.train, data.info
    assert train and len(info["train"]) + len(info["valid"]) == 2
    assert any(damaged.name in s and "damaged" in s and "line 3 unreadable" in s for s in info["skipped"])
    assert any("ffffff" in s and "meta unreadable" in s for s in info["skipped"])
