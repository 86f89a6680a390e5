"""Where the pieces of a Qwen2-VL model are, whether or not a PEFT adapter wraps it."""

from __future__ import annotations

import inspect
from typing import Any


def language_model(model: Any) -> Any:
    """The decoder stack (``Qwen2VLTextModel``), through a PEFT wrapper if there is one."""
    for candidate in (model, getattr(model, "base_model", None)):
        for path in ("model.language_model", "model.model.language_model", "language_model"):
            found = candidate
            for part in path.split("."):
                found = getattr(found, part, None)
            if found is not None:
                return found
    raise TypeError(f"{type(model).__name__}: no language_model found for the fast decoder")


def inner(model: Any) -> Any:
    """The ``Qwen2VLModel`` (``visual``, ``get_rope_index``), through a PEFT wrapper if there is one."""
    for candidate in (
        model,
        getattr(model, "base_model", None),
        getattr(getattr(model, "base_model", None), "model", None),
    ):
        found = getattr(candidate, "model", None)
        if found is not None and hasattr(found, "get_rope_index"):
            return found
    return getattr(model, "model", model)


def cache_keyword(model: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.2x): the name this version takes."""
    names = inspect.signature(language_model(model).forward).parameters
    return "cache" if "cache" in names else "past_key_values"
