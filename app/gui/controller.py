"""The window's flows: widgets' signals in, ``Session`` calls out, session signals back to widgets.

Slow steps (opening the game, loading a model) run as ``Job``s; while one runs the window stays live
and the status bar says what is happening. Every failure lands in the banner as a sentence. The
controller also tells the session which human input is really a click or key press in one of this
app's windows (``ignore_input``: the main window, its dialogs, floating panels), so using the app
never counts as taking over the game.

Who is in control is said in one place (``_badge``): the agent, the agent waiting for the game to
get focus, the person after Take over (until Hand back), the person after touching the game (until
the quiet time), paused, stopped. Before Start the view previews the game (a light timer observes
the connector while no loop runs). Episodes landing on disk, from Stop or from the save-last key
pressed anywhere, are announced by ``EpisodeWatch``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QEvent, QObject, QTimer
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import QApplication, QDialog, QWidget

from app.games.spec import GameError, GameSpec
from app.gui import placement
from app.gui.bridge import SessionBridge
from app.gui.episode_watch import EpisodeWatch
from app.gui.episodes_panel import ask_yes_no
from app.gui.main_window import MainWindow
from app.gui.overlay import overlay_for
from app.gui.settings_dialog import SettingsDialog
from app.gui.workers import Job
from app.session import Session
from app.settings import Settings, episodes_root
from model.actions.env import describe
from recorder.input import InputEvent, keymap

LOG = logging.getLogger(__name__)

FIGURES_MS = 250  # how often the live figures refresh
PREVIEW_MS = 200  # how often the game is previewed while no loop runs

NO_GAME = "No game open: choose one under Game above and press Open game."
NO_MODEL = "No model loaded: choose one under Model above and press Load model (or record yourself: Only me)."
GAME_GONE = (
    "The game window is gone (closed or crashed), so play stopped. Start the game again, then "
    "choose it under Game above and press Open game."
)
# command-line advice in shared error messages -> what a window user does instead
WINDOW_WORDS = {
    "pass a local folder with --model": "choose a local checkpoint folder with Folder… beside Model",
    "point --model at the checkpoint folder itself": "choose the checkpoint folder itself with Folder…",
    "--model needs a checkpoint folder": "the model needs a checkpoint folder",
    "and trying again resumes it": "and Load model resumes it",
    "Use --quantize none": "Use bf16",
    "Use --quantize 8bit": "Use 8bit",
    "Use --quantize 4bit": "Use 4bit",
}


def for_window(text: str) -> str:
    """A message written for the command line, in the window's terms."""
    for cli, gui in WINDOW_WORDS.items():
        text = text.replace(cli, gui)
    return text


class WindowController(QObject):
    def __init__(
        self, window: MainWindow, session: Session, save_settings: Callable[[Settings], Any] = lambda _s: None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.ask_before_close = True  # False when a signal or a scripted run closes the window
        self.session = session
        self.save_settings = save_settings
        self.bridge = SessionBridge(session, self)
        self.jobs: list[Job] = []
        self.errors: list[str] = []  # every message shown, for tests and the --report file
        self.notes: list[str] = []  # every note shown in the banner, for a scripted run's report
        self._own_rects: tuple[placement.Rect, ...] = ()  # frames of our visible windows
        self._active = False  # one of our windows has keyboard focus
        self._game_lost = False
        self._teleop = False  # the current run is the person's alone
        self._focused = True  # the game had focus on the last tick
        self._placed_for: object = None  # the game the window was last placed beside
        self.place_window = True  # False when the person gave --geometry
        self._frame_after_show: placement.Rect | None = None
        self.confirm: Callable[[QWidget, str], bool] = ask_yes_no  # replaced in tests
        self.episode_watch = EpisodeWatch(self)
        self.episode_watch.saved.connect(lambda text, _folder: self.show_message(text, "info"))
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
        w.controls.hand_back_clicked.connect(self.hand_back)
        w.controls.record_toggled.connect(self.set_recording)
        w.controls.record_mode_changed.connect(self.set_record_mode)
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
        w.evaluate.attach(session)
        w.evaluate.message.connect(self.show_message)
        w.download_view.attach(session)
        w.download_view.offer_accepted.connect(self.use_precision)
        w.finetune.evaluate_requested.connect(lambda a: (w.evaluate.offer_adapter(a), w.evaluate_dock.show()))
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
        for name, dock in self._panels().items():  # the side panel open last time, open again
            if name in session.settings.window_panels.split(","):
                dock.show()
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
            self._game_lost = False
            self.window.view.clear("Ready: press Start.")
            self.place()
            if autostart:
                self.start()

        return self._run(work, "get the game and the model ready", done)

    def start(self) -> None:
        teleop = self.session.settings.record_mode == "teleop"
        if self._game_lost or self.session.game is None:
            self.show_error(GAME_GONE if self._game_lost else NO_GAME)
            return
        if teleop and not self.session.recording:
            self.show_message("Only me (teleop) records you playing: press Record to save it.", "note")
        try:
            self.session.start(teleop=teleop)
        except Exception as exc:
            from app.errors import describe_error

            self.show_error(describe_error(exc, "start"))
        self._teleop = teleop and self.session.running
        self._update_controls()
        self._show_badge()

    def toggle_pause(self) -> None:
        if self.session.mode == "human":
            return  # the person holds control: Hand back (or the pause key) gives it back
        self.session.toggle_pause()

    def take_over(self) -> None:
        """The person plays until Hand back; the game gets keyboard focus so they can at once."""
        self.session.take_over()
        game = self.session.game
        if game is not None:
            try:
                game.focus()
            except Exception as exc:
                LOG.warning("could not focus the game: %s", exc)
        self._show_badge()

    def hand_back(self) -> None:
        self.session.resume()
        game = self.session.game
        if game is not None and self.session.mode == "agent":
            try:
                game.focus()  # the agent injects only while the game has focus
            except Exception as exc:
                LOG.warning("could not focus the game: %s", exc)
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
            self.window.instruction.set_library(self.session.tasks)
            self.window.status_panel.set_source(self.session.model_spec, self._game_label())
            self.session.settings.model = spec
            self.save_settings(self.session.settings)

        def work(progress: Callable[[str], None]) -> None:
            self.session.load_model(spec, progress)

        return self._run(work, f"load the model {spec}", done)

    def use_precision(self, precision: str) -> Job:
        """The precision a refused fit offered: remembered in the settings, and the model loaded again."""
        self.session.settings.quantize = "none" if precision == "bf16" else precision
        self.save_settings(self.session.settings)
        return self.load_model(self.window.model_picker.spec())

    def open_game(self, text: str) -> Job:
        spec = GameSpec.parse(text)

        def done(_result: object) -> None:
            self._game_lost = False
            self.window.status_panel.set_source(self.session.model_spec, self._game_label())
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
        self.session.settings.record_mode = mode
        self.save_settings(self.session.settings)
        self._update_controls()

    def save_last(self) -> None:
        self.episode_watch.watch(episodes_root(self.session.settings))
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
        if settings.record != old.record:  # changed in the dialog; otherwise the Record button rules
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
        text = for_window(text)
        if level == "error":
            self.errors.append(text)
        elif level == "note":
            self.notes.append(text)
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
        self.window.status_panel.set_source(self.session.model_spec, self._game_label())
        self.window.instruction.set_library(self.session.tasks)
        self.window.finetune.refresh_adapter()
        self.window.status_panel.set_adapter(self.session.adapter)
        self._update_controls()
        self._show_placeholder()

    def _episodes_shown(self, shown: bool) -> None:
        """List the recordings folder when the panel opens (lazily: it may hold many episodes)."""
        if shown:
            self.window.episodes.set_root(episodes_root(self.session.settings))

    def _panels(self) -> dict[str, Any]:
        return {"episodes": self.window.episodes_dock, "finetune": self.window.finetune_dock}

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
        self.window.controls.set_record_mode(s.record_mode)
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
        if self._focused != view.record.focused:
            self._focused = view.record.focused
            self._show_badge()
        if not view.record.focused and view.mode == "agent":
            notes += ("the agent waits: click into the game to give it focus",)
        if self._last_fresh is not None and view.mode == "agent":
            action, when = self._last_fresh
            notes += (f"last model action: {describe(action)} ({now - when:.1f} s ago)",)
        overlay = overlay_for(
            view.action,
            self._badge(view.mode),
            bindings=self._bindings,
            instruction=view.instruction,
            notes=notes,
        )
        self.window.view.show_frame(view.frame, overlay)

    def _badge(self, mode: str | None = None) -> str:
        """What the badges say: the session's mode, refined (see the module docstring)."""
        mode = self.session.mode if mode is None else mode
        loop = self.session.loop
        if mode == "human" and self._teleop:
            return "teleop"
        if mode == "human" and loop is not None and loop.control.held:
            return "held"
        if mode == "agent" and not self._focused:
            return "waiting"
        return mode

    def _show_badge(self) -> None:
        self.window.status_panel.set_mode(self._badge())

    def _mode_changed(self, mode: str) -> None:
        if mode in ("agent", "human", "paused"):
            self.episode_watch.watch(episodes_root(self.session.settings))  # F8 works from the game
        else:
            self._teleop = False
        self._show_badge()
        self._update_controls()

    def _stopped(self, reason: str) -> None:
        self._teleop = False
        self._focused = True
        self.session.stats.reset()
        self.window.status_panel.set_mode("stopped")
        self.window.status_panel.clear_figures()
        self._last_fresh = None
        view = self.window.view
        view.show_frame(None, overlay_for(None, "stopped", instruction=self.session.instruction))
        self._update_controls()
        outcome = self.session.wait(timeout=0)
        error = outcome.error if outcome is not None else None
        if error is not None and _game_gone(error):
            self._game_lost = True
            self.show_error(GAME_GONE)
            self._update_controls()
        elif reason.startswith("panic"):
            self.show_message(
                "Stopped by the panic key; every key was released. Press Start to go on.", "note"
            )

    def _update_controls(self) -> None:
        s = self.session
        can = (
            not self.jobs
            and not self._game_lost
            and s.game is not None
            and (s.policy is not None or s.settings.record_mode == "teleop")
        )
        self.window.controls.set_state(s.ready and not self.jobs, s.mode, can_start=can)
        if self._teleop:
            self.window.controls.hand_back.setEnabled(False)
        live = s.recording_now
        self.window.controls.set_recording_live(live)
        self.window.set_recording(live)

    def _show_placeholder(self) -> None:
        """Say what is missing instead of "Loading…" forever (the preview replaces it once a game is open)."""
        if self.jobs or self.session.running:
            return
        if self.session.game is None:
            self.window.view.clear(GAME_GONE if self._game_lost else NO_GAME)
        elif self.session.policy is None and self.session.settings.record_mode != "teleop":
            self.window.view.clear(NO_MODEL)

    def _preview(self) -> None:
        """Before Start (and after Stop), paint what the game shows now."""
        s = self.session
        game = s.game
        if game is not None and game is not self._placed_for and self.window.isVisible():
            self.place()  # as soon as the game is open, while the model may still be loading
        if game is None or s.running or self.jobs or self._game_lost or not self.window.isVisible():
            return
        try:
            frame = game.connector.observe()
        except Exception as exc:
            if _game_gone(exc):
                self._game_lost = True
                self.show_error(GAME_GONE)
                self._update_controls()
                self._show_placeholder()
            return
        view = self.window.view
        overlay = view.overlay if view.overlay is not None else overlay_for(None, s.mode)
        view.show_frame(frame, overlay)

    def _refresh_figures(self) -> None:
        if self.session.running:
            self.window.status_panel.set_figures(self.session.stats.figures(), self.window.view.fps)
        self._own_rects = tuple(
            (g.x(), g.y(), g.width(), g.height()) for g in (w.frameGeometry() for w in _own_windows())
        )

    # ----- our own input is never a takeover ----------------------------------------------------
    def _own_input(self, event: InputEvent) -> bool:
        """True for input aimed at one of our windows (listener thread: reads plain attributes)."""
        if event.kind in ("key_down", "key_up"):
            return self._active
        if event.kind in ("button_down", "button_up", "scroll", "move"):
            return any(x <= event.x < x + w and y <= event.y < y + h for x, y, w, h in self._own_rects)
        return False

    def _focus_window_changed(self, focus: object) -> None:
        self._active = focus is not None  # a window of this app has keyboard focus (any of them)
        self._refresh_own_rects()

    def _refresh_own_rects(self) -> None:
        self._own_rects = tuple(
            (g.x(), g.y(), g.width(), g.height()) for g in (w.frameGeometry() for w in _own_windows())
        )

    # ----- placement --------------------------------------------------------------------------
    def place(self) -> placement.Placement | None:
        """Put the window beside the game (moving the demo game to the corner first), once per game.

        Only with the window on X11 or XWayland (xcb); a saved position that fits and stays clear of
        the game wins. A tiling compositor (sway) may place both windows itself."""
        game = self.session.game
        if game is not None and game is not self._placed_for and game.desktop_notes:
            # what this desktop cannot do (a Wayland session): said once per game, where it is seen
            self.show_message("On this desktop: " + "; ".join(game.desktop_notes) + ".", "note")
        if not self.place_window or game is None or game is self._placed_for:
            return None
        if QApplication.platformName() != "xcb":
            return None
        self._placed_for = game
        try:
            return self._place(game)
        except Exception as exc:  # placement is a convenience: never a reason to fail
            LOG.warning("could not place the window beside the game: %s", exc)
            return None

    def _place(self, game: Any) -> placement.Placement:
        connector = game.connector
        wid = connector.window_id
        if not wid:  # no game window on this screen (fake, minerl, a region): stay where the person put us
            return placement.Placement(self._frame_rect())
        desk = connector.desktop  # the game's display server: its work area, frames and moves
        screen = desk.work_area()
        frame = desk.frame(wid)
        saved = placement.parse_rect(self.session.settings.window_geometry)
        plan = placement.plan(screen, frame, own_game=game.process is not None, saved=saved)
        if plan.game_to is not None:
            desk.move_frame(wid, *plan.game_to)
        self.set_frame(plan.window)
        if plan.overlaps:
            self.show_message(
                "The screen has no room beside the game for this window: it overlaps the game. Move "
                "or shrink the game's window, and this one beside it.",
                "note",
            )
        return plan

    def _frame_rect(self) -> placement.Rect:
        g = self.window.frameGeometry()
        return (g.x(), g.y(), g.width(), g.height())

    def set_frame(self, rect: placement.Rect) -> None:
        """Move and size the window so its frame (decorations included) covers ``rect``."""
        w = self.window
        frame, inner = w.frameGeometry(), w.geometry()
        dw = frame.width() - inner.width() if w.isVisible() else 0
        dh = frame.height() - inner.height() if w.isVisible() else 0
        x, y, width, height = rect
        w.resize(max(1, width - dw), max(1, height - dh))
        w.move(x, y)
        if not w.isVisible():  # decorations are known once shown: size it again then
            self._frame_after_show = rect

    def _reapply_frame(self) -> None:
        rect, self._frame_after_show = self._frame_after_show, None
        if rect is not None:
            self.set_frame(rect)

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if obj is self.window and event is not None:
            kind = event.type()
            if kind in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show):
                self._refresh_own_rects()
                if kind == QEvent.Type.Show and self._frame_after_show is not None:
                    QTimer.singleShot(300, self._reapply_frame)
                if kind != QEvent.Type.Show and self.window.isVisible():
                    g = self.window.frameGeometry()
                    rect = (g.x(), g.y(), g.width(), g.height())
                    self.session.settings.window_geometry = placement.format_rect(rect)
            elif kind == QEvent.Type.ActivationChange:
                self._active = QApplication.activeWindow() is not None
            elif kind == QEvent.Type.Close:
                if not self.may_close():
                    event.ignore()
                    return True
                self.shutdown()
        return False

    def may_close(self) -> bool:
        """Ask first when closing would cut a recording or a fine-tune short (unless the close was not
        the person's: a signal or a scripted run sets ``ask_before_close`` False)."""
        if not self.ask_before_close:
            return True
        busy = []
        if self.session.recording_now:
            busy.append("an episode is being recorded (it is saved as it stands)")
        finetune = self.window.finetune
        if finetune.job is not None and finetune.job.running:
            busy.append("a fine-tune is running (it saves a checkpoint; Resume continues it)")
        if not busy:
            return True
        return self.confirm(self.window, "Really quit? " + "; ".join(busy).capitalize() + ".")

    def shutdown(self) -> None:
        """Stop play and close the game; the window is going away."""
        self.figures_timer.stop()
        self.preview_timer.stop()
        shown = [name for name, dock in self._panels().items() if dock.isVisible()]
        self.session.settings.window_panels = ",".join(shown)
        self.window.episodes.shutdown()
        self.window.finetune.shutdown()
        self.window.evaluate.shutdown()
        self.save_settings(self.session.settings)
        self.session.close()


def _own_windows() -> list[QWidget]:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return []
    return [w for w in app.topLevelWidgets() if w.isVisible() and w.isWindow()]


def _game_gone(exc: BaseException) -> bool:
    """The game's window closed or its process died (the capture says so by type)."""
    from app.games.desktop import GameWindowGone
    from recorder.desktop import WindowGone

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (GameWindowGone, WindowGone)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
