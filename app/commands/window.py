"""``jarvis-play`` (no verb) or ``jarvis-play window``: the desktop window.

    jarvis-play                                      # tiny model, demo game (or the screen without minetest)
    jarvis-play window --model CraftJarvis/JarvisVLA-Qwen2-VL-7B --game window:Minecraft
    jarvis-play window --model http://gpu-box:8000/v1 --tasks instructions.json
    jarvis-play window --start --quit-after 10 --screenshot shot.png --report run.json   # scripted run
    jarvis-play window --tour layout/      # every state and tab: screenshots and clipped text, then close

Options given here apply to this run; what is chosen in the window is saved in the settings file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from app import settings as settings_mod
from app.errors import UserError
from app.gui import placement
from app.session import Session
from recorder.desktop import detect

LOG = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser = sub.add_parser("window", help="open the window (what jarvis-play does with no verb)")
    parser.add_argument("--model", help="tiny, a checkpoint folder, an HF id or a server URL")
    parser.add_argument("--game", help="auto, demo, window:TITLE, region:L,T,W,H, screen, minerl:ENV or fake")
    parser.add_argument("--tasks", metavar="FILE", help="instructions.json with the tasks the model knows")
    parser.add_argument("--instruction", help="the first instruction")
    parser.add_argument("--start", action="store_true", help="start the agent as soon as it is loaded")
    parser.add_argument("--quit-after", type=float, metavar="S", help="close S s after the agent starts")
    parser.add_argument("--screenshot", metavar="PNG", help="with --quit-after: save the window just before")
    parser.add_argument("--report", metavar="JSON", help="with --quit-after: write run figures to this file")
    parser.add_argument("--geometry", metavar="X,Y,W,H", help="window position and size in screen pixels")
    parser.add_argument(
        "--tour",
        metavar="DIR",
        help="walk every control state and tab, saving screenshots and a report of any text that does "
        "not fit into DIR, then close (for a layout problem on your screen)",
    )
    parser.set_defaults(func=main)


def _opt(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)  # the no-verb path passes a namespace without these


def main(args: argparse.Namespace) -> int:
    desktop = detect()
    if desktop.server == "none" and not os.environ.get("QT_QPA_PLATFORM"):
        raise UserError(
            "no display to open the window on (DISPLAY is not set). Run it in a desktop "
            "session, under xvfb-run, or use `jarvis-play run` for a headless agent."
        )
    if desktop.backend == "xwayland" and not os.environ.get("QT_QPA_PLATFORM"):
        # On XWayland the window is an X11 client like the game: it can be placed beside the game,
        # and the panic key is heard while it has focus (a native Wayland window would hide both).
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    from PyQt6.QtWidgets import QApplication  # heavy: Qt

    from app.gui.controller import WindowController  # heavy: Qt
    from app.gui.main_window import MainWindow  # heavy: Qt

    loaded = settings_mod.load()
    settings = loaded.settings
    for name, field in (
        ("model", "model"),
        ("game", "game"),
        ("tasks", "tasks_file"),
        ("instruction", "instruction"),
    ):
        if _opt(args, name):
            setattr(settings, field, _opt(args, name))

    def save(s: settings_mod.Settings) -> None:
        try:
            settings_mod.save(s, loaded.path)
        except OSError as exc:
            LOG.warning("could not save settings to %s: %s", loaded.path, exc)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("jarvis-play")
    window = MainWindow()
    session = Session(settings)
    controller = WindowController(window, session, save)
    _install_safety(app, session, controller)
    for message in loaded.messages:
        controller.show_message(message, "note")
    _initial_geometry(window, controller, _opt(args, "geometry"), settings.window_geometry)
    window.show()
    tour = _opt(args, "tour")
    controller.prepare(settings.model, settings.game, autostart=bool(_opt(args, "start")) and not tour)
    if tour:
        from app.gui.layout_tour import LayoutTour  # heavy: Qt

        def close() -> None:
            controller.ask_before_close = False
            window.close()

        LayoutTour(controller, tour, on_done=close)
    if _opt(args, "quit_after"):
        seconds = float(_opt(args, "quit_after"))
        scripted = ScriptedExit(controller, seconds, _opt(args, "screenshot"), _opt(args, "report"))  # noqa: F841
    try:
        return int(app.exec())
    finally:
        session.close()  # idempotent: the controller closes it too when the window closes
        _let_jobs_end(controller)


def _let_jobs_end(controller: Any, seconds: float = 15.0) -> None:
    """Wait (a while) for the window's jobs still running: a game still starting ends at once now
    that the session is closed (its start raises), and a job that reported into a window Python is
    tearing down crashed the interpreter (exit -11 after a signal during start-up)."""
    deadline = time.monotonic() + seconds
    for job in list(controller.jobs):
        job.wait(max(0.0, deadline - time.monotonic()))


def _initial_geometry(window: Any, controller: Any, given: str | None, saved: str) -> None:
    """--geometry wins (and the window stays there); else where the person last had it, if it is
    still on a screen; else a size that fits the screen. Once the game is open the controller
    places the window beside it (``WindowController.place``)."""
    if given:
        x, y, w, h = (int(v) for v in str(given).split(","))
        window.setGeometry(x, y, w, h)
        controller.placer.enabled = False
        return
    screen = window.screen().availableGeometry()
    area = (screen.x(), screen.y(), screen.width(), screen.height())
    rect = placement.parse_rect(saved)
    if rect is None or not placement.inside(rect, area):
        rect = placement.plan(area, None).window
    controller.placer.set_frame(rect)


def _install_safety(app: Any, session: Any, controller: Any) -> None:
    """SIGINT, SIGTERM and SIGHUP release held input at once and close the window the ordinary way,
    without asking "Really quit?" (nobody may be there to answer; the recording is saved as it stands).

    Python runs signal handlers only between bytecodes, and Qt's event loop is C++: a light timer
    hands control back to Python a few times a second so a signal is seen promptly. A signal before
    the event loop runs (the window shown, the game starting) finds ``quit()`` doing nothing in Qt 6,
    and the window then ran on for good; a zero timer quits as soon as the loop starts.
    """
    from PyQt6.QtCore import QTimer  # heavy: Qt

    def quit_now(_signum: int) -> None:
        controller.ask_before_close = False
        app.quit()
        QTimer.singleShot(0, app.quit)

    session.install_safety(on_signal=quit_now, raise_after=False)
    pulse = QTimer(app)
    pulse.timeout.connect(lambda: None)
    pulse.start(200)
    app._jarvis_signal_pulse = pulse  # keep it alive as long as the app


class ScriptedExit:
    """Close the window ``seconds`` after the agent started, saving a screenshot and a report first.

    Gives up (and reports why) if the agent has not started within a generous load timeout.
    """

    LOAD_TIMEOUT_S = 180.0
    GRACE_S = 5.0

    def __init__(self, controller: Any, seconds: float, screenshot: str | None, report: str | None) -> None:
        from PyQt6.QtCore import QTimer  # heavy: Qt

        self.controller = controller
        self.seconds = seconds
        self.screenshot = screenshot
        self.report = report
        self.created = time.monotonic()
        self.started: float | None = None
        self.fps_samples: list[float] = []
        self.frames_at_start = 0
        self.timer = QTimer(controller)
        self.timer.timeout.connect(self._poll)
        self.timer.start(250)
        self._last_sample = 0.0
        self.pose_start: dict[str, Any] | None = None

    def _pose(self) -> dict[str, Any] | None:
        """The demo game's ground truth (its mod logs the player's pose), when playing it."""
        game = self.controller.session.game
        try:
            pose = game.process.pose() if game is not None and game.process is not None else None
        except Exception:
            return None
        return None if pose is None else {"pos": list(pose.pos), "yaw": pose.yaw, "pitch": pose.pitch}

    def _focus(self) -> dict[str, Any]:
        """Who had the keyboard at the end: when the agent injected nothing, the first thing to ask."""
        from PyQt6.QtWidgets import QApplication  # heavy: Qt

        game = self.controller.session.game
        connector = game.connector if game is not None else None
        desktop = getattr(connector, "desktop", None)
        out: dict[str, Any] = {"this_app_active": QApplication.activeWindow() is not None}
        if connector is not None and desktop is not None:
            try:
                out.update(game=int(connector.window_id or 0), focused=int(desktop.focused_window()))
            except Exception as exc:  # a report field: never a reason to lose the report
                out["error"] = str(exc)
        return out

    def _poll(self) -> None:
        session = self.controller.session
        view = self.controller.window.view
        now = time.monotonic()
        if self.started is None:
            if session.running:
                self.started = now
                self.frames_at_start = view.frames_shown
                self.pose_start = self._pose()
            elif now - self.created > self.LOAD_TIMEOUT_S or (
                not self.controller.jobs and self.controller.errors
            ):
                self._finish(now)
            return
        if now - self._last_sample >= 1.0 and now - self.started >= 1.0:
            self._last_sample = now
            self.fps_samples.append(view.fps)
        if not session.running:
            self._finish(now)
        elif now - self.started >= self.seconds:
            # a screenshot should show the agent doing something: wait (briefly) for a tick whose
            # overlay has held keys or a camera arrow
            overlay = view.overlay
            acting = overlay is not None and (overlay.keys or overlay.arrow is not None)
            if acting or not self.screenshot or now - self.started >= self.seconds + self.GRACE_S:
                self._finish(now)
            else:
                self.timer.setInterval(10)

    def _finish(self, now: float) -> None:
        self.timer.stop()
        window = self.controller.window
        session = self.controller.session
        if self.screenshot:
            Path(self.screenshot).parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(self.screenshot)
        if self.report:
            loop = session.loop
            played = now - self.started if self.started is not None else 0.0
            data = {
                "started": self.started is not None,
                "seconds": round(played, 2),
                "mode": session.mode,
                "frames_shown": window.view.frames_shown - self.frames_at_start,
                "view_fps": sorted(self.fps_samples),
                "telemetry": loop.telemetry.summary() if loop is not None else None,
                "errors": list(self.controller.errors),
                "notes": list(self.controller.notes),
                "game": session.game.label if session.game is not None else None,
                "model": session.model_spec,
                "instruction": loop.instruction if loop is not None else None,
                "pose_start": self.pose_start,
                "pose_end": self._pose(),
                "focus": self._focus(),
            }
            Path(self.report).write_text(json.dumps(data, indent=2))
        self.controller.ask_before_close = False  # a scripted run: nobody answers a dialog
        window.close()
