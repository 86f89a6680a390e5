"""Hot-swapping a LoRA adapter into the running local policy, and saying plainly when that cannot work.

A local policy owns a ``model.vla.VLA`` whose ``load_adapter``/``unload_adapter`` wrap the base
model in place, so a swap takes a second instead of reloading gigabytes. It is done under
``vla.lock``, the lock the policy holds around every generate, so the loop's worker never runs
half-swapped weights: it simply waits one swap for its next action. A server policy's weights live
in another process and cannot be swapped from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.spec import ModelSpec


class AdapterError(RuntimeError):
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
        return (f"The model runs on a server ({spec}): adapters cannot be swapped from the window. "
                "Restart the server with the adapter, or pick a local model.")
    if local_vla(policy) is None:
        return f"The model {spec or ''} is not a local transformers model, so it takes no adapter."
    return None


def active_adapter(policy: Any) -> str | None:
    vla = local_vla(policy)
    return vla.adapter if vla is not None else None


def swap(policy: Any, spec: str | None, adapter: str | None) -> str | None:
    """Load ``adapter`` (a PEFT folder) into the policy's model, or go back to the base (None).

    Slow (reads the adapter weights): call it off the GUI thread. Returns the active adapter.
    """
    problem = swap_problem(policy, spec)
    if problem:
        raise AdapterError(problem)
    vla = local_vla(policy)
    if adapter is not None and not (Path(adapter).expanduser() / "adapter_config.json").is_file():
        raise AdapterError(f"{adapter} is not an adapter folder (no adapter_config.json): pick the "
                           "folder a fine-tune wrote (its --out), not a checkpoint inside it.")
    with vla.lock:
        if adapter is None:
            vla.unload_adapter()
        else:
            vla.load_adapter(adapter)
        return vla.adapter  # type: ignore[no-any-return]
