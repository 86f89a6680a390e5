"""Slow work (loading a model, starting a game) off the GUI thread, reported back by signals.

A ``Job`` runs one function on a daemon thread. The function gets a ``progress(text)`` callback;
its result arrives as ``done(object)`` and any exception as ``failed(str)``, already turned into a
sentence that says what to do (``app.errors``). The window keeps a reference until the job ends.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from PyQt6 import sip
from PyQt6.QtCore import QObject, pyqtSignal

from app.errors import describe_error


class Job(QObject):
    progress = pyqtSignal(str)
    done = pyqtSignal(object)
    failed = pyqtSignal(str)
    finished = pyqtSignal()

    def __init__(
        self, fn: Callable[[Callable[[str], None]], Any], doing: str, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.fn = fn
        self.doing = doing  # "load the model": completes "Could not ..."
        self._thread = threading.Thread(target=self._run, name=f"job: {doing}", daemon=True)

    def start(self) -> Job:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Block until the job has ended (True) or ``seconds`` passed (False)."""
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def _run(self) -> None:
        emit = while_alive(self, "progress")
        try:
            result = self.fn(emit)
        except BaseException as exc:
            while_alive(self, "failed")(describe_error(exc, self.doing))
        else:
            while_alive(self, "done")(result)
        finally:
            while_alive(self, "finished")()


def while_alive(widget: QObject, signal: str) -> Callable[..., None]:
    """``widget.<signal>.emit`` for a worker thread that may outlive the widget.

    A child process's reader thread reports after the panel is gone when the window (or a test)
    closes first; emitting on a deleted C++ object from another thread crashes the interpreter.
    """
    ref = weakref.ref(widget)

    def emit(*args: Any) -> None:
        target = ref()
        if target is None or sip.isdeleted(target):
            return
        try:
            getattr(target, signal).emit(*args)
        except RuntimeError:  # deleted between the check and the emit
            return

    return emit
