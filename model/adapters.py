"""Hot-swapping a LoRA adapter into the running local policy, and saying plainly when that cannot work.

A local policy owns a ``model.vla.VLA`` whose ``load_adapter``/``unload_adapter`` wrap the base
model in place, so a swap takes a second instead of reloading gigabytes. It is done under
``vla.lock``, the lock the policy holds around every generate, so the loop's worker never runs
half-swapped weights: it simply waits one swap for its next action. A server policy's weights live
in another process and cannot be swapped from here.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from model.checkpoint import CheckpointError
from model.errors import ModelError
from model.spec import ModelSpec

LOG = logging.getLogger(__name__)
MANIFEST = "manifest.json"  # written by ``model.finetune.train`` beside the adapter
_HF_CACHE = re.compile(r"models--([^/]+?)--([^/]+)")  # .../models--Owner--Name/snapshots/<hash>


class AdapterError(ModelError, RuntimeError):
    """A swap that cannot be done; the message says what to do instead."""


def local_vla(policy: Any) -> Any | None:
    """The policy's in-process model when it has one that takes adapters, else None."""
    vla = getattr(policy, "vla", None)
    return vla if vla is not None and hasattr(vla, "load_adapter") else None


def swap_problem(policy: Any, spec: str | None) -> str | None:
    """Why adapters cannot be swapped into this policy (None: they can)."""
    if policy is None:
        return "No model is loaded yet: pick one first."
    if spec is not None and ModelSpec.parse(spec).remote:
        return (
            f"The model runs on a server ({spec}): adapters cannot be swapped from the window. "
            "Restart the server with the adapter, or pick a local model."
        )
    if local_vla(policy) is None:
        return f"The model {spec or ''} is not a local transformers model, so it takes no adapter."
    return None


def active_adapter(policy: Any) -> str | None:
    vla = local_vla(policy)
    return vla.adapter if vla is not None else None


def swap(policy: Any, spec: str | None, adapter: str | None) -> str | None:
    """Load ``adapter`` (a PEFT folder) into the policy's model, or go back to the base (None).

    Slow (reads the adapter weights): call it off the GUI thread. Returns the active adapter.
    Going back to the base on a model that has no adapter (a server, a scripted policy) is a no-op:
    an evaluation's base arm plays on any model.
    """
    if adapter is None and policy is not None and local_vla(policy) is None:
        return None
    problem = swap_problem(policy, spec)
    if problem:
        raise AdapterError(problem)
    vla = local_vla(policy)
    if adapter is not None and not (Path(adapter).expanduser() / "adapter_config.json").is_file():
        raise AdapterError(
            f"{adapter} is not an adapter folder (no adapter_config.json): pick the "
            "folder a fine-tune wrote (its --out), not a checkpoint inside it."
        )

    with vla.lock:
        try:
            if adapter is None:
                vla.unload_adapter()
            else:
                vla.load_adapter(adapter)
        except CheckpointError as exc:  # the model kept the adapter it had (see VLA.load_adapter)
            raise AdapterError(str(exc)) from exc
        return vla.adapter  # type: ignore[no-any-return]


def _names(text: str | None) -> set[str]:
    """The ways one base model can be written: as given, as a resolved folder, as an HF id."""
    if not text:
        return set()
    out = {str(text)}
    path = Path(str(text)).expanduser()
    try:
        if path.exists():
            out.add(str(path.resolve()))
    except OSError:
        pass
    match = _HF_CACHE.search(str(text))
    if match:
        out.add(f"{match.group(1)}/{match.group(2)}")
    return out


def base_mismatch(adapter: Path, base_name: str | None, base_path: str | None) -> str | None:
    """Why ``adapter`` does not belong on this base (None: it does, or its manifest does not say).

    An adapter trained on another base with the same shapes loads without an error and plays
    nonsense, so the fine-tune's manifest is the only guard. An adapter without a manifest (made
    elsewhere) is let through with a log line.
    """
    try:
        manifest = json.loads((Path(adapter) / MANIFEST).read_text())
    except FileNotFoundError:
        LOG.info("%s has no %s: cannot check which base it was trained on", adapter, MANIFEST)
        return None
    except (OSError, ValueError) as exc:
        return f"{adapter}/{MANIFEST} is unreadable ({exc}); cannot tell which base the adapter is for"
    if not isinstance(manifest, dict):
        return f"{adapter}/{MANIFEST} is not a fine-tune manifest"
    trained = _names(manifest.get("base_model")) | _names(manifest.get("base_path"))
    if not trained:
        return None
    loaded = _names(base_name) | _names(base_path)
    if trained & loaded:
        return None
    return (
        f"the adapter {adapter} was trained on {manifest.get('base_model') or manifest.get('base_path')}, "
        f"but the loaded model is {base_name or base_path}: load that base model, or fine-tune one for this"
    )


def strip_tuner_layers(model: Any) -> int:
    """Put back the plain layers wherever a (failed) adapter load wrapped them; returns how many."""
    from peft.tuners.tuners_utils import BaseTunerLayer  # heavy: peft

    replaced = 0
    for name, module in list(model.named_modules()):
        if not isinstance(module, BaseTunerLayer) or not name:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
        replaced += 1
    if hasattr(model, "peft_config"):  # set by the wrapping; a later load would see two adapters
        del model.peft_config
    return replaced
