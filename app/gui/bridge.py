"""The one seam between the session's threads and Qt: callbacks in, queued signals out.

Tick callbacks arrive on the loop thread 20 times a second; the newest ``TickView`` goes into a
latest-only slot and ``tick_ready`` is emitted only when the slot was empty, so a GUI that falls
behind skips frames instead of queueing them. Signals emitted from another thread reach slots in the
GUI thread as queued calls, which is what keeps every widget on its own thread.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal

from app.gui.workers import while_alive
from app.runtime.latest import Latest
from app.session import Session, TickView


class SessionBridge(QObject):
    tick_ready = pyqtSignal()
    mode_changed = pyqtSignal(str)
    stopped = pyqtSignal(str)
    error = pyqtSignal(str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._latest: Latest[TickView] = Latest()
        self._tick_ready = while_alive(self, "tick_ready")
        session.on_tick.append(self._on_tick)
        # the session (and its loop thread) may outlive this bridge: emit only while it exists
        session.on_mode.append(while_alive(self, "mode_changed"))
        session.on_stopped.append(while_alive(self, "stopped"))
        session.on_error.append(while_alive(self, "error"))

    def _on_tick(self, view: TickView) -> None:  # loop thread
        if self._latest.put(view):
            self._tick_ready()

    def take(self) -> TickView | None:  # GUI thread
        return self._latest.take()

    @property
    def dropped(self) -> int:
        return self._latest.dropped
