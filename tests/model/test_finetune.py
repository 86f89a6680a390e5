"""Fine-tuning: the official label masking, the trainer on real episodes, resume, two processes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from model.actions.env import null_action
from model.finetune.collate import IGNORE, SftCollator, mask_labels, role_pattern
from model.finetune.config import FinetuneConfig, add_flags, from_flags, to_flags
from model.finetune.evaluate import wilson
from model.finetune.memory import estimate, suggestions
from tests.conftest import shared_path
from tests.recorder.episodes.synth import line_for

RULE = "Follow the colour rule."


def colour_episodes(root: Path, episodes: int = 4, ticks: int = 24, seed: int = 0) -> Path:
    """Episodes through the real writer where a 'person' walks forward on red and turns right on blue."""
    from recorder.episodes.format import EpisodeMeta
    from recorder.episodes.writer import EpisodeWriter

    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        writer = EpisodeWriter(root, EpisodeMeta(mode="teleop", instructions=[RULE]))
        assert writer.start(), writer.error
        for _ in range(ticks):
            red = bool(rng.random() < 0.5)
            frame = np.full((360, 640, 3), (200, 40, 40) if red else (40, 60, 200), np.uint8)
            frame += rng.integers(0, 30, frame.shape, dtype=np.uint8)
            action = null_action()
            if red:
                action["forward"] = 1
            else:
                action["camera"] = [0.0, 5.0]
            line = line_for(0, action=action, instruction=RULE)
            assert writer.submit(frame, line, block=True)
        assert writer.close(outcome="success").status == "complete"
    return root


def test_mask_labels_follows_the_official_rule() -> None:
    user, assistant, pad = [1, 10], [1, 20], 0
    ids = [5, 6, 1, 10, 7, 7, 1, 20, 8, 9, 1, 10, 7, 1, 20, 8, 0, 0]
    labels = mask_labels(ids, user, assistant, pad, max_length=18)
    assert labels == [IGNORE] * 6 + [1, 20, 8, 9] + [IGNORE] * 3 + [1, 20, 8] + [IGNORE, IGNORE]
    truncated = [5, 1, 10, 7, 1, 20, 8, 1, 10, 7]  # the last assistant header was cut off
    assert (
        mask_labels(truncated, user, assistant, pad, max_length=10)
        == [IGNORE] * 4 + [1, 20, 8] + [IGNORE] * 3
    )


def test_real_tokenizer_role_patterns_are_the_official_ids() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(shared_path("fixtures", "qwen2-vl-7b-instruct")))
    assert role_pattern(tokenizer, "user") == [151644, 872]
    assert role_pattern(tokenizer, "assistant") == [151644, 77091]


def test_collator_trains_only_the_answer(tmp_path: Path, tiny_vla) -> None:  # type: ignore[no-untyped-def]
    from model.finetune.sft_data import episode_records

    root = colour_episodes(tmp_path, episodes=1, ticks=3)
    records = list(episode_records(next(root.iterdir())))
    batch = SftCollator(tiny_vla.processor)(records)
    for row, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        trained = row[labels != IGNORE].tolist()
        text = tiny_vla.tokenizer.decode(trained, skip_special_tokens=False)
        assert text.startswith("<|im_start|>assistant\n<|reserved_special_token_178|>")
        assert text.endswith("<|reserved_special_token_179|><|im_end|>\n")
        assert int((row == 151655).sum()) == 299  # the frame went in at 644×364


def _changed(value: object) -> object:
    """A value of the same kind as ``value`` that differs from it."""
    if value is None:
        return "cpu"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 3 + 1
    if isinstance(value, str):
        return value + "-x"
    if isinstance(value, tuple):
        return tuple(v / 2 for v in value)
    assert isinstance(value, list), value
    return ["first folder", "second"]


def test_every_setting_survives_the_command_line() -> None:
    """What the window passes to its child (to_flags) parses back to the same settings, for every field."""
    default = FinetuneConfig()

    def other(f: dataclasses.Field) -> object:  # type: ignore[type-arg]
        choices = f.metadata.get("flag", {}).get("choices")
        value = getattr(default, f.name)
        return next(c for c in choices if c != value) if choices else _changed(value)

    changed = FinetuneConfig(**{f.name: other(f) for f in dataclasses.fields(default)})
    assert all(getattr(changed, f.name) != getattr(default, f.name) for f in dataclasses.fields(default))
    parser = argparse.ArgumentParser()
    add_flags(parser)
    assert from_flags(parser.parse_args(to_flags(changed))) == changed
    plain = FinetuneConfig(episodes=["e"], out="o")
    assert from_flags(parser.parse_args(["--episodes", "e", "--out", "o"])) == plain  # dataclass defaults
    assert "LoRA rank (default: 16)" in " ".join(parser.format_help().split())


def test_wilson_interval() -> None:
    low, high = wilson(9, 10)
    assert 0.55 < low < 0.6 and 0.98 < high < 0.99
    assert wilson(0, 0) == (0.0, 1.0)


def test_memory_estimate_for_the_7b_architecture() -> None:
    from transformers import Qwen2VLConfig

    config = Qwen2VLConfig.from_pretrained(str(shared_path("fixtures", "qwen2-vl-7b-instruct")))
    need = estimate(config, lora_r=16, batch=8, seq=512, bytes_per_weight=2.0, gradient_checkpointing=False)
    assert 14 * 2**30 < need.weights < 18 * 2**30  # 8.3 B parameters in bf16
    assert suggestions(config, 16, 8, 512, 2.0, False, free_bytes=200 * 2**30) == []
    tips = suggestions(config, 16, 8, 512, 2.0, False, free_bytes=24 * 2**30)
    assert tips and all("--" in t for t in tips)


@pytest.mark.slow
def test_lora_learns_a_visual_rule_and_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    from model.finetune.train import train

    episodes = colour_episodes(tmp_path / "episodes", episodes=6, ticks=32)
    out = tmp_path / "adapter"
    events: list[dict] = []
    cancel = threading.Event()

    def progress(event: dict) -> None:
        events.append(event)
        if event.get("event") == "step" and event["step"] == 16:
            cancel.set()  # what the window's Cancel does (via SIGTERM in the child process)

    config = FinetuneConfig(
        model=str(tiny_model_dir),
        episodes=[str(episodes)],
        out=str(out),
        steps=64,
        batch_size=8,
        lr=5e-3,
        eval_every=32,  # before, half-way, after: the test reads the first and the last
        eval_samples=32,
        device="cpu",
    )
    first = train(config, progress, cancel)
    assert first["cancelled"] and first["steps_done"] == 16
    assert (out / "checkpoints" / "step-16" / "state.pt").is_file()
    assert not (out / "manifest.json").exists()

    config.resume = True
    manifest = train(config, events.append)
    assert any(e["event"] == "resumed" and e["step"] == 16 for e in events)
    assert manifest["steps_done"] == 64 and not manifest["cancelled"]
    evals = [e for e in events if e["event"] == "eval" and "kind_accuracy" in e]
    assert evals[0]["step"] == 0 and evals[0]["kind_accuracy"] < 0.5  # chance before training
    assert evals[-1]["kind_accuracy"] >= 0.9 and evals[-1]["action_accuracy"] >= 0.9, evals
    assert not evals[-1]["warnings"] and manifest["warnings"] == []
    saved = json.loads((out / "manifest.json").read_text())
    assert saved["base_model"] == str(tiny_model_dir) and saved["episodes"]["valid"]
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir))
    assert isinstance(PeftModel.from_pretrained(base, str(out)), PeftModel)


def test_the_same_recording_and_seed_give_the_same_adapter_however_often_the_run_measures(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The window spaces its evaluations by measured time, the command line by the same rule on another
    machine's clock: a fine-tune's result must not depend on when it stopped to measure. Decoding the
    held-out frames seeds torch's generator, which the LoRA dropout also draws from; before the fork in
    ``train``, evaluating every step and evaluating twice gave two different adapters."""
    from safetensors.torch import load_file

    from model.finetune.train import train

    episodes = colour_episodes(tmp_path / "episodes", episodes=3, ticks=16)
    weights = []
    for every in (1, 6):
        out = tmp_path / f"every-{every}"
        config = FinetuneConfig(
            model=str(tiny_model_dir), episodes=[str(episodes)], out=str(out), steps=6, batch_size=4,
            lr=5e-3, eval_every=every, eval_samples=4, device="cpu",
        )  # fmt: skip
        events: list[dict] = []
        train(config, events.append)
        assert sum(e["event"] == "eval" for e in events) == (7 if every == 1 else 2), events
        weights.append(load_file(str(out / "adapter_model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    differ = [k for k in weights[0] if not bool((weights[0][k] == weights[1][k]).all())]
    assert not differ, f"{len(differ)} of {len(weights[0])} LoRA tensors differ, e.g. {differ[:2]}"


@pytest.mark.slow
def test_accelerate_launch_with_two_cpu_processes(tmp_path: Path, tiny_model_dir: Path) -> None:
    episodes = colour_episodes(tmp_path / "episodes", episodes=3, ticks=6)
    out = tmp_path / "adapter"
    launcher = Path(sys.executable).with_name("accelerate")
    result = subprocess.run(
        [
            str(launcher),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "app.cli",
            "finetune",
            "--model",
            str(tiny_model_dir),
            "--episodes",
            str(episodes),
            "--out",
            str(out),
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--eval-samples",
            "2",
            "--json-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["steps_done"] == 2
    assert (out / "adapter_model.safetensors").is_file()


def test_greedy_check_reports_a_model_that_writes_no_actions(tiny_vla, frame) -> None:  # type: ignore[no-untyped-def]
    from model.greedy_check import greedy_agreement
    from model.image import prepare_frame
    from model.prompts import PromptHistory

    image = prepare_frame(frame)
    result = greedy_agreement(tiny_vla, [PromptHistory(0, "").build(image, "Mine.")] * 2)
    assert result.not_actions == 2 and result.compared == 0  # random weights: nothing to compare
