"""LoRA fine-tuning of a JARVIS-VLA checkpoint on recorded episodes, top to bottom.

Built on accelerate, so the same code runs on one GPU, on the CPU, or under ``accelerate launch`` on
several GPUs or machines (DDP, DeepSpeed or FSDP from the accelerate config). Only the main process
evaluates, saves and reports. The run checkpoints the adapter with its optimizer and schedule, so a
cancelled or crashed run resumes where it stopped, and it ends with a standard PEFT adapter folder
plus ``manifest.json`` (base model, episodes, settings, metrics).

A result is never destroyed by accident: an ``--out`` that already holds an adapter or a run is
refused unless ``--overwrite``; ``--resume`` continues only a run whose settings match (they are
stored in every checkpoint); a checkpoint is written into a temporary folder, fsynced and renamed
into place, so a crash or a full disk leaves the previous checkpoint whole; a full disk is named.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.errors import ModelError
from model.finetune.config import LORA_TARGETS, FinetuneConfig
from recorder.files import fsync_dir, mount_point, replace_folder

LOG = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]


class FinetuneError(ModelError):
    """A run that cannot start or continue, with what to do in the message."""


def load_records(config: FinetuneConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    from model.finetune.sft_data import SftOptions, episode_records, split_episodes, usable_episodes

    options = SftOptions(
        only_corrections=config.only_corrections,
        correction_weight=config.correction_weight,
        valid_fraction=config.valid_fraction,
        seed=config.seed,
        failed_episodes=config.failed_episodes,
    )
    folders, skipped = usable_episodes(
        [Path(p) for p in config.episodes], options.statuses, config.evaluation_trials
    )
    if not folders:
        raise FinetuneError(
            f"no usable episodes under {', '.join(config.episodes) or '(nothing given)'}; "
            "record some with `jarvis-play record` or check them with `jarvis-play episodes check`"
        )
    train_folders, valid_folders = split_episodes(folders, config.valid_fraction, config.seed)
    train = [r for f in train_folders for r in episode_records(f, options)]
    valid_options = SftOptions(
        correction_weight=1, only_corrections=config.only_corrections, failed_episodes=config.failed_episodes
    )
    valid = [r for f in valid_folders for r in episode_records(f, valid_options)]
    if not train:
        raise FinetuneError(
            "the episodes hold no trainable ticks (all no-ops, or no corrections with --only-corrections)"
        )
    info = {
        "train": [f.name for f in train_folders],
        "valid": [f.name for f in valid_folders],
        "skipped": skipped,
        "train_samples": len(train),
        "valid_samples": len(valid),
    }
    return train, valid, info


def build_model(config: FinetuneConfig, device: str) -> tuple[Any, Any, str]:
    import torch

    from model.checkpoint import load_model, load_processor
    from model.fetch import resolve
    from model.policies.factory import model_path

    path = resolve(model_path(config.model))
    processor = load_processor(path)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    bits = quantized_bits(config, device)
    if bits:  # QLoRA: the base through host memory into 4/8-bit on the GPU, then frozen for k-bit training
        from peft import prepare_model_for_kbit_training

        from model.quantize import quantize_language_model

        model = load_model(path, "cpu", dtype)
        quantize_language_model(model, bits, device=device)
        model = prepare_model_for_kbit_training(model.to(device), use_gradient_checkpointing=False)
    else:
        model = load_model(path, device, dtype)
    return with_lora(model, config), processor, str(path)


def quantized_bits(config: FinetuneConfig, device: str) -> int | None:
    """4 or 8 for a QLoRA run (None: bf16 base); refuses, before loading, what cannot run here."""
    from model.quantize import QuantizeError, check_quantize, parse_bits

    try:
        bits = parse_bits(config.quantize)
        if bits:
            check_quantize(bits, device)
    except QuantizeError as exc:
        raise FinetuneError(
            str(exc).replace("Leave --quantize at none here", "Train without --quantize")
        ) from exc
    return bits


def with_lora(model: Any, config: FinetuneConfig) -> Any:
    """``model`` in training mode with the configured LoRA (shared with ``bench finetune``, so the bench
    measures the training this module runs)."""
    from peft import LoraConfig, get_peft_model

    model.train()
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=LORA_TARGETS,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def optimizer_for(params: list[Any], config: FinetuneConfig) -> Any:
    """AdamW over the trainable (LoRA) ``params`` with the configured rate, betas and decay."""
    import torch

    return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


def check_memory(config: FinetuneConfig, model_config: Any, device: str, progress: Progress) -> None:
    if not device.startswith("cuda"):
        return
    import torch

    from model.finetune.memory import estimate, suggestions

    free, _total = torch.cuda.mem_get_info()
    need = estimate(
        model_config, config.lora_r, config.batch_size, config.max_length, 2.0, config.gradient_checkpointing
    )
    progress(
        {
            "event": "memory",
            "estimate_gib": need.total / 2**30,
            "free_gib": free / 2**30,
            "detail": need.describe(),
        }
    )
    tips = suggestions(
        model_config,
        config.lora_r,
        config.batch_size,
        config.max_length,
        2.0,
        config.gradient_checkpointing,
        free,
    )
    if tips:
        raise FinetuneError(
            f"this run needs {need.describe()} but the GPU has {free / 2**30:.1f} GiB free "
            f"(the agent may be using it). Try: {' | '.join(tips)}"
        )


# settings that change what a run learns: a checkpoint resumes only under the same ones
_RUN_INDEPENDENT = frozenset(
    {
        "resume",
        "overwrite",
        "device",
        "eval_every",
        "eval_samples",
        "checkpoint_every",
        "gradient_checkpointing",
    }
)
_RESULT_FILES = ("adapter_model.safetensors", "adapter_config.json", "manifest.json")


def _checkpoints(out: Path) -> list[Path]:
    """Finished checkpoints, oldest first (a temporary ``.step-*`` folder is never one)."""
    found = [p for p in (out / "checkpoints").glob("step-*") if (p / "state.pt").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]) if p.name.split("-")[1].isdigit() else -1)


def _latest_checkpoint(out: Path) -> Path | None:
    steps = _checkpoints(out)
    return steps[-1] if steps else None


def redacted(model: str) -> str:
    """The base model as it may be written into files others read (no credentials of a URL)."""
    from model.spec import ModelSpec, ModelSpecError

    try:
        return ModelSpec.parse(model).redacted()
    except ModelSpecError:
        return model


def run_settings(config: FinetuneConfig) -> dict[str, Any]:
    """The settings that define a run, as stored in its checkpoints and compared on resume."""
    data = json.loads(json.dumps({**config.to_dict(), "model": redacted(config.model)}, default=str))
    return {k: v for k, v in data.items() if k not in _RUN_INDEPENDENT}


def settings_mismatch(stored: dict[str, Any], config: FinetuneConfig) -> list[str]:
    """``name: stored -> now`` for each run setting that differs."""
    now = run_settings(config)
    keys = sorted(set(stored) | set(now))
    return [f"{k}: {stored.get(k)!r} -> {now.get(k)!r}" for k in keys if stored.get(k) != now.get(k)]


def prepare_out(config: FinetuneConfig) -> Path | None:
    """Check ``--out`` before any work: refuse to overwrite a result, or to resume another run.

    Returns the checkpoint to resume from (None: start fresh). With ``overwrite`` an earlier result
    and its checkpoints are removed first, so they can neither mix with the new run nor be resumed.
    """
    out = Path(config.out)
    if config.resume and config.overwrite:
        raise FinetuneError("--resume continues the run in --out and --overwrite replaces it: choose one")
    latest = _latest_checkpoint(out) if out.is_dir() else None
    if config.resume:
        if latest is None:
            raise FinetuneError(
                f"nothing to resume in {out}: it holds no checkpoint (start without --resume)"
            )
        stored = _stored_settings(latest)
        if stored is None:
            raise FinetuneError(
                f"the checkpoint {latest} does not record its run's settings (an older version wrote it), "
                "so it cannot be resumed safely; start over with --overwrite or choose another --out"
            )
        diff = settings_mismatch(stored, config)
        if diff:
            raise FinetuneError(
                f"{latest} belongs to a run with other settings ({'; '.join(diff)}); resume with the same "
                "settings, or start over with --overwrite, or choose another --out"
            )
        return latest
    held = [name for name in _RESULT_FILES if (out / name).exists()]
    if latest is not None:
        held.append(f"checkpoints up to {latest.name}")
    if held and not config.overwrite:
        raise FinetuneError(
            f"{out} already holds an adapter or a run ({', '.join(held)}); nothing was changed. Choose "
            "another --out, continue it with --resume, or replace it with --overwrite"
        )
    if held:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
        for name in _RESULT_FILES:
            (out / name).unlink(missing_ok=True)
    return None


def _stored_settings(checkpoint: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((checkpoint / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("settings") if isinstance(data, dict) else None


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # torch.save reports a failed write as RuntimeError ("file write failed"), without the errno
    text = str(exc).lower()
    return "no space left" in text or "write failed" in text or "disk quota" in text


def _disk_error(exc: BaseException, where: Path) -> FinetuneError:
    return FinetuneError(
        f"the disk is full at {mount_point(where)} (writing {where}): free space or choose another --out; "
        "the last complete checkpoint is kept"
    )


def write_atomically(target: Path, fill: Callable[[Path], None]) -> None:
    """``recorder.files.replace_folder``: a crash or a full disk leaves either no ``target`` or the
    whole one, and an older ``target`` stays until the new one is in place. Raises FinetuneError on a
    full disk."""
    try:
        replace_folder(target, fill)
    except Exception as exc:
        if _disk_full(exc):
            raise _disk_error(exc, target) from exc
        raise


def train(
    config: FinetuneConfig, progress: Progress = lambda e: None, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Run the fine-tune; returns the manifest. ``cancel`` (or SIGTERM) stops after a checkpoint."""
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import get_cosine_schedule_with_warmup

    from model.finetune.collate import SftCollator, answer_loss
    from model.finetune.evaluate import action_accuracy
    from model.vla import VLA

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
    train_records, valid_records, data_info = load_records(config)
    report({"event": "data", **data_info})
    device = str(accelerator.device)
    model, processor, base_path = build_model(config, device)
    check_memory(config, model.config, device, report)
    collator = SftCollator(processor, config.max_length)
    loader = DataLoader(
        train_records,
        batch_size=config.batch_size,
        shuffle=True,
        collate_fn=collator,
        generator=torch.Generator().manual_seed(config.seed),
    )
    steps = config.steps or max(1, math.ceil(len(loader) / config.grad_accum))
    warmup = config.warmup_steps or max(1, steps // 20)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer_for(params, config)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    eval_every = config.eval_every or max(1, steps // 10)
    checkpoint_every = config.checkpoint_every or eval_every

    step = 0
    if resume_from is not None:
        latest = resume_from
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        unwrapped = accelerator.unwrap_model(model)
        try:
            set_peft_model_state_dict(unwrapped, load_file(str(latest / "adapter_model.safetensors")))
            state = torch.load(latest / "state.pt", weights_only=False)
        except Exception as exc:  # written by an older version without atomic saves, or edited by hand
            earlier = [p.name for p in _checkpoints(out)[:-1]]
            hint = f"move it away to resume from {earlier[-1]}" if earlier else "start over with --overwrite"
            raise FinetuneError(f"the checkpoint {latest} is damaged ({exc}); {hint}") from exc
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        torch.set_rng_state(state["rng"])
        report({"event": "resumed", "step": step, "from": str(latest)})

    history: list[dict[str, Any]] = []

    def evaluate() -> dict[str, Any]:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        metrics: dict[str, Any] = {"event": "eval", "step": step}
        if valid_records:
            sample = valid_records[: config.eval_samples]
            with torch.no_grad():
                losses = []
                for i in range(0, len(sample), config.batch_size):
                    batch = {k: v.to(device) for k, v in collator(sample[i : i + config.batch_size]).items()}
                    losses.append(float(answer_loss(unwrapped, batch)))
            vla = VLA(unwrapped, processor, name=config.model)
            accuracy = action_accuracy(vla, sample)
            metrics.update(
                valid_loss=sum(losses) / len(losses),
                action_accuracy=accuracy.rate(),
                groups={k: v["accuracy"] for k, v in accuracy.table().items()},
            )
        unwrapped.train()
        return metrics

    def save_checkpoint() -> None:
        if main:

            def fill(folder: Path) -> None:
                accelerator.unwrap_model(model).save_pretrained(str(folder))
                state = {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "rng": torch.get_rng_state(),
                }
                torch.save(state, folder / "state.pt")
                run = {"step": step, "settings": run_settings(config)}
                (folder / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")

            write_atomically(out / "checkpoints" / f"step-{step}", fill)
        accelerator.wait_for_everyone()

    if main and step == 0:
        baseline = evaluate()
        history.append(baseline)
        report(baseline)
    start = time.monotonic()
    start_step = step
    cancelled = False
    while step < steps and not cancelled:
        for batch in loader:
            with accelerator.accumulate(model):
                loss = answer_loss(model, batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if not accelerator.sync_gradients:
                continue
            step += 1
            elapsed = time.monotonic() - start
            rate = (step - start_step) / elapsed if elapsed else 0.0
            report(
                {
                    "event": "step",
                    "step": step,
                    "steps": steps,
                    "loss": float(loss.detach()),
                    "lr": scheduler.get_last_lr()[0],
                    "eta_s": (steps - step) / rate if rate else None,
                    "samples_per_s": rate * config.batch_size * accelerator.num_processes * config.grad_accum,
                }
            )
            if step % eval_every == 0 or step == steps:
                if main:
                    metrics = evaluate()
                    history.append(metrics)
                    report(metrics)
                accelerator.wait_for_everyone()
            if step % checkpoint_every == 0 or step == steps:
                save_checkpoint()
            if cancel.is_set() and step < steps:  # a cancel during the last step just lets it finish
                save_checkpoint()
                cancelled = True
                break
            if step >= steps:
                break

    manifest = {
        "base_model": redacted(config.model),
        "base_path": base_path,
        "episodes": data_info,
        "settings": {**config.to_dict(), "model": redacted(config.model)},
        "steps_done": step,
        "cancelled": cancelled,
        "metrics": history,
        "processes": accelerator.num_processes,
        "seconds": time.monotonic() - start,
    }
    if main and not cancelled:
        _save_result(
            out, lambda folder: accelerator.unwrap_model(model).save_pretrained(str(folder)), manifest
        )
    accelerator.wait_for_everyone()
    report({"event": "cancelled" if cancelled else "done", "out": str(out), "step": step})
    return manifest


def _save_result(out: Path, save_adapter: Callable[[Path], None], manifest: dict[str, Any]) -> None:
    """The adapter and its manifest, written aside and moved in file by file (manifest last)."""
    staged = out / ".result"

    def fill(folder: Path) -> None:
        save_adapter(folder)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")

    write_atomically(staged, fill)
    names = sorted(p.name for p in staged.iterdir())
    for name in [n for n in names if n != "manifest.json"] + ["manifest.json"]:
        if (staged / name).exists():
            os.replace(staged / name, out / name)
    fsync_dir(out)
    shutil.rmtree(staged, ignore_errors=True)
