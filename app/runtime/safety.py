"""Release every held key and button on every way out of the process.

The loop's own ``finally`` covers normal stops and exceptions; this adds SIGINT, SIGTERM and SIGHUP
(release first, then raise so the ``finally`` blocks run too) and ``atexit`` for whatever is left.
Releasing twice is harmless (the connector's ``release_all`` is idempotent), forgetting once leaves
the user's W key stuck down in their game.

A SIGINT or SIGHUP that the process was started ignoring stays ignored, as Python itself leaves an
ignored SIGINT: ``nohup jarvis-play ...`` asks to outlive the terminal, and a script's ``jarvis-play
... &`` keeps its Ctrl+C for the foreground job. Catching them anyway stopped the agent when that
terminal closed. Input stays safe: the agent still holds it only while in control, and SIGTERM, the
window's Stop and the person's takeover still end that.

Some steps must not be cut in half by that raise: starting a child process and noting its pid,
stopping it and removing its folder. Inside ``app.signals.uninterrupted()`` (main thread) a signal
still releases input and stops the loop at once, but its exception waits until the step is done.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from app.signals import defer_raise, raise_for

LOG = logging.getLogger(__name__)

SIGNALS = tuple(
    s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None
)
FROM_A_TERMINAL = tuple(s for s in SIGNALS if s != signal.SIGTERM)  # a shell or nohup may ignore these


class SafetyNet:
    """``with SafetyNet(connector.release_all): loop.run()``"""

    def __init__(
        self,
        release: Callable[[], None],
        on_signal: Callable[[int], None] | None = None,
        raise_after: bool = True,
    ) -> None:
        self._release = release
        self._on_signal = on_signal  # e.g. tell the loop to stop, or ask Qt to quit
        # False for an event loop (Qt): an exception raised inside its callback aborts the process,
        # so the handler only releases and lets ``on_signal`` end the loop the ordinary way.
        self._raise_after = raise_after
        self._previous: dict[int, Any] = {}
        self.signalled: int | None = None

    def release(self) -> None:
        try:
            self._release()
        except Exception:
            LOG.exception("releasing held input failed")

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = signum
        self.release()
        if self._on_signal is not None:
            self._on_signal(signum)
        if not self._raise_after:
            return
        if defer_raise(signum):  # in a step that must finish: raised when it has
            return
        raise_for(signum)

    def __enter__(self) -> SafetyNet:
        atexit.register(self.release)
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                if sig in FROM_A_TERMINAL and signal.getsignal(sig) == signal.SIG_IGN:
                    LOG.info("%s was ignored from the start (nohup, a background job): it still is", sig.name)
                    continue
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        atexit.unregister(self.release)
