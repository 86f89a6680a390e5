"""LoRA fine-tuning of a JARVIS-VLA checkpoint on recorded episodes, top to bottom.

Built on accelerate, so the same code runs on one GPU, on the CPU, or under ``accelerate launch`` on
several GPUs or machines (DDP, DeepSpeed or FSDP from the accelerate config). Only the main process
evaluates, saves and reports. The pieces live beside this file: which ticks are trained and held out
(``records``), how samples are drawn (``sampling``), the model with LoRA (``trainable``), the held-out
figures (``evaluate``) and when they are taken (``schedule``), and the ``--out`` folder with its
checkpoints and result (``run_folder``). A cancelled or crashed run resumes where it stopped.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from peft import set_peft_model_state_dict
from torch.utils.data import DataLoader, WeightedRandomSampler
from transformers import get_cosine_schedule_with_warmup

from model.finetune.collate import SftCollator, answer_loss
from model.finetune.config import FinetuneConfig
from model.finetune.errors import FinetuneError
from model.finetune.evaluate import score, stratified
from model.finetune.records import Record, load_records
from model.finetune.run_folder import (
    load_checkpoint,
    prepare_out,
    redacted,
    save_checkpoint,
    save_result,
)
from model.finetune.sampling import kind_weights
from model.finetune.schedule import EvalSchedule
from model.finetune.trainable import build_model, check_memory, optimizer_for
from model.vla import VLA

__all__ = ["FinetuneError", "train"]

Progress = Callable[[dict[str, Any]], None]


def train(
    config: FinetuneConfig, progress: Progress = lambda e: None, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Run the fine-tune; returns the manifest. ``cancel`` (or SIGTERM) stops after a checkpoint."""
    cancel = cancel or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    # cpu=True is also what lets accelerate form a gloo process group when CUDA is absent
    # (``accelerate launch --multi_gpu --num_processes N`` on CPU-only machines).
    on_cpu = config.device == "cpu" or not torch.cuda.is_available()
    accelerator = Accelerator(cpu=on_cpu, gradient_accumulation_steps=config.grad_accum)
    main = accelerator.is_main_process
    report: Progress = progress if main else (lambda e: None)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    resume_from = prepare_out(config)  # every process: each must refuse, not only the main one
    accelerator.wait_for_everyone()
    if main:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FinetuneError(f"cannot create {out}: {exc.strerror or exc}; choose another --out") from exc
    data = load_records(config)
    report({"event": "data", **data.info})
    device = str(accelerator.device)
    model, processor, base_path = build_model(config, device)
    check_memory(config, model.config, device, report)
    collator = SftCollator(processor, config.max_length)
    loader = make_loader(data.train, collator, config)
    steps = config.steps or max(1, math.ceil(len(loader) / config.grad_accum))
    warmup = config.warmup_steps or max(1, steps // 20)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer_for(params, config)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    # checkpoints on a fixed spacing: every process must agree on when (evaluation timing may differ)
    checkpoint_every = config.checkpoint_every or max(1, steps // 10)
    held_out = stratified(data.valid, config.eval_samples, config.seed)
    final_frames = min(len(data.valid), max(config.eval_samples, config.final_samples))
    schedule = EvalSchedule(steps, config.eval_every, frames=len(held_out), final_frames=final_frames)

    step = 0
    if resume_from is not None:
        weights, state = load_checkpoint(resume_from, out)
        set_peft_model_state_dict(accelerator.unwrap_model(model), weights)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        torch.set_rng_state(state["rng"])
        schedule.last = step
        report({"event": "resumed", "step": step, "from": str(resume_from)})

    history: list[dict[str, Any]] = []

    def evaluate(final: bool = False) -> None:
        began = time.monotonic()
        unwrapped = accelerator.unwrap_model(model)
        # The final figures are the verdict: as many frames as the budget holds. Drawn kind by kind with
        # the same seed, they begin with the frames every other evaluation decoded.
        frames = stratified(data.valid, schedule.final_frames_now(), config.seed) if final else held_out
        # Decoding seeds torch's global generator frame by frame (as play does); forked here, so that
        # the training's dropout stream does not depend on when, or how often, the run stopped to
        # measure. The spacing follows measured time, so without the fork the same recording and seed
        # gave another adapter in the window than on the command line.
        with torch.random.fork_rng():
            figures = held_out_figures(unwrapped, processor, collator, frames, config.model)
        metrics = {"event": "eval", "step": step, **figures}
        metrics["seconds"] = time.monotonic() - began
        schedule.evaluated(step, metrics["seconds"], len(frames))
        history.append(metrics)
        report(metrics)

    def checkpoint() -> None:
        if main:
            state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
            }
            save_checkpoint(out, step, config, accelerator.unwrap_model(model).save_pretrained, state)
        accelerator.wait_for_everyone()

    if main and step == 0:
        evaluate()  # the baseline: the before of the before/after
    started = time.monotonic()
    cancelled = False
    while step < steps and not cancelled:
        for batch in loader:
            began = time.monotonic()
            with accelerator.accumulate(model):
                loss = answer_loss(model, batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            schedule.train_s += time.monotonic() - began
            if not accelerator.sync_gradients:
                continue
            step += 1
            schedule.trained += 1
            step_s = schedule.step_s or 0.0
            samples = config.batch_size * accelerator.num_processes * config.grad_accum
            report(
                {
                    "event": "step",
                    "step": step,
                    "steps": steps,
                    "loss": float(loss.detach()),
                    "lr": scheduler.get_last_lr()[0],
                    "eta_s": schedule.eta_s(step),
                    "samples_per_s": samples / step_s if step_s else None,
                }
            )
            if main and schedule.due(step):
                evaluate(final=step >= steps)
            if step % checkpoint_every == 0 or step == steps:
                checkpoint()
            if cancel.is_set() and step < steps:  # a cancel during the last step just lets it finish
                checkpoint()
                cancelled = True
                break
            if step >= steps:
                break

    manifest = {
        "base_model": redacted(config.model),
        "base_path": base_path,
        "episodes": data.info,
        "settings": {**config.to_dict(), "model": redacted(config.model)},
        "steps_done": step,
        "cancelled": cancelled,
        "metrics": history,
        "warnings": history[-1].get("warnings", []) if history else [],
        "processes": accelerator.num_processes,
        "seconds": time.monotonic() - started,
        "evaluation_seconds": sum(schedule.eval_s),
    }
    if main and not cancelled:
        save_result(out, accelerator.unwrap_model(model).save_pretrained, manifest)
    accelerator.wait_for_everyone()
    report({"event": "cancelled" if cancelled else "done", "out": str(out), "step": step})
    return manifest


def make_loader(records: list[Record], collator: SftCollator, config: FinetuneConfig) -> DataLoader[Any]:
    """Batches of training records: each kind of action about equally often (``--balance kinds``), or
    shuffled as recorded."""
    generator = torch.Generator().manual_seed(config.seed)
    if config.balance == "kinds":
        sampler = WeightedRandomSampler(kind_weights(records), len(records), generator=generator)
        return DataLoader(records, batch_size=config.batch_size, collate_fn=collator, sampler=sampler)
    return DataLoader(
        records, batch_size=config.batch_size, collate_fn=collator, shuffle=True, generator=generator
    )


def held_out_figures(
    model: Any, processor: Any, collator: SftCollator, held_out: list[Record], name: str
) -> dict[str, Any]:
    """The held-out loss and figures (``evaluate.Scores.summary``) of ``model``; empty without held-out."""
    if not held_out:
        return {}
    model.eval()
    try:
        with torch.no_grad():
            losses = []
            for i in range(0, len(held_out), 8):
                batch = {k: v.to(model.device) for k, v in collator(held_out[i : i + 8]).items()}
                losses.append(float(answer_loss(model, batch)))
        figures = score(VLA(model, processor, name=name), held_out).summary()
    finally:
        model.train()
    return {"valid_loss": sum(losses) / len(losses), **figures}
