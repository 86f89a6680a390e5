"""The fine-tune job against the real ``jarvis-play finetune`` child on the tiny model.

Each run takes seconds on a CPU: three synthetic episodes of six ticks, batch 1, one validation
tick. The events are the trainer's own; nothing here is scripted.
"""

from __future__ import annotations

import argparse
import dataclasses
import threading
from pathlib import Path

import pytest

from app.finetune_job import FinetuneJob, FinetuneRequest, FinetuneState, can_resume, comparison_rows
from model.finetune.config import FinetuneConfig, from_flags
from tests.recorder.episodes.synth import write_episode


def small_request(
    tiny_model_dir: Path, episodes: Path, out: Path, steps: int, eval_every: int
) -> FinetuneRequest:
    return FinetuneRequest(
        model=str(tiny_model_dir),
        episodes=[str(episodes)],
        out=str(out),
        steps=steps,
        lora_r=4,
        batch_size=1,
        eval_every=eval_every,
        eval_samples=1,
        device="cpu",
    )


def synthetic_episodes(root: Path, count: int = 3) -> Path:
    for _ in range(count):
        write_episode(root, 6)
    return root


def test_request_reaches_the_child_unchanged() -> None:
    """The argv the job starts parses, through the real ``finetune`` command, back into the request."""
    from app.commands import finetune

    parser = argparse.ArgumentParser()
    finetune.register(parser.add_subparsers())
    request = FinetuneRequest(model="m", episodes=["a", "b"], out="o", lora_r=7, lr=1e-3, betas=(0.8, 0.9))
    assert request.batch_size == FinetuneConfig().batch_size  # the trainer's defaults, not a copy
    for resume in (False, True):
        args = parser.parse_args(request.args(resume))
        assert args.json_progress and args.func is finetune.main
        assert from_flags(args) == dataclasses.replace(FinetuneConfig(**request.to_dict()), resume=resume)


def test_state_folds_events_and_exit_codes() -> None:
    state = FinetuneState(status="running")
    state.apply({"event": "data", "train_samples": 12, "valid_samples": 6})
    state.apply({"event": "step", "step": 3, "steps": 4, "loss": 2.5, "lr": 1e-4, "eta_s": 65.0})
    warning = "the adapter does nothing on 80% of held-out frames: it learnt to wait, not to play."
    state.apply({"event": "eval", "step": 3, "valid_loss": 2.0, "kind_accuracy": 0.25, "action_accuracy": 0.1,
                 "groups": {}, "warnings": [warning]})  # fmt: skip
    state.apply({"event": "eval", "step": 0, "valid_loss": 2.0})  # no accuracy: not a point
    state.apply({"event": "something-new"})
    assert (state.train_samples, state.step, state.fraction) == (12, 3, 0.75)
    assert state.loss == [(3, 2.5)] and state.accuracy == [(3, 0.25)]  # the balanced headline
    assert state.warnings == [warning]
    assert state.eta_text() == "step 3/4, about 1 min 05 s left"
    crashed = FinetuneState(status="running")
    crashed.exited(1, "Traceback...\nRuntimeError: CUDA out of memory")
    assert crashed.status == "failed" and "CUDA out of memory" in crashed.message
    refused = FinetuneState(status="running")
    refused.apply({"event": "error", "message": "no usable episodes in x"})
    refused.exited(2, "jarvis-play: no usable episodes in x")
    assert refused.status == "failed" and refused.message == "no usable episodes in x."


@pytest.mark.slow  # a training child process: tens of seconds on a CPU
def test_cancel_with_sigterm_then_resume_to_the_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    episodes = synthetic_episodes(tmp_path / "episodes")
    out = tmp_path / "adapter"
    job = FinetuneJob(small_request(tiny_model_dir, episodes, out, steps=4, eval_every=100))
    seen: list[FinetuneState] = []
    first_step = threading.Event()

    def listen(state: FinetuneState) -> None:
        seen.append(state)
        if state.loss and not first_step.is_set():
            first_step.set()
            job.cancel()  # the window's Cancel, mid-run

    job.listeners.append(listen)
    job.start()
    assert job.wait(120), "the fine-tune child did not exit"
    cancelled = job.snapshot()
    assert cancelled.status == "cancelled", cancelled
    assert 1 <= cancelled.step < 4 and cancelled.train_samples > 0  # the signal lands mid-run
    assert any(s.status == "cancelling" for s in seen)
    assert [s for s, _ in cancelled.accuracy] == [0]  # the baseline evaluation only
    assert can_resume(out) and not (out / "adapter_config.json").exists()

    job.resume()
    assert job.wait(120), "the resumed child did not exit"
    done = job.snapshot()
    assert done.status == "done", done
    assert done.resumed_from == cancelled.step and done.step == done.steps == 4
    assert [s for s, _ in done.loss] == [1, 2, 3, 4]  # the curve continues across the resume
    assert done.accuracy[-1][0] == 4 and 0.0 <= done.accuracy[-1][1] <= 1.0
    assert done.fraction == 1.0 and (out / "adapter_config.json").is_file()


@pytest.mark.slow  # a training child process: tens of seconds on a CPU
def test_a_failing_run_reports_the_trainers_message(tmp_path: Path, tiny_model_dir: Path) -> None:
    empty = tmp_path / "no-episodes"
    empty.mkdir()
    job = FinetuneJob(small_request(tiny_model_dir, empty, tmp_path / "adapter", steps=1, eval_every=1))
    job.start()
    assert job.wait(120)
    state = job.snapshot()
    assert state.status == "failed" and str(empty) in state.message, state
    assert state.loss == []


@pytest.mark.parametrize("delta", [0.5, -0.25])
def test_comparison_rows_keep_groups_and_intervals(delta: float) -> None:
    base = {
        "attack": {"accuracy": 0.5, "ci_low": 0.2, "ci_high": 0.8},
        "action": {"accuracy": 0.25, "ci_low": 0.1, "ci_high": 0.5},
    }
    adapter = {g: {**v, "accuracy": v["accuracy"] + delta / 2} for g, v in base.items()}
    adapter["attack"]["n"] = 3
    meanings = {"attack": "Used attack as you did, on the 3 held-out ticks where you used it"}
    rows = comparison_rows({"samples": 4, "base": base, "adapter": adapter, "meanings": meanings})
    assert [r.group for r in rows] == ["attack", "action"]
    assert rows[0].base_ci == (0.2, 0.8) and rows[1].delta == pytest.approx(delta / 2)
    assert (rows[0].ticks, rows[0].meaning) == (3, meanings["attack"]) and (
        rows[1].ticks,
        rows[1].meaning,
    ) == (0, "")
