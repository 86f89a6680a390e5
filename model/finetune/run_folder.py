"""A fine-tune's ``--out`` folder: its checkpoints, its result, and the rules that keep both safe.

A result is never destroyed by accident: an ``--out`` that already holds an adapter or a run is
refused unless ``--overwrite``; ``--resume`` continues only a run whose settings match (they are
stored in every checkpoint); a checkpoint is written into a temporary folder, fsynced and renamed
into place, so a crash or a full disk leaves the previous checkpoint whole; a full disk is named.
The result is a standard PEFT adapter folder plus ``manifest.json``, moved in last.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from model.finetune.config import FinetuneConfig
from model.finetune.errors import FinetuneError
from model.spec import ModelSpec, ModelSpecError
from recorder.files import fsync_dir, mount_point, replace_folder

# settings that change what a run learns: a checkpoint resumes only under the same ones
_RUN_INDEPENDENT = frozenset(
    {
        "preset",  # a name for other settings, which are compared themselves
        "resume",
        "overwrite",
        "device",
        "eval_every",
        "eval_samples",
        "final_samples",
        "checkpoint_every",
        "gradient_checkpointing",
    }
)
RESULT_FILES = ("adapter_model.safetensors", "adapter_config.json", "manifest.json")


def checkpoints(out: Path) -> list[Path]:
    """Finished checkpoints, oldest first (a temporary ``.step-*`` folder is never one)."""
    found = [p for p in (out / "checkpoints").glob("step-*") if (p / "state.pt").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]) if p.name.split("-")[1].isdigit() else -1)


def latest_checkpoint(out: Path) -> Path | None:
    steps = checkpoints(out)
    return steps[-1] if steps else None


def redacted(model: str) -> str:
    """The base model as it may be written into files others read (no credentials of a URL)."""
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
    latest = latest_checkpoint(out) if out.is_dir() else None
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
    held = [name for name in RESULT_FILES if (out / name).exists()]
    if latest is not None:
        held.append(f"checkpoints up to {latest.name}")
    if held and not config.overwrite:
        raise FinetuneError(
            f"{out} already holds an adapter or a run ({', '.join(held)}); nothing was changed. Choose "
            "another --out, continue it with --resume, or replace it with --overwrite"
        )
    if held:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
        for name in RESULT_FILES:
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


def write_atomically(target: Path, fill: Callable[[Path], None]) -> None:
    """``recorder.files.replace_folder``: a crash or a full disk leaves either no ``target`` or the
    whole one, and an older ``target`` stays until the new one is in place. Raises FinetuneError on a
    full disk."""
    try:
        replace_folder(target, fill)
    except Exception as exc:
        if _disk_full(exc):
            raise FinetuneError(
                f"the disk is full at {mount_point(target)} (writing {target}): free space or choose another "
                "--out; the last complete checkpoint is kept"
            ) from exc
        raise


def save_checkpoint(
    out: Path, step: int, config: FinetuneConfig, save_adapter: Callable[[Path], None], state: dict[str, Any]
) -> None:
    """``checkpoints/step-N``: the adapter, the optimizer/schedule/RNG ``state`` and the run's settings."""

    def fill(folder: Path) -> None:
        save_adapter(folder)
        torch.save({**state, "step": step}, folder / "state.pt")
        run = {"step": step, "settings": run_settings(config)}
        (folder / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")

    write_atomically(out / "checkpoints" / f"step-{step}", fill)


def load_checkpoint(checkpoint: Path, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the adapter's weights, the saved state) of ``checkpoint``, or a FinetuneError saying what to do."""
    try:
        weights = load_file(str(checkpoint / "adapter_model.safetensors"))
        state = torch.load(checkpoint / "state.pt", weights_only=False)
    except Exception as exc:  # written by an older version without atomic saves, or edited by hand
        earlier = [p.name for p in checkpoints(out)[:-1]]
        hint = f"move it away to resume from {earlier[-1]}" if earlier else "start over with --overwrite"
        raise FinetuneError(f"the checkpoint {checkpoint} is damaged ({exc}); {hint}") from exc
    return weights, state


def save_result(out: Path, save_adapter: Callable[[Path], None], manifest: dict[str, Any]) -> None:
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
