"""The window's flows: widgets' signals in, ``Session`` calls out, session signals back to widgets.

Slow steps (opening the game, loading a model) run as ``Job``s; while one runs the window stays live
and the status bar says what is happening. Every failure lands in the banner as a sentence. The
controller also tells the session which human input is really a click or key press in this window
(``ignore_input``), so using the window never counts as taking over the game.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QEvent, QObject, QTimer
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import QDialog

from app.games.spec import GameError, GameSpec
from app.gui.bridge import SessionBridge
from app.gui.main_window import MainWindow
from app.gui.overlay import overlay_for
from app.gui.settings_dialog import SettingsDialog
from app.gui.workers import Job
from app.session import Session
from app.settings import Settings, episodes_root
from model.actions.env import describe
from recorder import keymap
from recorder.input_events import InputEvent

LOG = logging.getLogger(__name__)

FIGURES_MS = 250  # how often the live figures refresh


class WindowController(QObject):
    def __init__(
        self, window: MainWindow, session: Session, save_settings: Callable[[Settings], Any] = lambda _s: None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.save_settings = save_settings
        self.bridge = SessionBridge(session, self)
        self.jobs: list[Job] = []
        self.errors: list[str] = []  # every message shown, for tests and the --report file
        self._geometry = (0, 0, 0, 0)
        self._active = False
        self._bindings: dict[str, str] = dict(keymap.DEFAULT_BINDINGS)
        self._last_fresh: tuple[dict[str, Any], float] | None = None
        session.ignore_input = self._own_input
        w = window
        b = self.bridge
        b.tick_ready.connect(self._show_tick)
        b.mode_changed.connect(self._mode_changed)
        b.stopped.connect(self._stopped)
        b.error.connect(self.show_error)
        w.controls.start_clicked.connect(self.start)
        w.controls.pause_clicked.connect(self.toggle_pause)
        w.controls.stop_clicked.connect(lambda: session.stop("stop button"))
        w.controls.take_over_clicked.connect(self.take_over)
        w.controls.record_toggled.connect(self.set_recording)
        w.controls.save_last_clicked.connect(self.save_last)
        w.instruction.submitted.connect(self.set_instruction)
        w.model_picker.model_chosen.connect(self.load_model)
        w.game_picker.game_chosen.connect(self.open_game)
        w.game_picker.invalid.connect(self.show_error)
        w.settings_button.clicked.connect(self.edit_settings)
        w.episodes.message.connect(self.show_message)
        w.finetune.message.connect(self.show_message)
        w.episodes_dock.visibilityChanged.connect(self._episodes_shown)
        w.finetune.attach(session)
        self.panic = QShortcut(QKeySequence(session.settings.panic_key.upper()), w)
        self.panic.activated.connect(lambda: session.stop("panic key"))
        self.figures_timer = QTimer(self)
        self.figures_timer.timeout.connect(self._refresh_figures)
        self.figures_timer.start(FIGURES_MS)
        w.installEventFilter(self)
        self._apply_settings_to_widgets()
        w.instruction.edit.setText(session.instruction)
        w.instruction.set_sent(session.instruction, session.prompt())
        w.view.clear("Loading the model and the game…")

    # ----- flows ------------------------------------------------------------------------------
    def prepare(self, model: str, game: str, autostart: bool = False) -> Job:
        """Open the game, then load the model, in the background; optionally start when both are up."""
        self.window.model_picker.set_spec(model)
        try:
            spec = GameSpec.parse(game)
        except GameError as exc:
            self.show_error(str(exc))
            spec = GameSpec("fake")
        self.window.game_picker.set_spec(spec)

        def work(progress: Callable[[str], None]) -> None:
            self.session.open_game(spec, progress)
            self.session.load_model(model, progress)

        def done(_result: object) -> None:
            self.window.view.clear("Ready: press Start.")
            if autostart:
                self.start()

        return self._run(work, "get the game and the model ready", done)

    def start(self) -> None:
        try:
            self.session.start()
        except Exception as exc:
            from app.errors import describe_error

            self.show_error(describe_error(exc, "start"))
        self._update_controls()

    def toggle_pause(self) -> None:
        if self.session.mode == "human":
            self.session.resume()
        else:
            self.session.toggle_pause()

    def take_over(self) -> None:
        self.session.take_over()

    def set_instruction(self, text: str) -> None:
        prompt = self.session.set_instruction(text)
        self.window.instruction.set_sent(text, prompt)
        self.window.instruction.set_history(self.session.settings.history)
        self.save_settings(self.session.settings)

    def load_model(self, spec: str) -> Job:
        def done(_result: object) -> None:
            self.window.instruction.set_library(self.session.tasks)
            self.window.status_panel.set_source(self.session.model_spec, self._game_label())
            self.session.settings.model = spec
            self.save_settings(self.session.settings)

        def work(progress: Callable[[str], None]) -> None:
            self.session.load_model(spec, progress)

        return self._run(work, f"load the model {spec}", done)

    def open_game(self, text: str) -> Job:
        spec = GameSpec.parse(text)

        def done(_result: object) -> None:
            self.window.status_panel.set_source(self.session.model_spec, self._game_label())
            self.session.settings.game = str(spec)
            self.save_settings(self.session.settings)

        return self._run(lambda progress: self.session.open_game(spec, progress), f"open {spec.label}", done)

    def set_recording(self, on: bool) -> None:
        self.session.set_recording(on)
        if self.session.running:
            self.show_message("Recording applies from the next Start (each run is one episode).", "note")

    def save_last(self) -> None:
        if self.session.save_last():
            self.show_message("Saving the last 30 seconds as an episode…", "info")
        else:
            self.show_message("Nothing to save yet: start the agent first.", "note")

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.session.settings, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.apply_settings(dialog.result_settings())

    def apply_settings(self, settings: Settings) -> None:
        old = self.session.settings
        self.session.settings = settings
        self.session.recording = settings.record
        if settings.tasks_file != old.tasks_file:
            from model import tasks

            self.session.tasks, problem = tasks.find(settings.tasks_file or None, None)
            if problem:
                self.show_error(problem)
        self._apply_settings_to_widgets()
        self.save_settings(settings)

    # ----- messages -----------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        self.show_message(text, "error")

    def show_message(self, text: str, level: str = "info") -> None:
        if level == "error":
            self.errors.append(text)
        self.window.banner.show_message(text, level)

    # ----- internals --------------------------------------------------------------------------
    def _run(
        self,
        fn: Callable[[Callable[[str], None]], Any],
        doing: str,
        done: Callable[[object], None] | None = None,
    ) -> Job:
        job = Job(fn, doing, self)
        self.jobs.append(job)
        job.progress.connect(self.window.set_busy)
        job.failed.connect(self.show_error)
        if done is not None:
            job.done.connect(done)
        job.finished.connect(lambda: self._job_finished(job))
        self.window.set_busy(f"{doing[0].upper()}{doing[1:]}…")
        self._update_controls()
        return job.start()

    def _job_finished(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        if not any(j.running for j in self.jobs):
            self.window.set_busy(None)
        self.window.status_panel.set_source(self.session.model_spec, self._game_label())
        self.window.instruction.set_library(self.session.tasks)
        self.window.finetune.refresh_adapter()
        self._update_controls()

    def _episodes_shown(self, shown: bool) -> None:
        """List the recordings folder when the panel opens (lazily: it may hold many episodes)."""
        if shown:
            self.window.episodes.set_root(episodes_root(self.session.settings))

    def _game_label(self) -> str | None:
        return self.session.game.label if self.session.game is not None else None

    def _apply_settings_to_widgets(self) -> None:
        s = self.session.settings
        try:
            self._bindings = keymap.resolve_bindings(s.key_bindings)
        except ValueError as exc:
            self.show_error(f"Key bindings in the settings are not valid ({exc}); the defaults are used.")
        self.window.controls.set_hotkeys(s.panic_key, s.pause_key, s.save_last_key)
        self.window.controls.record.setChecked(self.session.recording)
        self.window.instruction.set_library(self.session.tasks)
        self.window.instruction.set_history(s.history)
        self.panic.setKey(QKeySequence(s.panic_key.upper()))
        for note in self.session.notes:
            self.show_message(note, "note")

    def _show_tick(self) -> None:
        view = self.bridge.take()
        if view is None:
            return
        now = time.monotonic()
        if view.record.fresh and view.action is not None:
            self._last_fresh = (view.action, now)
        notes: tuple[str, ...] = ()
        if not view.record.focused:
            notes += ("game not focused: the agent waits (click into the game)",)
        if self._last_fresh is not None and view.mode == "agent":
            action, when = self._last_fresh
            notes += (f"last model action: {describe(action)} ({now - when:.1f} s ago)",)
        overlay = overlay_for(
            view.action, view.mode, bindings=self._bindings, instruction=view.instruction, notes=notes
        )
        self.window.view.show_frame(view.frame, overlay)

    def _mode_changed(self, mode: str) -> None:
        self.window.status_panel.set_mode(mode)
        self._update_controls()

    def _stopped(self, reason: str) -> None:
        self.window.status_panel.set_mode("stopped")
        self._update_controls()
        if reason.startswith("panic"):
            self.show_message(
                "Stopped by the panic key; every key was released. Press Start to go on.", "note"
            )

    def _update_controls(self) -> None:
        self.window.controls.set_state(self.session.ready and not self.jobs, self.session.mode)
        self.window.controls.set_recording_live(self.session.recording_now)

    def _refresh_figures(self) -> None:
        self.window.status_panel.set_figures(self.session.stats.figures(), self.window.view.fps)

    def _own_input(self, event: InputEvent) -> bool:
        """True for input aimed at this window (listener thread: reads two plain attributes)."""
        if event.kind in ("key_down", "key_up"):
            return self._active
        if event.kind in ("button_down", "button_up", "scroll", "move"):
            x, y, w, h = self._geometry
            return x <= event.x < x + w and y <= event.y < y + h
        return False

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if obj is self.window and event is not None:
            kind = event.type()
            if kind in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show):
                g = self.window.frameGeometry()
                self._geometry = (g.x(), g.y(), g.width(), g.height())
            elif kind == QEvent.Type.ActivationChange:
                self._active = self.window.isActiveWindow()
            elif kind == QEvent.Type.Close:
                self.shutdown()
        return False

    def shutdown(self) -> None:
        """Stop play and close the game; the window is going away."""
        self.figures_timer.stop()
        self.window.episodes.shutdown()
        self.window.finetune.shutdown()
        self.save_settings(self.session.settings)
        self.session.close()
