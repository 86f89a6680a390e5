"""Exceptions turned into sentences a person can act on: what failed, why, and what to do next.

The window and the headless commands show these instead of tracebacks (the traceback still goes to
the log). Errors raised by our own code already carry a fix in their message: ``UserError`` and its
subclasses here, and the few errors ``model/`` and ``recorder/`` raise (they cannot import ``app/``,
so they are listed by type in ``own_error_types``). For anything else a hint is looked up by type.
"""

from __future__ import annotations

import importlib
import logging

LOG = logging.getLogger(__name__)


class UserError(Exception):
    """A problem the user can fix; its message says how. Shown as one sentence, without a traceback."""


# Errors raised below app/ whose messages already say what to do: "module:Class".
_LOWER_LAYER_ERRORS = (
    "model.checkpoint:CheckpointError",
    "model.policies.base:PolicyError",
    "model.tasks:TaskFileError",
    "model.adapters:AdapterError",
    "model.finetune.train:FinetuneError",
    "recorder.episodes.library:LibraryError",
    "recorder.episodes.video:VideoError",
)

# Errors that end play for an ordinary reason, with what to do: shown as a sentence, and their
# traceback goes to the log only at debug level (-v), like the errors with a complete message.
_ORDINARY_ERRORS = {
    "app.games.desktop:GameWindowGone": "The game was closed: start it again, then start the agent again.",
}

# import name -> the pip package that provides it, where the two differ
PIP_PACKAGES = {
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "Xlib": "python-xlib",
    "yaml": "pyyaml",
    "PyQt6": "pyqt6",
    "sklearn": "scikit-learn",
    "google": "protobuf",
}


def own_error_types() -> tuple[type[BaseException], ...]:
    """The exception types whose message is already a complete instruction (lower layers load lazily,
    so a missing optional package never hides the error being described)."""
    types: list[type[BaseException]] = [UserError]
    for ref in _LOWER_LAYER_ERRORS:
        module, _, name = ref.partition(":")
        try:
            types.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # that layer is not installed: its errors cannot occur
            continue
    return tuple(types)


def pip_package(module_name: str | None) -> str:
    """The pip package to install for a missing import (``cv2`` -> opencv-python-headless)."""
    top = (module_name or "").split(".")[0]
    return PIP_PACKAGES.get(top, top)


def _hint(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ModuleNotFoundError):
        return (
            f"Python package {exc.name!r} is missing: install it (pip install {pip_package(exc.name)}) "
            "and try again."
        )
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return "Not enough memory for this model: pick a smaller one, a server URL, or the tiny model."
    if isinstance(exc, TimeoutError):
        return "It took too long: check that the game or server is running, then try again."
    if isinstance(exc, PermissionError):
        return "Permission denied: pick a folder you can write to in Settings."
    if isinstance(exc, (FileNotFoundError, LookupError)):
        return "Check the name or path in the pickers, then try again."
    if isinstance(exc, ConnectionError):
        return "Cannot reach it: check the URL and that the server is running."
    return "See the log (run with -v) for details."


def describe_error(exc: BaseException, doing: str) -> str:
    """``"Could not <doing>: <reason>. <what to do>"``, without a traceback."""
    own = isinstance(exc, own_error_types())
    ordinary = next((hint for cls, hint in _ordinary_types() if isinstance(exc, cls)), None)
    if (own or ordinary) and not LOG.isEnabledFor(logging.DEBUG):
        LOG.info("could not %s: %r", doing, exc)
    else:
        LOG.error("could not %s", doing, exc_info=exc)
    reason = str(exc).strip() or type(exc).__name__
    message = f"Could not {doing}: {reason}"
    if not message.endswith((".", "!", "?")):
        message += "."
    return message if own else f"{message} {ordinary or _hint(exc)}"


def _ordinary_types() -> list[tuple[type[BaseException], str]]:
    out = []
    for ref, hint in _ORDINARY_ERRORS.items():
        module, _, name = ref.partition(":")
        try:
            out.append((getattr(importlib.import_module(module), name), hint))
        except (ImportError, AttributeError):
            continue
    return out
