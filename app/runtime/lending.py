"""What a loop borrows from the session: the policy and the game's connector.

The session owns both and outlives many loops (Stop ends a loop, Start makes a new one on the same
game and model). A loop never closes what it borrows, and a stopped loop's worker may still be
inside a policy call when the next loop starts, so the policy is lent through ``LentPolicy`` (one
call at a time) and the connector through ``LentConnector`` (which also remembers the last action
applied, for viewers and the recorder).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from app.games.connector import Connector, Rect
from model.actions.env import EnvAction
from model.policies.base import Policy, PolicyStep
from recorder.input import InjectionLedger

if TYPE_CHECKING:
    from app.games.desktop import DesktopConfig  # as the Connector protocol types it


class LentPolicy:
    """The session's policy as lent to one loop. ``act`` is serialised, because a stopped loop's
    worker may still be finishing a call while the next loop's worker starts one."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.policy.reset()

    def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
        with self._lock:
            return self.policy.act(frame, instruction)

    def close(self) -> None:
        """Borrowed: the session closes the model when it changes or ends."""

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for a call still running on a stopped loop's worker (closing a model mid-call, or
        exiting the interpreter under it, crashes torch)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False


class LentConnector:
    """The game's connector as lent to one loop: every member of the ``Connector`` protocol passes
    through, ``apply`` also remembers the action (``action``), and ``close`` is the session's job."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.action: EnvAction | None = None
        self.realtime = inner.realtime

    def apply(self, action: EnvAction) -> None:
        self.inner.apply(action)
        self.action = action

    def close(self) -> None:
        """Borrowed: the session closes the game when it changes or ends."""

    @property
    def ledger(self) -> InjectionLedger | None:
        return self.inner.ledger

    @property
    def config(self) -> DesktopConfig | None:
        return self.inner.config

    @property
    def display(self) -> str | None:
        return self.inner.display

    @property
    def window_id(self) -> int:
        return self.inner.window_id

    @property
    def window_title(self) -> str:
        return self.inner.window_title

    @property
    def rect(self) -> Rect:
        return self.inner.rect

    @property
    def gui_open(self) -> bool:
        return self.inner.gui_open

    @property
    def cursor(self) -> tuple[float, float] | None:
        return self.inner.cursor

    @property
    def finished(self) -> bool:
        return self.inner.finished

    def observe(self) -> np.ndarray:
        return self.inner.observe()

    def policy_frame(self, frame: np.ndarray) -> np.ndarray:
        return self.inner.policy_frame(frame)

    def release_all(self) -> None:
        self.inner.release_all()

    def has_focus(self) -> bool:
        return self.inner.has_focus()

    def covered(self) -> str | None:
        return self.inner.covered()
