"""A one-item mailbox: the producer overwrites, the consumer takes the newest or nothing.

The loop publishes a frame every tick; a viewer that falls behind must skip to the newest frame, not
queue them (mcio_ctrl's LatestItemQueue). ``put`` says whether the slot was empty, so a producer can
send a single "something new" notification per item the consumer actually takes.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Latest(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self._full = False
        self.dropped = 0  # items overwritten before anyone took them

    def put(self, item: T) -> bool:
        """Store ``item``; True when the slot was empty (the consumer needs a wake-up)."""
        with self._lock:
            was_full = self._full
            self.dropped += was_full
            self._item, self._full = item, True
            return not was_full

    def take(self) -> T | None:
        with self._lock:
            item, self._item, self._full = self._item, None, False
            return item
