"""Steps a signal must not cut in half, and the exception a signal becomes.

``app.runtime.safety.SafetyNet`` turns SIGINT, SIGTERM and SIGHUP into an exception in the main thread,
so that every ``finally`` runs. Raised in the middle of starting a child process and noting its pid, or
of stopping it and removing its folder, that exception would leave the child or the folder behind
(the demo game outlived a window signalled as it started). Such a step runs inside ``uninterrupted()``:
the signal's exception then waits for the end of the outermost one. Here, apart from the safety net and
the games, so both can use it without importing each other.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_held = threading.local()  # the main thread's depth in uninterrupted() and the signal it deferred


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A step a signal must not cut in half: a SafetyNet's exception for a signal that lands inside
    waits for the end of the outermost one. Signals are handled on the main thread, so on any other
    this changes nothing (no exception is raised there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held.depth = getattr(_held, "depth", 0) + 1
    try:
        yield
    finally:
        _held.depth -= 1
        pending = getattr(_held, "pending", None)
        if _held.depth == 0 and pending is not None:
            _held.pending = None
            raise_for(pending)


def defer_raise(signum: int) -> bool:
    """In a signal handler: True (and the signal kept for later) when an uninterrupted step runs."""
    if getattr(_held, "depth", 0) <= 0:
        return False
    if getattr(_held, "pending", None) is None:
        _held.pending = signum
    return True


def raise_for(signum: int) -> None:
    """The exception a signal becomes: KeyboardInterrupt for SIGINT, else SystemExit(128 + signal)."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)
