"""The composition root: a game spec, a model spec and settings in; a running agent out.

Every door builds its agent here: the window, ``run``, ``replay`` and ``record`` (and later
``eval``). So each gets the same safety net (signals release held input), the same reading of
settings, the same human-input listener and the same recording. This is the only module that names
the concrete classes (connector, policy, control, loop, recording).

Slow steps (``load_model``, ``open_game``) block and belong off the GUI thread; the rest returns at
once. A session outlives many loops: Stop ends a ``ControlLoop`` (and its ``Control``, whose STOPPED
state is final), Start makes a new one on the same game and the same loaded model, and switching
model swaps the policy under a running loop by restarting it. The session owns the policy and the
game; a loop only borrows them.

Threads: public methods may be called from any thread (one lock guards the session's state). Tick
callbacks (``on_tick``) run on the loop thread and must be quick; ``on_mode``/``on_stopped``/
``on_error`` run on whichever thread caused them.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from app.errors import UserError, describe_error
from app.games.spec import GameError, GameOptions, GameSpec, OpenGame, open_game
from app.runtime import watchdog
from app.runtime.hotkeys import HotkeyRouter, Route, binding
from app.runtime.lending import LentConnector, LentPolicy
from app.runtime.live_stats import LiveStats
from app.runtime.loop import ControlLoop, Fallback, LoopConfig, PolicyFailed
from app.runtime.recording import Recording, record_mode, setup_for
from app.runtime.safety import SafetyNet
from app.runtime.takeover import Control, ControlConfig, Mode
from app.runtime.telemetry import Telemetry, TickRecord
from app.settings import Settings, episodes_root
from model import adapters
from model import tasks as task_lib
from model.actions.env import EnvAction
from model.download_watch import Progress, Watch
from model.fetch import FitAsk, resolve
from model.policies import factory
from model.policies.base import Policy
from model.policies.scripted import ScriptedPolicy
from model.spec import ModelSpec
from recorder.episodes import PURPOSE_EVALUATION, RecordMode
from recorder.input import InputEvent, InputListener

LOG = logging.getLogger(__name__)


class UnscopedInput(UserError):
    """Recording the person is refused: no game window tells their input from typing elsewhere."""


def make_policy(spec: ModelSpec, settings: Settings) -> Policy:
    """Load a model (seconds to minutes). Errors say what to do (``CheckpointError``, ``PolicyError``)."""
    return factory.make_policy(
        spec,
        factory.PolicyOptions(
            temperature=settings.temperature,
            history_num=settings.history_frames,
            engine=settings.engine,
            quantize=settings.quantize,
        ),
    )


def fetch_model(spec: ModelSpec, settings: Settings, watch: Watch) -> ModelSpec:
    """A hub id as a local folder: its small files checked, the GPU fit for the settings' precision
    checked, then its weights downloaded (resumably, watched by ``watch``); other specs as they are."""
    if spec.kind != "hub":
        return spec
    return ModelSpec("folder", str(resolve(spec.value, watch, FitAsk(quantize=settings.quantize))))


def game_options(settings: Settings) -> GameOptions:
    return GameOptions(
        options_file=settings.options_file,
        bindings=dict(settings.key_bindings),
        degrees_per_count=settings.degrees_per_count or None,
        gui_scale=settings.gui_scale or None,
        require_focus=settings.require_focus,
    )


def control_config(settings: Settings, paused: bool = False, person_only: bool = False) -> ControlConfig:
    return ControlConfig(
        panic_key=binding(settings.panic_key),
        pause_key=binding(settings.pause_key),
        resume_after_s=max(0.0, settings.resume_after_s),
        start_paused=paused,
        person_only=person_only,
        takeover_quiet_resume=settings.takeover_quiet_resume,
    )


@dataclass
class TickView:
    """One tick as a viewer sees it (built on the loop thread, read on the GUI thread)."""

    frame: np.ndarray | None
    action: EnvAction | None  # applied this tick, None when nothing was injected
    record: TickRecord
    mode: Mode
    instruction: str
    gui_open: bool = False  # a GUI screen was open in this frame (read from the game where it can be)
    cursor: tuple[float, float] | None = None  # the game's pointer in window pixels, where readable


@dataclass
class RunOutcome:
    """How a run ended, for the headless doors' report and exit code."""

    reason: str
    telemetry: Telemetry | None
    error: BaseException | None = None
    human_events: int = 0
    agent_events_seen: int = 0  # the agent's own events the listener saw and recognised as such
    agent_events_lost: int = 0  # the agent's own events it did not see in time (may read as a person's)
    episode: Any = None  # the recorded episode's meta, when one was written


Callback = Callable[..., None]


@dataclass
class Session:
    settings: Settings
    display: str | None = None
    policy_factory: Callable[[ModelSpec, Settings], Policy] = make_policy
    game_factory: Callable[..., OpenGame] = open_game
    listen: bool = True  # global keyboard/mouse listener for takeover and the hotkeys
    on_tick: list[Callable[[TickView], None]] = field(default_factory=list)
    on_mode: list[Callable[[str], None]] = field(default_factory=list)
    on_stopped: list[Callable[[str], None]] = field(default_factory=list)
    on_error: list[Callable[[str], None]] = field(default_factory=list)
    ignore_input: Callable[[InputEvent], bool] = lambda _e: False  # e.g. clicks in our own window
    # a door's own global keys (binding name -> action on key down), e.g. eval's success/failure keys;
    # set before open_game (the listener starts there); they never count as the person taking over
    on_hotkey: dict[str, Callable[[], None]] = field(default_factory=dict)
    # a hub model's first download: its progress (on the loading thread), and the person's yes to its
    # plan before any weight moves (the window asks; the command line said yes by running the command)
    on_download: list[Callable[[Progress], None]] = field(default_factory=list)
    approve_download: Callable[[Progress, threading.Event], bool] = lambda _plan, _cancel: True

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.policy: Policy | None = None
        self.model_spec: str | None = None
        self.game: OpenGame | None = None
        self.loop: ControlLoop | None = None
        self._thread: threading.Thread | None = None
        self._watched: LentConnector | None = None
        self._lent: LentPolicy | None = None  # the policy as every loop borrows it: one call at a time
        self._own_run_policy: Policy | None = None  # made by start() for one run (an env replay)
        self._listener: Any = None
        self._recorder: Recording | None = None
        self._safety: SafetyNet | None = None
        self._watchdog: Any = None  # app.runtime.watchdog.Watchdog: lets go of keys if we are killed
        # Processes a game being opened has started (the demo game), until the game is ours: close()
        # stops them too, so quitting while a game starts (the window opens it on a worker) leaves none.
        self._opening: list[Any] = []
        self._closed = False
        self._outcome: RunOutcome | None = None
        self._done = threading.Event()
        self._pending_outcome: str | None = None
        self._download: Watch | None = None  # the model download under way, for cancel_download()
        self._episode_seed = random.random()  # drawn anew at each start (task_phrasing = "episode")
        self.recording = self.settings.record
        self.purpose: str | None = None  # what the next runs' episodes are for (None: the person's play)
        self.stats = LiveStats()
        # why the built-in task list stands in for the wanted library (None: the library is here);
        # a door says it as it sees fit (the window: once, calmly, with the details folded)
        self.tasks, self.tasks_problem = task_lib.find(self.settings.tasks_file or None, None)
        self.instruction = self.settings.instruction
        self.hotkeys = HotkeyRouter(self.settings, self.on_hotkey, lambda e: self.ignore_input(e))

    # ----- safety: every door ------------------------------------------------------------------
    def install_safety(
        self, on_signal: Callable[[int], None] | None = None, raise_after: bool = True
    ) -> None:
        """SIGINT/SIGTERM/SIGHUP and interpreter exit release every held key and stop the agent.

        Call on the main thread. Headless doors keep ``raise_after`` so the signal unwinds their
        ``with`` block; the window passes False and quits its event loop in ``on_signal``.
        """
        if self._safety is not None:
            return

        def signalled(signum: int) -> None:
            self.stop(f"signal {signum}")
            if on_signal is not None:
                on_signal(signum)

        self._safety = SafetyNet(self.release_all, on_signal=signalled, raise_after=raise_after).__enter__()

    def unscoped_input_problem(self, mode: RecordMode) -> str | None:
        """Why recording the person in ``mode`` is refused here, or None: with no game window (a screen
        region, the whole screen) nothing tells their input to the game from typing elsewhere, so
        only ``input_anywhere`` (said out loud) lets every key and mouse event anywhere count."""
        game = self.game
        connector = game.connector if game is not None else None
        if (
            not self.recording
            or mode not in (RecordMode.TELEOP, RecordMode.CORRECTIONS)
            or connector is None
            or connector.ledger is None  # not a desktop game: no one's input is listened to
            or connector.window_id
            or self.settings.input_anywhere
        ):
            return None
        return (
            f"recording you ({mode}) needs a game window: with {game.label if game else 'a screen region'} "
            "there is no game window whose focus tells your input to the game from what you type "
            "elsewhere. Pick the game's window (--window/--pid), record the agent only (--mode agent), "
            "or pass --input-anywhere (setting input_anywhere) to count every key anywhere as yours."
        )

    def release_all(self) -> None:
        """Release whatever the agent holds in the current game (any thread, idempotent)."""
        game = self.game
        if game is not None:
            game.connector.release_all()

    def __enter__(self) -> Session:
        self.install_safety()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- slow: call off the GUI thread --------------------------------------------------------
    def load_model(
        self, spec: ModelSpec | str | None = None, progress: Callable[[str], None] = lambda _: None
    ) -> None:
        """Load ``spec`` (default: the settings' model) and make it the session's policy; a running
        loop restarts on it."""
        parsed = ModelSpec.parse(spec if spec is not None else self.settings.model)
        progress(f"Loading model {parsed}…")
        local = self._fetch(parsed)
        policy = self.policy_factory(local, self.settings)
        with self._lock:
            old, self.policy, self.model_spec = self.policy, policy, str(parsed)
            old_lent, self._lent = self._lent, LentPolicy(policy)
            running = self.running
            mode = self.mode
            if running:
                self._stop_and_join("switching model")
            if not self.settings.tasks_file:
                self.tasks, self.tasks_problem = task_lib.find(None, _folder(local))
            if running:
                self.start(paused=mode == Mode.PAUSED)
        if old is not None:
            if old_lent is not None:
                old_lent.wait_idle()
            old.close()
        progress(f"Model {parsed} ready.")

    def open_game(
        self, spec: GameSpec | str | None = None, progress: Callable[[str], None] = lambda _: None
    ) -> OpenGame:
        """Open ``spec`` (default: the settings' game) and play it from now on."""
        if not isinstance(spec, GameSpec):
            spec = GameSpec.parse(spec if spec is not None else self.settings.game)
        started: list[Any] = []

        def adopt(process: Any) -> None:
            with self._lock:
                started.append(process)
                self._opening.append(process)
                closed = self._closed
            if closed:  # closing already: the process is closed before it starts (its start raises)
                process.close()

        try:
            game = self.game_factory(
                spec, game_options(self.settings), display=self.display, progress=progress, on_process=adopt
            )
        except BaseException:
            self._forget_opening(started)
            raise
        with self._lock:
            self._opening = [p for p in self._opening if p not in started]
            closed = self._closed
            if not closed:
                running = self.running
                if running:
                    self._stop_and_join("switching game")
                old, self.game = self.game, game
                self._stop_listener()
                self._watch(game)  # with the game, in one step: close() stops both or neither
        if closed:  # closed while the game opened: it was never ours to keep
            game.close()
            raise GameError("the session closed while the game was opening")
        if old is not None:
            old.close()
        for note in game.notes:
            progress(note)
        self._start_listener()
        if running:
            self.start()
        progress(f"Playing {game.label}.")
        return game

    def _fetch(self, spec: ModelSpec) -> ModelSpec:
        watch = Watch(on_progress=self._emit_download)
        watch.approve = lambda plan: self.approve_download(plan, watch.cancel)
        with self._lock:
            self._download = watch
        try:
            return fetch_model(spec, self.settings, watch)
        finally:
            with self._lock:
                if self._download is watch:
                    self._download = None

    # ----- fast: any thread -------------------------------------------------------------------
    def cancel_download(self) -> None:
        """Stop a model download under way (what arrived is kept; loading the model again resumes)."""
        with self._lock:
            watch = self._download
        if watch is not None:
            watch.cancel.set()

    @property
    def ready(self) -> bool:
        return self.policy is not None and self.game is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def mode(self) -> Mode:
        loop = self.loop
        if loop is None or not self.running:
            return Mode.STOPPED if loop is not None else Mode.IDLE
        return loop.control.mode

    def start(
        self,
        paused: bool = False,
        *,
        seconds: float | None = None,
        actions: Iterable[EnvAction] | None = None,
        teleop: bool = False,
    ) -> None:
        """A new loop on the current game: the agent plays (needs a model), ``actions`` are replayed
        one per tick, or (``teleop``) the person plays and nothing is injected. Each start is one
        episode when recording. Raises RuntimeError when the game or the model is missing."""
        with self._lock:
            if self.running:
                return
            if self.game is None:
                raise RuntimeError("open a game first")
            if self.policy is None and actions is None and not teleop:
                raise RuntimeError("load a model first")
            if self._thread is not None:
                self._thread.join(timeout=2.0)
            s = self.settings
            mode = self._run_mode(teleop)
            problem = self.unscoped_input_problem(mode)
            if problem:
                raise UnscopedInput(problem)
            watched = LentConnector(self.game.connector)
            control = Control(control_config(s, paused, person_only=teleop), watched.release_all)
            config = LoopConfig(
                hz=s.tick_hz,
                fallback=cast(Fallback, s.fallback),  # one of FALLBACKS: from_dict and the flags check it
                seconds=seconds,
                policy_timeout_s=s.policy_timeout_s,
                deadman_s=s.deadman_s if s.deadman_s > 0 else None,
            )
            self._own_run_policy = None
            self._episode_seed = random.random()
            if teleop:  # nothing to inject: the loop only observes, the person plays
                loop = ControlLoop(watched, None, self.prompt(), config, control, actions=[])
            elif actions is not None and watched.realtime:
                loop = ControlLoop(watched, None, self.prompt(), config, control, actions=actions)
            elif actions is not None:  # an environment steps once per action: hand them out in order
                plan = list(actions)
                scripted = ScriptedPolicy(plan, chunk=len(plan) or 1)
                self._own_run_policy = scripted  # made for this run: closed when it ends
                loop = ControlLoop(watched, scripted, self.prompt(), config, control)
            else:
                assert self._lent is not None
                loop = ControlLoop(watched, self._lent, self.prompt(), config, control)
            loop.subscribers.append(self._on_tick)
            self.loop, self._watched = loop, watched
            self.stats.reset()
            self._last_mode = ""
            self._outcome = None
            self._done.clear()
            self._recorder = self._make_recorder(mode)
            self._thread = threading.Thread(target=self._run, args=(loop,), name="control-loop", daemon=True)
            self._thread.start()
        if not teleop:
            try:
                self.game.focus()
            except Exception as exc:  # focus is a convenience: the window says when the game lacks it
                LOG.warning("could not focus the game: %s", exc)
        self._emit_mode()

    def wait(self, timeout: float | None = None) -> RunOutcome | None:
        """Block until the current run ends (None on timeout). The main thread stays interruptible,
        so a signal reaches the safety net while a headless door waits here."""
        done = self._done
        step = 0.1
        waited = 0.0
        while not done.wait(step):
            waited += step
            if timeout is not None and waited >= timeout:
                return None
        return self._outcome

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
        """The text the model gets for the current instruction: a task key becomes its first trained
        phrasing, or with ``task_phrasing = "episode"`` one drawn the official way at each start."""
        if self.settings.task_phrasing == "episode":  # the same draw for the whole run
            return self.tasks.prompt_for(self.instruction, random.Random(self._episode_seed))
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
        with self._lock:
            policy, spec = self.policy, self.model_spec
        return adapters.swap(policy, spec, adapter)

    @property
    def adapter(self) -> str | None:
        """The adapter active in the local model, if any."""
        return adapters.active_adapter(self.policy)

    @property
    def recording_now(self) -> bool:
        """The running loop is writing an episode (``recording`` only takes effect at Start)."""
        recorder = self._recorder
        return self.running and recorder is not None and bool(recorder.record)

    def save_last(self) -> bool:
        recorder = self._recorder
        return recorder is not None and recorder.save_last() is not None

    def set_outcome(self, outcome: str) -> None:
        """The outcome written into the current episode's meta.json when it closes."""
        self._pending_outcome = outcome

    def close(self) -> None:
        self.cancel_download()
        with self._lock:
            self._closed = True
            opening, self._opening = self._opening, []
        for process in opening:  # a game still starting on another thread: stopped, its start raises
            process.close()
        with self._lock:
            self._stop_and_join("closing")
            self._stop_listener()
            game, self.game = self.game, None
            policy, self.policy = self.policy, None
            lent, self._lent = self._lent, None
            safety, self._safety = self._safety, None
        loop = self.loop
        hung = loop is not None and isinstance(loop.error, PolicyFailed) and loop.error.hung
        try:
            if game is not None:
                game.close()
            self._watch(None)
            if lent is not None and not hung:
                lent.wait_idle()  # closing a model mid-call crashes torch; a hung one never returns
            if policy is not None:
                policy.close()
        finally:
            if safety is not None:
                safety.__exit__(None, None, None)

    # ----- internals ----------------------------------------------------------------------------
    def _forget_opening(self, started: list[Any]) -> None:
        """An open that failed: the processes it started are closed (their start raised, or the open
        failed after it) and are no longer ours to stop."""
        with self._lock:
            self._opening = [p for p in self._opening if p not in started]
        for process in started:
            process.close()

    def _watch(self, game: OpenGame | None) -> None:
        """A watchdog process per desktop game: it releases held keys if this process is killed."""
        old, self._watchdog = self._watchdog, (watchdog.start_for(game, self.display) if game else None)
        if old is not None:
            old.stop()

    def _stop_and_join(self, reason: str) -> None:
        self.stop(reason)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _run(self, loop: ControlLoop) -> None:
        reason = "stopped"
        error: BaseException | None = None
        episode = None
        try:
            telemetry = loop.run()
            reason = loop.control.stop_reason or "finished"
            LOG.info("run ended (%s)\n%s", reason, telemetry.format())
        except Exception as exc:
            error = exc
            reason = "error"
            self._emit(self.on_error, describe_error(exc, "keep playing"))
        finally:
            own = self._own_run_policy
            if own is not None:
                own.close()
            recorder, self._recorder = self._recorder, None
            if recorder is not None:
                episode = recorder.close(self._pending_outcome)
            listener = self._listener
            ledger = self.game.connector.ledger if self.game is not None else None
            self._outcome = RunOutcome(
                reason,
                loop.telemetry,
                error,
                human_events=listener.human_count if listener is not None else 0,
                agent_events_seen=ledger.claimed if ledger is not None else 0,
                agent_events_lost=ledger.expired if ledger is not None else 0,
                episode=episode,
            )
            self._done.set()
        self._emit(self.on_stopped, reason)
        self._emit_mode()

    def _on_tick(self, rec: TickRecord) -> None:
        loop, watched = self.loop, self._watched
        if loop is None or watched is None:
            return
        action = watched.action if rec.injected else None
        watched.action = None
        self.stats.add(rec)
        view = TickView(loop.frame, action, rec, rec.mode, loop.instruction, watched.gui_open, watched.cursor)
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

    def _emit_download(self, progress: Progress) -> None:
        for callback in list(self.on_download):
            try:
                callback(progress)
            except Exception:
                LOG.exception("a download progress callback failed")

    def _emit(self, callbacks: list[Callable[[str], None]], text: str) -> None:
        for fn in list(callbacks):
            try:
                fn(text)
            except Exception:
                LOG.exception("session callback failed")

    def _on_input(self, event: InputEvent) -> None:
        route = self.hotkeys.route(event)
        if route is Route.SAVE:
            self.save_last()
        elif route is Route.PLAY and self.loop is not None and self.running:
            self.loop.control.on_input(event)
            if self._recorder is not None:
                self._recorder.feed(event)

    def _start_listener(self) -> None:
        game = self.game
        if not self.listen or game is None or game.connector.ledger is None or not game.connector.realtime:
            return
        desktop = getattr(game.connector, "desktop", None)  # a desktop game's display server
        if desktop is None:
            return
        try:
            hotkeys = self.hotkeys.global_keys
            connector = game.connector
            if connector.window_id:  # only the person's input to the game counts (focus + pointer)
                listener = InputListener.for_game(
                    desktop, connector.window_id, connector.ledger, self._on_input, hotkeys=hotkeys
                )
            elif self.settings.input_anywhere:  # asked for: every key and mouse event anywhere counts
                LOG.warning("no game window to scope your input to: every key anywhere counts as yours")
                listener = InputListener(connector.ledger, self._on_input, hotkeys=hotkeys, desktop=desktop)
            else:  # a screen region: no window to scope to, so only the hotkeys are heard
                listener = InputListener.hotkeys_only(desktop, connector.ledger, self._on_input, hotkeys)
            self._listener = listener.start()
        except Exception as exc:
            self._listener = None
            self._emit(
                self.on_error,
                f"Taking over with the keyboard and the panic key are off ({exc}); "
                "use the window's buttons instead.",
            )

    def _stop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def _run_mode(self, teleop: bool) -> RecordMode:
        """What a run records: the person alone, an evaluation's trial (the model's own play, whatever
        the window records the person's in), else the settings' mode."""
        if teleop:
            return RecordMode.TELEOP
        if self.purpose == PURPOSE_EVALUATION:
            return RecordMode.AGENT
        return record_mode(self.settings.record_mode)

    def _make_recorder(self, mode: RecordMode) -> Recording:
        assert self.game is not None
        setup = setup_for(
            self.game,
            mode,
            root=episodes_root(self.settings),
            record=self.recording,
            model=self.model_spec,
            ring_seconds=self.settings.ring_seconds,
            purpose=self.purpose,
        )
        return Recording(setup, on_error=lambda m: self._emit(self.on_error, m))


def _folder(spec: ModelSpec) -> str | None:
    folder = spec.folder
    return str(folder) if folder is not None else None
