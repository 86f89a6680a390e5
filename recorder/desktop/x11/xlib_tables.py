"""Each python-xlib connection gets its own extension tables, so one process can talk to two X servers.

python-xlib keeps the extension opcode, event and error tables as *class* attributes of its protocol
``Display`` and fills them while a connection starts, so every connection in a process shares them.
Two servers whose extensions got different event codes (an Xvfb and an XWayland: RANDR's events at
89 on one, DAMAGE's there on the other) then corrupt each other: the second connection fails in
``add_extension_event`` ("'type' object does not support item assignment") or, worse, decodes
events with the other server's classes. A test run does exactly that (the session's Xvfb and a
compositor's XWayland), as would an app that opens a nested display. Giving each connection fresh
copies before it starts fixes it; this module does so once, on import.
"""

from __future__ import annotations

from typing import Any

from Xlib import display as _display
from Xlib import error as _error
from Xlib.protocol import event as _event

_original_init = _display._BaseDisplay.__init__


def _init_with_own_tables(self: Any, *args: Any, **kwargs: Any) -> None:
    self.extension_major_opcodes = {}
    self.error_classes = _error.xerror_class.copy()
    self.event_classes = {
        code: dict(cls) if isinstance(cls, dict) else cls for code, cls in _event.event_class.items()
    }
    _original_init(self, *args, **kwargs)


if not getattr(_display._BaseDisplay, "_jarvis_own_tables", False):
    _display._BaseDisplay.__init__ = _init_with_own_tables
    _display._BaseDisplay._jarvis_own_tables = True
