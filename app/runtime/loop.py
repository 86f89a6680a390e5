"""The control loop: observe, decide, inject, at a fixed tick; or lockstep with an environment.

Real time (the desktop): the game does not wait, so the policy runs on its own worker thread and
the loop never waits for it. Each tick the loop captures a frame, hands it to the worker if the
worker is idle, and applies an action: the first action of a result that arrived since the last
tick, or, when the model is late, the configured fallback (counted as a missed tick):

* ``hold``   – the default: the next action of the last result's chunk, and once it runs out the last
               applied action's keys and buttons with a still camera, under the same dead-man rule as
               ``repeat``. A model slower than the game (a 4-bit 7B on a gaming card answers 4-7 times
               a second) must not let go of attack between its answers: Minecraft resets a block's
               breaking progress when the button is released, so such a model could never mine;
* ``chunk``  – the next action of the last result's action chunk, the null action once it runs out;
* ``repeat`` – the last applied action's held keys and buttons, with a still camera (camera deltas
               are relative, so repeating them would turn twice as far as the model asked), but only
               while the model's last answer is younger than ``deadman_s``: a model that stops
               answering (a hung server whose requests time out as soft errors) must not keep W held
               for the whole run, so after that the null action is applied until a fresh one comes;
* ``null``   – the null action.

Lockstep (a MineRL environment): every step waits for the policy, and each action of a chunk is one
step. Replay: the actions come from a list, one per tick, no policy.

Threads: ``run`` owns the connector's observe/apply; ``set_instruction`` and ``stop`` may be called
from any thread; the policy object is touched only by the worker thread. A policy that raises stops
the loop; one that runs longer than ``policy_timeout_s`` is declared hung and stops it too. Every way
out of ``run`` releases all held input.

The loop borrows its policy: it never closes it, so one policy can serve many loops (a session that
restarts its loop, a GUI that switches tasks). Whoever made the policy closes it once ``run`` returns;
``run`` first waits a little (``FINISH_WAIT_S``) for a step still running on the worker, so that close
rarely lands in the middle of one.

Time comes from the injected ``clock`` and ``sleep`` (the real ones by default): the loop, the worker's
timestamps and that wait all use them, so a test can run the loop on a fake clock, tick for tick.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.errors import AppError
from app.games.connector import Connector
from app.runtime.takeover import Control, ControlConfig, Mode
from app.runtime.telemetry import Telemetry, TickRecord
from model.actions.env import BUTTONS, EnvAction, is_null, null_action
from model.policies.base import Policy, PolicyError, PolicyStep

LOG = logging.getLogger(__name__)

Fallback = Literal["hold", "chunk", "repeat", "null"]
FALLBACKS: tuple[str, ...] = ("hold", "chunk", "repeat", "null")
FINISH_WAIT_S = 0.5  # at the end of a run, how long to wait for a policy step still in flight


class PolicyFailed(AppError, RuntimeError):
    """The policy raised, or hung past its timeout (``hung``: its call may never return)."""

    def __init__(self, message: str, hung: bool = False) -> None:
        super().__init__(message)
        self.hung = hung


@dataclass
class LoopConfig:
    hz: float = 20.0  # ticks per second in real time; the env's own rate in lockstep
    fallback: Fallback = "hold"
    seconds: float | None = None  # stop after this long (None: until stopped)
    max_ticks: int | None = None
    policy_timeout_s: float = 30.0  # a single policy call longer than this counts as hung
    deadman_s: float | None = 1.0  # hold/repeat: no fresh action this long releases all (None: never)


@dataclass
class _Result:
    step: PolicyStep
    frame_time: float  # loop clock when the frame it answers was captured
    started: float
    finished: float


class PolicyWorker:
    """Runs ``policy.act`` on a daemon thread, one request at a time; results are polled, never awaited."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.perf_counter) -> None:
        self.policy = policy
        self._clock = clock
        self._cv = threading.Condition()
        self._request: tuple[np.ndarray, str, float] | None = None
        self._result: _Result | None = None
        self._error: BaseException | None = None
        self._busy_since: float | None = None
        self._closed = False
        self.soft_errors = 0  # PolicyError steps: counted as missed ticks, not fatal
        self._thread = threading.Thread(target=self._run, name="policy-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._request is None and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                frame, instruction, frame_time = self._request  # type: ignore[misc]
                self._request = None
            started = self._clock()
            try:
                step = self.policy.act(frame, instruction)
            except PolicyError as exc:  # a late or unreachable model: the loop's fallback covers it
                LOG.warning("policy step failed: %s", exc)
                with self._cv:
                    self.soft_errors += 1
                    self._busy_since = None
                continue
            except BaseException as exc:
                with self._cv:
                    self._error = exc
                    self._busy_since = None
                return
            finished = self._clock()
            with self._cv:
                self._result = _Result(step, frame_time, started, finished)
                self._busy_since = None

    @property
    def idle(self) -> bool:
        with self._cv:
            return self._busy_since is None and self._result is None

    def submit(self, frame: np.ndarray, instruction: str, frame_time: float) -> bool:
        with self._cv:
            if self._busy_since is not None or self._closed or self._error is not None:
                return False
            self._busy_since = self._clock()
            self._request = (frame, instruction, frame_time)
            self._cv.notify()
            return True

    def poll(self) -> _Result | None:
        with self._cv:
            if self._error is not None:
                raise PolicyFailed(f"the policy raised {self._error!r}") from self._error
            result, self._result = self._result, None
            return result

    def busy_for(self) -> float:
        with self._cv:
            return 0.0 if self._busy_since is None else self._clock() - self._busy_since

    @property
    def busy(self) -> bool:
        """A request is waiting for the policy or in its ``act``."""
        with self._cv:
            return self._busy_since is not None

    def close(self) -> None:
        """Take no more requests; the thread ends once a step in flight returns (never waited for here)."""
        with self._cv:
            self._closed = True
            self._cv.notify()


def held_only(action: EnvAction) -> EnvAction:
    """The same keys and buttons, camera still: what ``repeat`` applies."""
    out = {k: action.get(k, 0) for k in BUTTONS}
    out["camera"] = [0.0, 0.0]
    return out


class ControlLoop:
    def __init__(
        self,
        connector: Connector,
        policy: Policy | None = None,
        instruction: str = "",
        config: LoopConfig | None = None,
        control: Control | None = None,
        actions: Iterable[EnvAction] | None = None,  # replay these instead of asking a policy
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (policy is None) == (actions is None):
            raise ValueError("give either a policy or a list of actions to replay")
        self.connector = connector
        self.policy = policy
        self.config = config or LoopConfig()
        self.control = control or Control(ControlConfig(), connector.release_all)
        self.telemetry = Telemetry()
        self.subscribers: list[Callable[[TickRecord], None]] = []
        self._actions: Iterator[EnvAction] | None = iter(actions) if actions is not None else None
        self._instruction = instruction
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clock = clock
        self._sleep = sleep
        self.error: BaseException | None = None
        self.frame: np.ndarray | None = None  # the latest observation, for viewers
        # The policy's worker while ``run`` runs in real time: a fake clock in tests waits for it to
        # settle before moving time on, so that "the model took 0.2 s" is exact.
        self.worker: PolicyWorker | None = None

    # ----- any thread -------------------------------------------------------------------------
    @property
    def instruction(self) -> str:
        with self._lock:
            return self._instruction

    def set_instruction(self, text: str) -> None:
        with self._lock:
            self._instruction = text

    def stop(self) -> None:
        self._stop.set()

    # ----- loop thread ------------------------------------------------------------------------
    def run(self) -> Telemetry:
        """Run until stopped, out of time, out of actions, or an error; always releases input."""
        # Everything imported so far lives as long as the process: freezing it keeps the garbage
        # collector from rescanning it in the middle of a tick (a gen-2 pass costs 10+ ms here).
        gc.collect()
        gc.freeze()
        try:
            if self.connector.realtime or self._actions is not None:
                self._run_realtime()
            else:
                self._run_lockstep()
        except BaseException as exc:
            self.error = exc
            self.control.stop(f"error: {exc!r}")
            raise
        finally:
            self.connector.release_all()
        return self.telemetry

    def _done(self, tick: int, t0: float) -> bool:
        cfg = self.config
        return (
            self._stop.is_set()
            or self.control.mode is Mode.STOPPED
            or (cfg.max_ticks is not None and tick >= cfg.max_ticks)
            or (cfg.seconds is not None and self._clock() - t0 >= cfg.seconds)
            or bool(getattr(self.connector, "finished", False))  # an environment's episode ended
        )

    def _publish(self, rec: TickRecord) -> None:
        self.telemetry.add(rec)
        for fn in self.subscribers:
            try:
                fn(rec)
            except Exception:
                LOG.exception("tick subscriber failed")

    def _run_realtime(self) -> None:
        period = 1.0 / self.config.hz
        worker = PolicyWorker(self.policy, self._clock) if self.policy is not None else None
        self.worker = worker
        hung = False
        self.connector.observe()  # warm-up: the first grab opens the capture on this thread (~50 ms)
        chunk: list[EnvAction] = []
        last: EnvAction = null_action()
        focused_before = True
        covered_before: str | None = None
        dead = False  # the dead-man rule has released everything and waits for a fresh action
        t0 = self._clock()
        last_fresh = t0
        next_tick = t0
        tick = 0
        try:
            while not self._done(tick, t0):
                start = self._clock()
                mode = self.control.update()
                if mode is Mode.STOPPED:
                    break
                rec = TickRecord(tick, start - t0, mode)
                # Coverage is asked on both sides of the grab (same thread as the capture): before, for
                # what the capture knew then (a window capture's undrawn storage); after, because a
                # window that arrived in between is in a screen grab although the first answer was None.
                covered = self.connector.covered()
                c0 = self._clock()
                frame = self.connector.observe()
                rec.captured_at = time.monotonic()
                frame_time = self._clock()
                rec.capture_ms = (frame_time - c0) * 1000
                self.frame = frame
                covered = covered or self.connector.covered()
                rec.covered = covered
                if covered and not covered_before:
                    LOG.info("the game is not visible (%s): agent paused, input released", covered)
                    self.connector.release_all()
                covered_before = covered
                focused = self.connector.has_focus() and not covered
                rec.focused = focused
                if not focused and focused_before:
                    LOG.info("game window lost focus: agent paused, input released")
                    self.connector.release_all()
                elif focused and not focused_before:
                    LOG.info("game window has focus again")
                focused_before = focused

                result = None
                if worker is not None:
                    result = worker.poll()
                    if worker.busy_for() > self.config.policy_timeout_s:
                        hung = True
                        raise PolicyFailed(
                            f"the policy did not answer within {self.config.policy_timeout_s:g} s", hung=True
                        )

                can_inject = mode is Mode.AGENT and focused
                action: EnvAction | None
                if self._actions is not None:
                    action = next(self._actions, None) if can_inject else None  # replay waits while paused
                    if can_inject and action is None:
                        break
                    rec.fresh = action is not None
                elif result is not None:
                    chunk = [dict(a) for a in result.step.actions] or [null_action()]
                    action = chunk.pop(0)
                    rec.fresh = True
                    last_fresh = start
                    if dead:
                        LOG.info("a fresh action came: the agent holds keys again")
                        dead = False
                    rec.model_ms = (result.finished - result.started) * 1000
                else:
                    action = None

                if can_inject:
                    if action is None:
                        rec.missed = True
                        action = self._fallback(chunk, last)
                        if self._dead_man(start - last_fresh) and not is_null(action):
                            if not dead:
                                LOG.warning(
                                    "no fresh action for %.1f s: released everything until one comes",
                                    start - last_fresh,
                                )
                                dead = True
                            action = null_action()
                    picked = action

                    def inject(a: EnvAction = picked) -> None:
                        self.connector.apply(a)

                    i0 = self._clock()
                    rec.injected = self.control.run_if_agent(inject)
                    i1 = self._clock()
                    rec.inject_ms = (i1 - i0) * 1000
                    if rec.injected:
                        last = action
                        rec.null = is_null(action)
                        if result is not None:
                            rec.e2e_ms = (i1 - result.frame_time) * 1000
                    if worker is not None and worker.idle:
                        # the model's view: with the GUI cursor sprite while a screen is open
                        worker.submit(self.connector.policy_frame(frame), self.instruction, frame_time)
                else:
                    chunk = []  # a plan made before a handover is stale
                rec.work_ms = (self._clock() - start) * 1000
                self._publish(rec)
                tick += 1
                next_tick += period
                delay = next_tick - self._clock()
                if delay > 0:
                    self._sleep(delay)
                elif delay < -period:  # far behind: do not try to catch up with a burst of ticks
                    self.telemetry.overruns += 1
                    next_tick = self._clock()
        finally:
            self.connector.release_all()
            if worker is not None:
                worker.close()
                if not hung:
                    self._wait_for(worker, FINISH_WAIT_S)

    def _wait_for(self, worker: PolicyWorker, seconds: float) -> None:
        """Give a step in flight a moment to return, so the policy's owner can close it safely."""
        deadline = self._clock() + seconds
        while worker.busy and self._clock() < deadline:
            self._sleep(0.005)

    def _dead_man(self, since_fresh: float) -> bool:
        """The model's last answer is too old to keep its keys held (``hold`` and ``repeat``: ``chunk``
        runs out into the null action by itself, ``null`` holds nothing)."""
        limit = self.config.deadman_s
        return (
            self.config.fallback in ("hold", "repeat")
            and self.policy is not None
            and limit is not None
            and since_fresh >= limit
        )

    def _fallback(self, chunk: list[EnvAction], last: EnvAction) -> EnvAction:
        mode = self.config.fallback
        if mode in ("hold", "chunk") and chunk:
            return chunk.pop(0)
        if mode in ("hold", "repeat"):
            return held_only(last)
        return null_action()

    def _run_lockstep(self) -> None:
        assert self.policy is not None
        t0 = self._clock()
        tick = 0
        while not self._done(tick, t0):
            mode = self.control.update()
            if mode is Mode.STOPPED:
                break
            c0 = self._clock()
            frame = self.connector.observe()
            captured_at = time.monotonic()
            frame_time = self._clock()
            self.frame = frame
            if mode is not Mode.AGENT:
                self._publish(
                    TickRecord(
                        tick,
                        frame_time - t0,
                        mode,
                        capture_ms=(frame_time - c0) * 1000,
                        captured_at=captured_at,
                    )
                )
                tick += 1
                self._sleep(1.0 / self.config.hz)
                continue
            m0 = self._clock()
            step = self.policy.act(self.connector.policy_frame(frame), self.instruction)
            model_ms = (self._clock() - m0) * 1000
            for i, action in enumerate(step.actions or [null_action()]):
                if self._done(tick, t0):
                    break
                rec = TickRecord(
                    tick,
                    self._clock() - t0,
                    mode,
                    fresh=True,
                    capture_ms=(frame_time - c0) * 1000 if i == 0 else 0.0,
                    captured_at=captured_at,
                )
                i0 = self._clock()

                def inject(a: EnvAction = action) -> None:
                    self.connector.apply(a)

                rec.injected = self.control.run_if_agent(inject)
                i1 = self._clock()
                rec.inject_ms = (i1 - i0) * 1000
                rec.null = is_null(action)
                if i == 0:
                    rec.model_ms = model_ms
                    rec.e2e_ms = (i1 - frame_time) * 1000
                rec.work_ms = (self._clock() - rec.t - t0) * 1000
                self._publish(rec)
                tick += 1
                if i + 1 < len(step.actions):
                    # the next action of the chunk is taken from this frame: it is what the tick
                    # shows and records with that action (not the chunk's first frame again)
                    frame = self.connector.observe()
                    captured_at = time.monotonic()
                    self.frame = frame
