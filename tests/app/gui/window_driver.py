"""The real ``jarvis-play window``, watched from outside by a test that drives it like a person.

Runs ``jarvis-play window ARGS`` exactly as the command does (``app.commands.window.main`` on the
parsed command line, Qt on xcb in the test's X server). Only an observer is added: five times a second
it prints one JSON line with what the window shows (badge, banner, the panels' texts, figures and
tables) and where its buttons and tabs are on the screen, so that the test can click them with xdotool
(real X input) and read the screen itself. Nothing is clicked or set from in here. ``quit`` on stdin
closes the window the way a signal does (no "Really quit?").
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QTableWidget

from app.cli import build_parser
from app.gui.controller import WindowController
from app.gui.main_window import MainWindow
from tests.app.gui.screen_rects import rect, tab_rect

REPORT_MS = 200


def cells(table: QTableWidget) -> list[list[str]]:
    return [
        [
            (table.item(r, c).text() if table.item(r, c) is not None else "")
            for c in range(table.columnCount())
        ]  # type: ignore[union-attr]
        for r in range(table.rowCount())
    ]


def state(window: MainWindow, controller: WindowController) -> dict[str, Any]:
    session = controller.session
    controls, tune, adapters, evaluate = window.controls, window.finetune, window.adapters, window.evaluate
    widgets = {
        "start": controls.start,
        "stop": controls.stop,
        "record": controls.record,
        "record_mode": controls.record_mode,
        "preset": tune.preset,
        "finetune_start": tune.start_button,
        "adapters_evaluate": adapters.evaluate_button,
        "evaluate_seconds": evaluate.seconds,
        "evaluate_trials": evaluate.trials,
        "evaluate_start": evaluate.start_button,
        # what the test reads off the screen's pixels
        "rec": controls.rec,
        "view": window.view,
        "progress": tune.progress,
        "curve": tune.accuracy_curve,
        "warnings": tune.warnings,
        "figures": adapters.figures,
        "table": evaluate.table,
        "plot": evaluate.plot,
    }
    figures = session.stats.figures() if session.running else None
    return {
        "wid": int(window.winId()),
        "rects": {name: rect(w) for name, w in widgets.items()},
        "tabs": {name: tab_rect(window, name) for name in window.pages},
        "panel": window.panel,
        "title": window.windowTitle(),
        "ready": session.ready and not controller.jobs,
        "mode": str(session.mode),
        "recording_now": session.recording_now,
        "record_mode": controls.record_mode.currentData(),
        "badge": window.badge.text(),
        "banner": window.banner.text.text() if window.banner.isVisible() else "",
        "errors": list(controller.errors),
        "model_ms": None if figures is None else figures.model_ms,
        "finetune": {
            "preset": tune.preset.currentText(),
            "preset_open": bool(tune.preset.view() is not None and tune.preset.view().isVisible()),
            "steps": tune.steps.value(),
            "model": tune.model.text(),
            "status": tune.state.status,
            "step": tune.state.step,
            "of": tune.state.steps,
            "accuracy": tune.state.accuracy,
            "warnings": tune.state.warnings,
            "warnings_shown": tune.warnings.text() if tune.warnings.isVisible() else "",
            "message": tune.state.message,
            "out": tune.state.out,
        },
        "adapters": {
            "rows": cells(adapters.list),
            "figures": adapters.figures.text() if adapters.figures.isVisible() else "",
            "selected": str(adapters.selected or ""),
        },
        "evaluate": {
            "task": evaluate.task.text(),
            "adapters": evaluate.adapters.text(),
            "seconds": evaluate.seconds.value(),
            "trials": evaluate.trials.value(),
            "vary_start": evaluate.vary_start.isChecked(),
            "running": evaluate.is_running,
            "status": evaluate.status.text(),
            "table": cells(evaluate.table),
        },
    }


class Observer:
    """Finds the window once the command has built it, then reports what it shows."""

    def __init__(self, app: QApplication) -> None:
        self.app = app
        self.quit_asked = threading.Event()
        self.timer = QTimer()
        self.timer.timeout.connect(self.report)
        self.timer.start(REPORT_MS)
        threading.Thread(target=self._stdin, daemon=True).start()

    def _found(self) -> tuple[MainWindow, WindowController] | None:
        for widget in self.app.topLevelWidgets():
            if isinstance(widget, MainWindow):
                controller = widget.findChild(WindowController)
                if controller is not None:
                    return widget, controller
        return None

    def report(self) -> None:
        found = self._found()
        if found is None:
            return
        window, controller = found
        if self.quit_asked.is_set():
            controller.ask_before_close = False
            window.close()
            return
        print(json.dumps(state(window, controller)), flush=True)

    def _stdin(self) -> None:
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        self.quit_asked.set()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication(sys.argv[:1])  # the command uses this one (QApplication.instance())
    observer = Observer(app)  # noqa: F841  (kept alive while the window runs)
    args = build_parser().parse_args(["window", *argv])
    return int(args.func(args))


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    sys.exit(main(sys.argv[1:]))
