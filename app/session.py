"""The composition root: settings in, a running connector + policy + control + loop + recorder out.

The only module that names the concrete classes; the window and headless commands both drive a
``Session``. Slow steps (``load_model``, ``open_game``) block and belong off the GUI thread; the rest
returns at once. A session outlives many loops: Stop ends a ``ControlLoop`` (and its ``Control``,
whose STOPPED state is final), Start makes a new one on the same game and the same loaded model, and
switching model swaps the policy under a running loop by restarting it.

Threads: public methods may be called from any thread (one lock guards the session's state). Tick
callbacks (``on_tick``) run on the loop thread and must be quick; ``on_mode``/``on_stopped``/
``on_error`` run on whichever thread caused them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.games.connector import Connector
from app.games.spec import GameSpec, OpenGame, open_game
from app.runtime.live_stats import LiveStats
from app.runtime.loop import ControlLoop, LoopConfig
from app.runtime.takeover import Control, ControlConfig
from app.runtime.telemetry import TickRecord
from app.settings import Settings, default_episodes_dir
from model import tasks as task_lib
from model.actions.env import EnvAction
from model.policies.base import Policy, PolicyStep
from recorder.camera_law import CameraLaw
from recorder.input_events import InputEvent

LOG = logging.getLogger(__name__)


class SharedPolicy:
    """The session's policy as lent to one loop: ``close`` is the session's job, not the loop's.

    ``act`` is serialised, because a stopped loop's worker may still be finishing a call while the
    next loop's worker starts one.
    """

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
        """Lent, not owned: nothing to do."""

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for a call still running on a stopped loop's worker (closing a model mid-call, or
        exiting the interpreter under it, crashes torch)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False


class WatchedConnector:
    """A connector that remembers the last action applied and the last frame seen, for viewers."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.realtime = inner.realtime
        self.action: EnvAction | None = None

    def observe(self) -> np.ndarray:
        return self.inner.observe()

    def apply(self, action: EnvAction) -> None:
        self.inner.apply(action)
        self.action = action

    def release_all(self) -> None:
        self.inner.release_all()

    def has_focus(self) -> bool:
        return self.inner.has_focus()

    def close(self) -> None:
        """The session closes the real connector when the game changes."""

    def __getattr__(self, name: str) -> Any:  # finished, gui_open, window_id, ...
        return getattr(self.inner, name)


@dataclass
class TickView:
    """One tick as a viewer sees it (built on the loop thread, read on the GUI thread)."""

    frame: np.ndarray | None
    action: EnvAction | None  # applied this tick, None when nothing was injected
    record: TickRecord
    mode: str
    instruction: str


def make_policy(spec: str, settings: Settings) -> Policy:
    """Load a model (seconds to minutes). Errors say what to do (``CheckpointError``, ``PolicyError``)."""
    from model.policies.factory import PolicyOptions
    from model.policies.factory import make_policy as factory

    return factory(spec, PolicyOptions(temperature=settings.temperature, history_num=settings.history_frames))


def checkpoint_folder(spec: str) -> str | None:
    """The local folder of a model spec, where an instructions.json may sit (None for servers)."""
    if spec.startswith(("http://", "https://")):
        return None
    if spec == "tiny":
        from model.tiny import default_tiny_dir

        return str(default_tiny_dir())
    return spec if Path(spec).expanduser().is_dir() else None


Callback = Callable[..., None]


@dataclass
class Session:
    settings: Settings
    display: str | None = None
    policy_factory: Callable[[str, Settings], Policy] = make_policy
    game_factory: Callable[..., OpenGame] = open_game
    listen: bool = True  # global keyboard/mouse listener for takeover and the panic key
    on_tick: list[Callable[[TickView], None]] = field(default_factory=list)
    on_mode: list[Callable[[str], None]] = field(default_factory=list)
    on_stopped: list[Callable[[str], None]] = field(default_factory=list)
    on_error: list[Callable[[str], None]] = field(default_factory=list)
    ignore_input: Callable[[InputEvent], bool] = lambda _e: False  # e.g. clicks in our own window

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.policy: Policy | None = None
        self.model_spec: str | None = None
        self.game: OpenGame | None = None
        self.loop: ControlLoop | None = None
        self._thread: threading.Thread | None = None
        self._watched: WatchedConnector | None = None
        self._shared: SharedPolicy | None = None
        self._listener: Any = None
        self._recorder: Any = None
        self.recording = self.settings.record
        self.stats = LiveStats()
        self.tasks, problem = task_lib.find(self.settings.tasks_file or None, None)
        self.notes: list[str] = [problem] if problem else []
        self.instruction = self.settings.instruction

    # ----- slow: call off the GUI thread --------------------------------------------------------
    def load_model(self, spec: str, progress: Callable[[str], None] = lambda _: None) -> None:
        """Load ``spec`` and make it the session's policy; a running loop restarts on it."""
        progress(f"Loading model {spec}…")
        policy = self.policy_factory(spec, self.settings)
        with self._lock:
            old, self.policy, self.model_spec = self.policy, policy, spec
            old_shared = self._shared
            running = self.running
            mode = self.mode
            if running:
                self._stop_and_join("switching model")
            if not self.settings.tasks_file:
                library, problem = task_lib.find(None, checkpoint_folder(spec))
                self.tasks = library
                if problem:
                    self._emit(self.on_error, problem)
            if running:
                self.start(paused=mode == "paused")
        if old is not None:
            if old_shared is not None:
                old_shared.wait_idle()
            old.close()
        progress(f"Model {spec} ready.")

    def open_game(self, spec: GameSpec, progress: Callable[[str], None] = lambda _: None) -> None:
        s = self.settings
        from recorder import keymap

        game = self.game_factory(
            spec,
            degrees_per_count=CameraLaw.minecraft(s.mouse_sensitivity).degrees_per_count,
            bindings=keymap.resolve_bindings(s.key_bindings),
            display=self.display,
            progress=progress,
        )
        with self._lock:
            running = self.running
            if running:
                self._stop_and_join("switching game")
            old, self.game = self.game, game
            self._stop_listener()
        if old is not None:
            old.close()
        self._start_listener()
        if running:
            self.start()
        progress(f"Playing {game.label}.")

    # ----- fast: any thread -------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.policy is not None and self.game is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def mode(self) -> str:
        loop = self.loop
        if loop is None or not self.running:
            return "stopped" if loop is not None else "idle"
        return loop.control.mode.value

    def start(self, paused: bool = False) -> None:
        """A new loop on the current game and model. Raises RuntimeError when either is missing."""
        with self._lock:
            if self.running:
                return
            if self.policy is None or self.game is None:
                raise RuntimeError("load a model and open a game first")
            if self._thread is not None:
                self._thread.join(timeout=2.0)
            s = self.settings
            watched = WatchedConnector(self.game.connector)
            control = Control(
                ControlConfig(panic_key=_binding(s.panic_key), pause_key=_binding(s.pause_key),
                              resume_after_s=s.resume_after_s, start_paused=paused),
                watched.release_all,
            )
            self._shared = SharedPolicy(self.policy)
            loop = ControlLoop(watched, self._shared, self.prompt(), LoopConfig(hz=s.tick_hz), control)
            loop.subscribers.append(self._on_tick)
            self.loop, self._watched = loop, watched
            self.stats.reset()
            self._last_mode = ""
            self._recorder = self._make_recorder()
            self._thread = threading.Thread(target=self._run, args=(loop,), name="control-loop", daemon=True)
            self._thread.start()
        try:
            self.game.focus()
        except Exception as exc:  # focus is a convenience: the window says when the game lacks it
            LOG.warning("could not focus the game: %s", exc)
        self._emit_mode()

    def stop(self, reason: str = "stop button") -> None:
        loop = self.loop
        if loop is not None:
            loop.control.stop(reason)
            loop.stop()

    def toggle_pause(self) -> None:
        if self.loop is not None and self.running:
            self.loop.control.toggle_pause()
            self._emit_mode()

    def take_over(self) -> None:
        if self.loop is not None and self.running:
            self.loop.control.take_over("take over button")
            self._emit_mode()

    def resume(self) -> None:
        if self.loop is not None and self.running:
            self.loop.control.resume()
            self._emit_mode()

    def prompt(self) -> str:
        return self.tasks.prompt_for(self.instruction)

    def set_instruction(self, text: str) -> str:
        """Takes effect on the running loop's next tick; returns the text the model will get."""
        self.instruction = text.strip()
        self.settings.instruction = self.instruction
        self.settings.remember(self.instruction)
        prompt = self.prompt()
        if self.loop is not None:
            self.loop.set_instruction(prompt)
        return prompt

    def set_recording(self, on: bool) -> None:
        """Takes effect on the next start (each run is one episode)."""
        self.recording = on

    def set_adapter(self, adapter: str | None) -> str | None:
        """Hot-swap a LoRA adapter into the loaded local model (None: back to the base); a running
        loop keeps going. Slow: call off the GUI thread. Raises ``AdapterError`` with what to do."""
        from model import adapters

        with self._lock:
            policy, spec = self.policy, self.model_spec
        return adapters.swap(policy, spec, adapter)

    @property
    def adapter(self) -> str | None:
        """The adapter active in the local model, if any."""
        from model import adapters

        return adapters.active_adapter(self.policy)

    @property
    def recording_now(self) -> bool:
        """The running loop is writing an episode (``recording`` only takes effect at Start)."""
        recorder = self._recorder
        return self.running and recorder is not None and bool(recorder.record)

    def save_last(self) -> bool:
        recorder = self._recorder
        return recorder is not None and recorder.save_last() is not None

    def close(self) -> None:
        with self._lock:
            self._stop_and_join("closing")
            self._stop_listener()
            game, self.game = self.game, None
            policy, self.policy = self.policy, None
            shared = self._shared
        if game is not None:
            game.close()
        if shared is not None:
            shared.wait_idle()
        if policy is not None:
            policy.close()

    # ----- internals ----------------------------------------------------------------------------
    def _stop_and_join(self, reason: str) -> None:
        self.stop(reason)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _run(self, loop: ControlLoop) -> None:
        reason = "stopped"
        try:
            telemetry = loop.run()
            reason = loop.control.stop_reason or "stopped"
            LOG.info("run ended (%s)\n%s", reason, telemetry.format())
        except Exception as exc:
            from app.errors import describe_error

            reason = "error"
            self._emit(self.on_error, describe_error(exc, "keep playing"))
        finally:
            recorder, self._recorder = self._recorder, None
            if recorder is not None:
                recorder.close()
        self._emit(self.on_stopped, reason)
        self._emit_mode()

    def _on_tick(self, rec: TickRecord) -> None:
        loop, watched = self.loop, self._watched
        if loop is None or watched is None:
            return
        action = watched.action if rec.injected else None
        watched.action = None
        self.stats.add(rec)
        view = TickView(loop.frame, action, rec, rec.mode, loop.instruction)
        if self._recorder is not None:
            self._recorder.on_tick(view)
        for fn in self.on_tick:
            fn(view)
        if rec.mode != self._last_mode:
            self._emit_mode()

    def _emit_mode(self) -> None:
        mode = self.mode
        self._last_mode = mode
        self._emit(self.on_mode, mode)

    def _emit(self, callbacks: list[Callable[[str], None]], text: str) -> None:
        for fn in list(callbacks):
            try:
                fn(text)
            except Exception:
                LOG.exception("session callback failed")

    def _on_input(self, event: InputEvent) -> None:
        loop = self.loop
        hotkeys = (_binding(self.settings.panic_key), _binding(self.settings.pause_key))
        if event.key not in hotkeys and self.ignore_input(event):
            return
        if event.key == _binding(self.settings.save_last_key) and event.kind == "key_down":
            self.save_last()
            return
        if loop is not None and self.running:
            loop.control.on_input(event)
            if self._recorder is not None:
                self._recorder.feed(event)

    def _start_listener(self) -> None:
        connector = self.game.connector if self.game is not None else None
        ledger = getattr(connector, "ledger", None)
        if not self.listen or ledger is None:
            return
        from recorder.display import can_inject

        if not can_inject().ok:
            return
        try:
            from recorder.input_listener import InputListener

            self._listener = InputListener(ledger, on_event=self._on_input).start()
        except Exception as exc:
            self._listener = None
            self._emit(self.on_error, f"Taking over with the keyboard and the panic key are off ({exc}); "
                                      "use the window's buttons instead.")

    def _stop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def _make_recorder(self) -> Any:
        from app.runtime.recording import Recording

        s = self.settings
        root = Path(s.episodes_dir or default_episodes_dir()).expanduser()
        assert self.game is not None
        return Recording(
            root,
            record=self.recording,
            law=CameraLaw.minecraft(s.mouse_sensitivity),
            game=self.game.game_name,
            model=self.model_spec,
            on_error=lambda m: self._emit(self.on_error, m),
        )


def _binding(text: str) -> str:
    from recorder import keymap

    try:
        return keymap.binding_name(text)
    except ValueError:
        return text


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Poll ``predicate`` for up to ``timeout`` seconds (used by tests and the headless runner)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True
