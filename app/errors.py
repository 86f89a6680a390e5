"""Exceptions turned into sentences a person can act on: what failed, why, and what to do next.

The window and the headless commands show these instead of tracebacks (the traceback still goes to
the log). Each layer has one root, and errors are recognised by type, never by name: ``AppError``
here, ``model.errors.ModelError`` and ``recorder.errors.RecorderError`` below. ``UserError`` and the
two lower roots carry a complete message (what is wrong and what to do); ``PlayEnded`` is play
ending for an ordinary reason, shown with its ``hint``. For anything else a hint is looked up by type.
"""

from __future__ import annotations

import logging

from model.errors import ModelError
from recorder.errors import RecorderError

LOG = logging.getLogger(__name__)


class AppError(Exception):
    """The root of the errors ``app/`` raises on purpose."""


class UserError(AppError):
    """A problem the user can fix; its message says how. Shown as one sentence, without a traceback."""


class PlayEnded(AppError):
    """Play ended for an ordinary reason (the game was closed): shown as a sentence plus ``hint``, and
    its traceback goes to the log only at debug level (-v), like the errors with a complete message."""

    hint = "Start it again."


# The errors whose message is already a complete instruction, whichever layer raised them.
OWN_ERRORS: tuple[type[BaseException], ...] = (UserError, ModelError, RecorderError)

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
    own = isinstance(exc, OWN_ERRORS)
    ordinary = exc.hint if isinstance(exc, PlayEnded) else None
    if (own or ordinary) and not LOG.isEnabledFor(logging.DEBUG):
        LOG.info("could not %s: %r", doing, exc)
    else:
        LOG.error("could not %s", doing, exc_info=exc)
    reason = str(exc).strip() or type(exc).__name__
    message = f"Could not {doing}: {reason}"
    if not message.endswith((".", "!", "?")):
        message += "."
    return message if own else f"{message} {ordinary or _hint(exc)}"
