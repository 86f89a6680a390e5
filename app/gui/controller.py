"""The window's flows: widgets' signals in, ``Session`` calls out, session signals back to widgets.

Wiring only: what the badge says, which buttons work, which input is our own, whether the game is
gone, what a stop, a slow model or a missing task library is worth saying, and when closing must ask
live in ``window_state`` (Qt-free, tested on its own); what the figures say in ``figures_text``;
where the window goes in ``window_placer``. Slow steps (opening the game, loading a model) run as
``Job``s; while one runs the window stays live and the status bar says what is happening. Every
failure lands in the banner as a sentence; a message about a stopped run goes at the next Start,
and a notice that needs no action (the task library offline) is one calm line with its details
folded, shown once. The session is told which human input is really a click or key press in one of
this app's windows (``ignore_input``), so using the app never counts as taking over the game. Before
Start the view previews the game; episodes landing on disk are announced by ``EpisodeWatch``. While
an evaluation runs nothing names the adapter in play (the arms are blind).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QEvent, QObject, QTimer
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import QApplication, QDialog, QWidget

from app.errors import describe_error
from app.games.spec import GameError, GameSpec
from app.gui import placement
from app.gui.bridge import SessionBridge
from app.gui.episode_watch import EpisodeWatch
from app.gui.episodes_panel import ask_yes_no
from app.gui.main_window import PANELS, MainWindow
from app.gui.overlay import overlay_for, summary
from app.gui.settings_dialog import SettingsDialog
from app.gui.window_placer import WindowPlacer
from app.gui.window_state import (
    GAME_GONE,
    RUNNING_MODES,
    BadgeKey,
    Say,
    WindowState,
    close_question,
    for_window,
    game_gone,
)
from app.gui.workers import Job
from app.runtime.takeover import Mode
from app.session import Session
from app.settings import Settings, adapters_root, episodes_root, evaluations_root
from model import tasks as task_lib
from recorder.episodes import RecordMode
from recorder.input import keymap

LOG = logging.getLogger(__name__)

FIGURES_MS = 250  # how often the live figures refresh
PREVIEW_MS = 200  # how often the game is previewed while no loop runs


class WindowController(QObject):
    def __init__(
        self, window: MainWindow, session: Session, save_settings: Callable[[Settings], Any] = lambda _s: None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.ask_before_close = True  # False when a signal or a scripted run closes the window
        self.session = session
        self.save_settings = save_settings
        self.state = WindowState()
        self.placer = WindowPlacer(window)
        self.bridge = SessionBridge(session, self)
        self.jobs: list[Job] = []
        self.errors: list[str] = []  # every message shown, for tests and the --report file
        self.notes: list[str] = []  # every note shown in the banner, for a scripted run's report
        self.confirm: Callable[[QWidget, str], bool] = ask_yes_no  # replaced in tests
        self.episode_watch = EpisodeWatch(self)
        self.episode_watch.saved.connect(lambda text, _folder: self.show_message(text, "info"))
        self._bindings: dict[str, str] = dict(keymap.DEFAULT_BINDINGS)
        session.ignore_input = self.state.own_input
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
        w.controls.hand_back_clicked.connect(self.hand_back)
        w.controls.record_toggled.connect(self.set_recording)
        w.controls.record_mode_changed.connect(self.set_record_mode)
        w.controls.save_last_clicked.connect(self.save_last)
        w.instruction.submitted.connect(self.set_instruction)
        w.model_picker.model_chosen.connect(self.load_model)
        w.game_picker.game_chosen.connect(self.open_game)
        w.game_picker.invalid.connect(self.show_error)
        w.settings_button.clicked.connect(self.edit_settings)
        w.tabs.currentChanged.connect(lambda _i: self._panel_shown(w.panel))
        w.game_view_action.toggled.connect(self._game_view_toggled)
        for panel in (w.episodes, w.finetune, w.adapters, w.evaluate):
            panel.message.connect(self.show_message)
        w.finetune.attach(session)
        w.finetune.trained.connect(self._trained)
        w.adapters.attach(session, adapters_root(session.settings), evaluations_root(session.settings))
        w.adapters.base_model = w.finetune.model.text()
        w.finetune.model.textChanged.connect(lambda text: setattr(w.adapters, "base_model", text))
        w.adapters.eval_samples = w.finetune.template.eval_samples
        w.adapters.adapter_changed.connect(self._adapter_changed)
        w.adapters.evaluate_requested.connect(self.evaluate_adapter)
        w.evaluate.attach(session)
        w.evaluate.running.connect(self._evaluation_running)
        w.download_view.attach(session)
        w.download_view.offer_accepted.connect(self.use_precision)
        self.panic = QShortcut(QKeySequence(session.settings.panic_key.upper()), w)
        self.panic.activated.connect(lambda: session.stop("panic key"))
        self.figures_timer = QTimer(self)
        self.figures_timer.timeout.connect(self._refresh_figures)
        self.figures_timer.start(FIGURES_MS)
        self.preview_timer = QTimer(self)
        self.preview_timer.timeout.connect(self._preview)
        self.preview_timer.start(PREVIEW_MS)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusWindowChanged.connect(self._focus_window_changed)
        w.installEventFilter(self)
        self._apply_settings_to_widgets()
        w.game_view_action.setChecked(session.settings.window_game_view)
        if session.settings.window_panels in PANELS:  # the tab in front last time, in front again
            w.show_panel(session.settings.window_panels)
        w.instruction.edit.setText(session.instruction)
        w.instruction.set_sent(session.instruction, session.prompt())
        w.view.clear("Loading the model and the game…")
        self._show_badge()
        self._show_tasks_problem()

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
            self.state.game_lost = False
            self.window.view.clear("Ready: press Start.")
            self.place()
            if autostart:
                self.start()

        return self._run(work, "get the game and the model ready", done)

    def start(self) -> None:
        teleop = self.session.settings.record_mode == RecordMode.TELEOP
        refusal = self.state.start_refusal(self.session.game is not None)
        if refusal is not None:
            self.show_error(refusal)
            return
        self.window.banner.clear_stale()  # the stopped run's news (the panic key…) is old now
        if teleop and not self.session.recording:
            self.show_message("Only me (teleop) records you playing: press Record to save it.", "note")
        try:
            self.session.start(teleop=teleop)
        except Exception as exc:
            self.show_error(describe_error(exc, "start"))
        self.state.started(teleop, self.session.running)
        self._update_controls()
        self._show_badge()

    def toggle_pause(self) -> None:
        if self.session.mode == Mode.HUMAN:
            return  # the person holds control: Hand back (or the pause key) gives it back
        self.session.toggle_pause()

    def take_over(self) -> None:
        """The person plays until Hand back; the game gets keyboard focus so they can at once."""
        self.session.take_over()
        self._focus_game()
        self._show_badge()

    def hand_back(self) -> None:
        self.session.resume()
        if self.session.mode == Mode.AGENT:
            self._focus_game()  # the agent injects only while the game has focus
        self._show_badge()

    def set_instruction(self, text: str) -> None:
        if not text.strip():
            self.show_error("Type an instruction first: an empty one would leave the agent without a task.")
            return
        prompt = self.session.set_instruction(text)
        self.window.instruction.set_sent(text, prompt)
        self.window.instruction.set_history(self.session.settings.history)
        self.save_settings(self.session.settings)

    def load_model(self, spec: str) -> Job:
        def done(_result: object) -> None:
            self.session.settings.model = spec
            self.save_settings(self.session.settings)

        return self._run(
            lambda progress: self.session.load_model(spec, progress), f"load the model {spec}", done
        )

    def use_precision(self, precision: str) -> Job:
        """The precision a refused fit offered: remembered in the settings, and the model loaded again."""
        self.session.settings.quantize = "none" if precision == "bf16" else precision
        self.save_settings(self.session.settings)
        return self.load_model(self.window.model_picker.spec())

    def open_game(self, text: str) -> Job:
        spec = GameSpec.parse(text)

        def done(_result: object) -> None:
            self.state.game_lost = False
            self.session.settings.game = str(spec)
            self.save_settings(self.session.settings)
            self.place()

        return self._run(lambda progress: self.session.open_game(spec, progress), f"open {spec.label}", done)

    def set_recording(self, on: bool) -> None:
        """The Record button: remembered in the settings, so Settings → OK keeps it as it is."""
        self.session.set_recording(on)
        if self.session.settings.record != on:
            self.session.settings.record = on
            self.save_settings(self.session.settings)
        if on:
            self.episode_watch.watch(episodes_root(self.session.settings))
        if self.session.running and on != self.session.recording_now:
            self.show_message("Recording applies from the next Start (each run is one episode).", "note")

    def set_record_mode(self, mode: str) -> None:
        self.session.settings.record_mode = RecordMode(mode)
        self.save_settings(self.session.settings)
        self._update_controls()

    def save_last(self) -> None:
        self.episode_watch.watch(episodes_root(self.session.settings))
        if self.session.save_last():
            self.show_message("Saving the last 30 seconds as an episode…", "info")
        else:
            self.show_message("Nothing to save yet: start the agent first.", "note", until_start=True)

    def evaluate_adapter(self, adapter: str) -> None:
        """ "Evaluate in play" on the Adapters tab: the Evaluate tab, filled in, in front."""
        self.window.evaluate.offer_adapter(adapter)
        self.window.show_panel("evaluate")

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.session.settings, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.apply_settings(dialog.result_settings())

    def apply_settings(self, settings: Settings) -> None:
        old = self.session.settings
        self.session.settings = settings
        if settings.record != old.record:  # changed in the dialog; otherwise the Record button rules
            self.session.recording = settings.record
        if settings.tasks_file != old.tasks_file:
            self.session.tasks, problem = task_lib.find(settings.tasks_file or None, None)
            if problem:
                self.show_error(problem)
        self._apply_settings_to_widgets()
        self.save_settings(settings)

    # ----- messages -----------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        self.show_message(text, "error")

    def say(self, said: Say | None) -> None:
        """Show what the window state says (nothing for None); a one-time notice is remembered."""
        if said is None:
            return
        if said.remember and said.remember not in self.session.settings.seen_notices:
            self.session.settings.seen_notices = [*self.session.settings.seen_notices, said.remember]
            self.save_settings(self.session.settings)
        self.show_message(said.text, said.level, said.details, said.until_start)

    def show_message(
        self, text: str, level: str = "info", details: str = "", until_start: bool = False
    ) -> None:
        text = for_window(text)
        if level == "error":
            self.errors.append(text)
        elif level == "note":
            self.notes.append(text)
        self.window.banner.show_message(text, level, details, until_start)

    def _show_tasks_problem(self) -> None:
        s = self.session
        self.say(
            self.state.tasks_notice(
                s.tasks_problem, bool(s.settings.tasks_file), s.settings.seen_notices, len(s.tasks)
            )
        )

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
        job.failed.connect(lambda _text: self._show_placeholder())
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
        self.window.instruction.set_library(self.session.tasks)
        game = self.session.game
        self.window.status_panel.set_source(self.session.model_spec, game.label if game is not None else None)
        self._adapter_changed()
        self._update_controls()
        self._show_placeholder()
        self._show_tasks_problem()

    def _adapter_changed(self) -> None:
        """Every place that names the active adapter says the same (unless an evaluation hides it)."""
        blind = self.window.evaluate.is_running
        self.window.status_panel.set_adapter(self.session.adapter, blind=blind)
        self.window.adapters.set_blind(blind)
        self.window.adapters.refresh()

    def _evaluation_running(self, running: bool) -> None:
        self._adapter_changed()
        if not running:
            self.window.episodes.refresh()

    def _trained(self, folder: str) -> None:
        self.window.adapters.refresh()
        self.window.adapters.select(folder)

    def _panel_shown(self, name: str) -> None:
        """Read a tab's folder when it comes to the front (lazily: it may hold many episodes)."""
        if name == "episodes":
            self.window.episodes.set_root(episodes_root(self.session.settings))
        elif name == "adapters":
            self.window.adapters.refresh()

    def _game_view_toggled(self, on: bool) -> None:
        if self.session.settings.window_game_view != on:
            self.session.settings.window_game_view = on
            self.save_settings(self.session.settings)

    def _focus_game(self) -> None:
        game = self.session.game
        if game is not None:
            try:
                game.focus()
            except Exception as exc:
                LOG.warning("could not focus the game: %s", exc)

    def _apply_settings_to_widgets(self) -> None:
        s = self.session.settings
        try:
            self._bindings = keymap.resolve_bindings(s.key_bindings)
        except ValueError as exc:
            self.show_error(f"Key bindings in the settings are not valid ({exc}); the defaults are used.")
        self.window.set_hotkeys(s.panic_key, s.pause_key, s.save_last_key)
        self.window.controls.record.setChecked(self.session.recording)
        self.window.controls.set_record_mode(s.record_mode)
        self.window.instruction.set_library(self.session.tasks)
        self.window.instruction.set_history(s.history)
        self.panic.setKey(QKeySequence(s.panic_key.upper()))

    def _show_tick(self) -> None:
        view = self.bridge.take()
        if view is None:
            return
        now = time.monotonic()
        fresh = view.action if view.record.fresh else None
        if self.state.tick(fresh, view.record.focused, now):
            self._show_badge()
        badge = self._badge(view.mode)
        notes = self.state.notes(badge, now)
        overlay = overlay_for(
            view.action,
            badge,
            bindings=self._bindings,
            instruction=view.instruction,
            notes=notes,
        )
        self.window.view.show_frame(view.frame, overlay)
        self.window.controls.set_strip(summary(overlay))

    def _badge(self, mode: Mode | None = None) -> BadgeKey:
        loop = self.session.loop
        held = loop is not None and loop.control.held
        return self.state.badge(self.session.mode if mode is None else mode, held)

    def _show_badge(self) -> None:
        badge = self._badge()
        self.window.badge.set_mode(badge)
        if not self.session.running:  # while a run plays, each tick writes the strip
            self.window.controls.set_strip(" · ".join(self.state.notes(badge, time.monotonic())))

    def _mode_changed(self, text: str) -> None:
        mode = Mode(text)  # a plain str across the Qt signal
        if mode in RUNNING_MODES:
            self.episode_watch.watch(episodes_root(self.session.settings))  # F8 works from the game
        self.state.mode_changed(mode)
        self._show_badge()
        self._update_controls()

    def _stopped(self, reason: str) -> None:
        outcome = self.session.wait(timeout=0)
        said = self.state.stopped(reason, outcome.error if outcome is not None else None)
        self.session.stats.reset()
        self.window.badge.set_mode(BadgeKey.STOPPED)
        self.window.status_panel.clear_figures()
        self.window.controls.set_strip(" · ".join(self.state.notes(BadgeKey.STOPPED, time.monotonic())))
        view = self.window.view
        view.show_frame(None, overlay_for(None, BadgeKey.STOPPED, instruction=self.session.instruction))
        self._update_controls()
        self.say(said)

    def _update_controls(self) -> None:
        s = self.session
        teleop_mode = s.settings.record_mode == RecordMode.TELEOP
        can = self.state.can_start(bool(self.jobs), s.game is not None, s.policy is not None, teleop_mode)
        self.window.controls.set_state(self.state.controls(s.mode, can))
        self.window.set_recording(s.recording_now)

    def _show_placeholder(self) -> None:
        """Say what is missing instead of "Loading…" forever (the preview replaces it once a game is open)."""
        s = self.session
        text = self.state.placeholder(
            bool(self.jobs),
            s.running,
            s.game is not None,
            s.policy is not None,
            s.settings.record_mode == RecordMode.TELEOP,
        )
        if text is not None:
            self.window.view.clear(text)

    def _preview(self) -> None:
        """Before Start (and after Stop), paint what the game shows now."""
        s = self.session
        game = s.game
        if game is not None and game is not self.placer.placed_for and self.window.isVisible():
            self.place()  # as soon as the game is open, while the model may still be loading
        if game is None or s.running or self.jobs or self.state.game_lost or not self.window.isVisible():
            return
        try:
            frame = game.connector.observe()
        except Exception as exc:
            if game_gone(exc):
                self.state.game_lost = True
                self.show_error(GAME_GONE)
                self._update_controls()
                self._show_placeholder()
            return
        view = self.window.view
        overlay = view.overlay if view.overlay is not None else overlay_for(None, s.mode)
        view.show_frame(frame, overlay)

    def _refresh_figures(self) -> None:
        s = self.session
        if s.running:
            figures = s.stats.figures()
            panel = self.window.status_panel
            panel.set_figures(figures, self.window.view.fps, teleop=self.state.teleop)
            said = self.state.figures_seen(figures, s.settings.tick_hz, s.recording_now, s.settings.fallback)
            slow = self.state.slow
            panel.set_slow(slow, slow.sentence(s.settings.fallback) if slow is not None else "")
            self.say(said)
        self._refresh_own_rects()

    # ----- our own input is never a takeover ----------------------------------------------------
    def _focus_window_changed(self, focus: object) -> None:
        self.state.active = focus is not None  # a window of this app has keyboard focus (any of them)
        self._refresh_own_rects()

    def _refresh_own_rects(self) -> None:
        self.state.own_rects = tuple(
            (g.x(), g.y(), g.width(), g.height()) for g in (w.frameGeometry() for w in _own_windows())
        )

    # ----- placement --------------------------------------------------------------------------
    def place(self) -> placement.Placement | None:
        """Put the window beside the game (moving the demo game to the corner first), once per game."""
        game = self.session.game
        if game is not None and game is not self.placer.placed_for and game.desktop_notes:
            # what this desktop cannot do (a Wayland session): said once per game, where it is seen
            self.show_message("On this desktop: " + "; ".join(game.desktop_notes) + ".", "note")
        plan = self.placer.place(game, self.session.settings.window_geometry)
        if plan is not None and plan.overlaps:
            self.show_message(
                "The screen has no room beside the game for this window: it overlaps the game. Move "
                "or shrink the game's window, and this one beside it.",
                "note",
            )
        return plan

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if obj is self.window and event is not None:
            kind = event.type()
            if kind in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show):
                self._refresh_own_rects()
                if kind == QEvent.Type.Show:
                    self.placer.shown()
                elif self.window.isVisible():
                    rect = self.placer.frame_rect()
                    self.session.settings.window_geometry = placement.format_rect(rect)
            elif kind == QEvent.Type.ActivationChange:
                self.state.active = QApplication.activeWindow() is not None
            elif kind == QEvent.Type.Close:
                if not self.may_close():
                    event.ignore()
                    return True
                self.shutdown()
        return False

    def may_close(self) -> bool:
        """Ask first when closing would cut a recording, a fine-tune or an evaluation short (unless
        the close was not the person's: a signal or a scripted run sets ``ask_before_close`` False)."""
        if not self.ask_before_close:
            return True
        finetune = self.window.finetune.job
        question = close_question(
            self.session.recording_now,
            finetune is not None and finetune.running,
            self.window.evaluate.is_running,
        )
        return question is None or self.confirm(self.window, question)

    def shutdown(self) -> None:
        """Stop play and close the game; the window is going away."""
        self.figures_timer.stop()
        self.preview_timer.stop()
        self.session.settings.window_panels = self.window.panel
        self.window.episodes.shutdown()
        self.window.finetune.shutdown()
        self.window.adapters.shutdown()
        self.window.evaluate.shutdown()
        self.save_settings(self.session.settings)
        self.session.close()


def _own_windows() -> list[QWidget]:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return []
    return [w for w in app.topLevelWidgets() if w.isVisible() and w.isWindow()]
