"""Exceptions turned into sentences a person can act on: what failed, why, and what to do next.

The window and the headless commands show these instead of tracebacks (the traceback still goes to
the log). Errors raised by our own code already carry a fix in their message (``CheckpointError``,
``PolicyError``, ``UserError``); for the rest a hint is looked up by type.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)


def _hint(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ModuleNotFoundError):
        return f"Python package {exc.name!r} is missing: install it (pip install {exc.name}) and try again."
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
    LOG.error("could not %s", doing, exc_info=exc)
    reason = str(exc).strip() or type(exc).__name__
    own = type(exc).__name__ in ("CheckpointError", "PolicyError", "UserError", "TaskFileError", "GameError")
    message = f"Could not {doing}: {reason}"
    if not message.endswith((".", "!", "?")):
        message += "."
    return message if own else f"{message} {_hint(exc)}"
