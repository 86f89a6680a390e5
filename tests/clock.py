"""A fake clock for the control loop, and a policy that takes its time on it.

The loop's tests used to run on the wall clock and assert with tolerances ("about 30 ticks"), which
made them slow and, on a busy machine, flaky. Here time moves only when the code under test sleeps,
instantly and by exactly what it asked, so every tick lands at an exact time and a test can assert
exact tick counts, latencies and action sequences.

The loop's policy still runs on its real worker thread. ``FakeClock.follow`` tells the clock which
thread to wait for: before time moves on, ``sleep`` waits until that worker is idle or blocked on this
clock (``wait_until``), and it stops at every deadline on the way, so a result due at t is there for
whoever looks at t. How the OS schedules the threads cannot change what a test sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from model.actions.env import EnvAction, normalize, null_action
from model.policies.base import PolicyStep


class FakeClock:
    """``clock`` is the time source and ``clock.sleep`` the sleep to inject (``ControlLoop(clock=clock,
    sleep=clock.sleep)``, ``Control(clock=clock)``)."""

    def __init__(self, start: float = 1000.0, patience_s: float = 10.0) -> None:
        self.start = start
        self._now = start
        self._cv = threading.Condition()
        self._deadlines: list[float] = []  # of threads blocked in wait_until
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._busy: Callable[[], bool] = lambda: False
        self._patience_s = patience_s  # real seconds a followed thread may run before the test fails
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._cv:
            return self._now

    @property
    def elapsed(self) -> float:
        return self() - self.start

    def follow(self, busy: Callable[[], bool]) -> None:
        """Wait for ``busy()`` to be false (or for its thread to block here) before moving time on."""
        self._busy = busy

    def call_at(self, t: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on a thread of its own when time reaches ``t`` (an event from "another thread")."""
        with self._cv:
            self._timers.append((t, fn))

    def wait_until(self, deadline: float, cancel: threading.Event | None = None) -> None:
        """Block the calling thread until time reaches ``deadline`` (or ``cancel`` is set)."""
        with self._cv:
            if self._now >= deadline:
                return
            self._deadlines.append(deadline)
            try:
                while self._now < deadline and not (cancel is not None and cancel.is_set()):
                    self._cv.wait()
            finally:
                self._deadlines.remove(deadline)
                self._cv.notify_all()

    def interrupt(self) -> None:
        """Wake the waiters so they look at their ``cancel`` event."""
        with self._cv:
            self._cv.notify_all()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")  # as time.sleep
        self.sleeps.append(seconds)
        with self._cv:
            target = self._now + seconds
        while True:
            self._settle()
            with self._cv:
                now = self._now
                events = [d for d in self._deadlines if now < d <= target]
                events += [t for t, _ in self._timers if t <= target]
                if not events:
                    self._now = max(now, target)
                    self._cv.notify_all()
                    return
                self._now = max(now, min(events))
                due = [fn for t, fn in self._timers if t <= self._now]
                self._timers = [(t, fn) for t, fn in self._timers if t > self._now]
                self._cv.notify_all()
            for fn in due:
                thread = threading.Thread(target=fn, name="fake-clock-timer")
                thread.start()
                thread.join()

    def _settle(self) -> None:
        """Wait (in real time) until the followed worker is idle or blocked on this clock."""
        give_up = time.monotonic() + self._patience_s
        while True:
            busy = self._busy()  # outside our lock: the worker reads the clock under its own
            with self._cv:
                if not busy or any(d > self._now for d in self._deadlines):
                    return
                if time.monotonic() > give_up:
                    raise AssertionError(
                        f"the followed thread ran {self._patience_s:g} s of real time without "
                        "finishing or waiting on the fake clock"
                    )
                self._cv.wait(0.001)  # the worker's own lock cannot notify us: look again shortly


def follow_loop(clock: FakeClock, loop: Any) -> None:
    """Make ``clock`` wait for ``loop``'s policy worker (absent until ``run`` starts it)."""
    clock.follow(lambda: loop.worker is not None and loop.worker.busy)


class ClockedPolicy:
    """A policy whose steps take fake time: act returns ``latency_s`` after it was called, on the clock.

    Like ``ScriptedPolicy`` it plays a list of actions (``chunk`` per call), and ``hang_after`` /
    ``fail_after`` make it hang (until closed) or raise on that call number, 0-based. It records
    when each call started and finished, the instructions it saw, and whether anyone closed it.
    """

    def __init__(
        self,
        clock: FakeClock,
        actions: Iterable[Mapping[str, Any]],
        *,
        latency_s: float = 0.0,
        chunk: int = 1,
        hang_after: int | None = None,
        fail_after: int | None = None,
    ) -> None:
        self.clock = clock
        self.actions: list[EnvAction] = [normalize(a) for a in actions]
        self.latency_s = latency_s
        self.chunk = chunk
        self.hang_after = hang_after
        self.fail_after = fail_after
        self.instructions: list[str] = []
        self.started: list[float] = []
        self.finished: list[float] = []
        self.closed = False
        self._cancel = threading.Event()
        self._pos = 0

    @property
    def calls(self) -> int:
        return len(self.started)

    def reset(self) -> None:
        self._pos = 0

    def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
        call = self.calls
        start = self.clock()
        self.started.append(start)
        self.instructions.append(instruction)
        if self.fail_after is not None and call >= self.fail_after:
            raise RuntimeError(f"clocked failure on call {call}")
        if self.hang_after is not None and call >= self.hang_after:
            self.clock.wait_until(float("inf"), self._cancel)
        self.clock.wait_until(start + self.latency_s, self._cancel)
        out: list[EnvAction] = []
        for _ in range(self.chunk):
            action = self.actions[self._pos % len(self.actions)] if self.actions else null_action()
            out.append(dict(action, camera=list(action["camera"])))
            self._pos += 1
        self.finished.append(self.clock())
        return PolicyStep(actions=out)

    def close(self) -> None:
        self.closed = True
        self._cancel.set()
        self.clock.interrupt()
