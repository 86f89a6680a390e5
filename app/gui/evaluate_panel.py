"""The Evaluate panel: success rates from play, base against adapters, blinded, with the history.

A thin view over ``app.eval``: ``setup.build`` makes the Qt-free ``Evaluation`` (arms, judge), which
runs on a background job while this widget shows its progress lines and, only once the run has
ended, which arm did what (the A/B stays blind while it runs). Where the game cannot judge, the
Success / Failure / Ready buttons are the person's verdict (the CLI's hotkeys do the same job). The
history across fine-tune rounds is the same PNG ``eval --plot`` writes, shown as a picture under
the results table: the panel is narrow beside the game on a 1366×768 screen, and the table needs its
width for the arms' names and verdicts. ``running`` tells the
window when an evaluation runs, so that nothing else names the adapter in play (the arms are blind)
or swaps one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.eval import results
from app.eval.plot import history_image
from app.eval.results import episode_tasks
from app.eval.setup import build
from app.gui.panel_jobs import run_job
from app.gui.workers import while_alive
from app.settings import evaluations_root

START_TURN = 180.0  # degrees either way: any heading


class EvaluatePanel(QWidget):
    message = pyqtSignal(str, str)  # (text, level) for the window's banner
    running = pyqtSignal(bool)  # an evaluation started (True) or ended
    _progress = pyqtSignal(str)  # from the evaluation's thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Any = None
        self.evaluation: Any = None
        self.out: Path | None = None  # results + history folder; None: beside the episodes
        self.jobs: list[Any] = []
        self.is_running = False
        self.task = QLineEdit()
        self.task.setPlaceholderText("task key (mine_block:stone) or an instruction")
        self.adapters = QLineEdit()
        self.adapters.setPlaceholderText("adapter folders, separated by ;")
        self.include_base = QCheckBox("include the base model (first arm)")
        self.include_base.setChecked(True)
        # Ten trials from one identical view measure one situation ten times: in the learning window
        # test an adapter that looked down at most skies answered "attack" at the one view every trial
        # began from, and lost 0 to 10. Turned at random, the trials sample the task's situations.
        self.vary_start = QCheckBox("turn each trial's start a random way")
        self.vary_start.setChecked(True)
        self.vary_start.setToolTip(
            "When the game judges, every trial starts where you stand, turned by a random amount (up "
            f"to ±{START_TURN:g}°), so that the trials are different situations, not one repeated"
        )
        self.trials = QSpinBox()
        self.trials.setRange(1, 200)
        self.trials.setValue(10)
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(1.0, 3600.0)
        self.seconds.setValue(30.0)
        self.start_button = QPushButton("Evaluate")
        self.cancel_button = QPushButton("Cancel")
        self.success_button = QPushButton("Success")
        self.failure_button = QPushButton("Failure")
        self.ready_button = QPushButton("Ready: next trial")
        self.status = QLabel("Evaluate an adapter by what it does in the game.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Arm", "Successes", "Rate [95% Wilson]", "vs first"])
        self.table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.table.setMinimumHeight(90)
        header = self.table.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.plot = QLabel()
        self.plot.setMinimumSize(160, 90)
        self.plot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plot.setToolTip("Success rate per fine-tune round on this task (the history of evaluations)")

        form = QFormLayout()
        form.addRow("Task", self.task)
        form.addRow("Adapters", self.adapters)
        form.addRow("", self.include_base)
        form.addRow("", self.vary_start)
        form.addRow("Trials per arm", self.trials)
        form.addRow("Seconds per trial", self.seconds)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.success_button, self.failure_button):
            buttons.addWidget(b)
        buttons.addWidget(self.ready_button)
        buttons.addStretch(1)
        results = QVBoxLayout()  # one above the other: beside the plot, the arms' names were cut to "ba…"
        results.addWidget(self.table, 3)
        results.addWidget(self.plot, 2)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addLayout(buttons)
        col.addWidget(self.status)
        col.addLayout(results, 1)

        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.success_button.clicked.connect(lambda: self._press(0))
        self.failure_button.clicked.connect(lambda: self._press(1))
        self.ready_button.clicked.connect(lambda: self._press(2))
        self._progress.connect(self.status.setText)
        self._set_running(False)

    def attach(self, session: Any) -> None:
        self.session = session

    def offer(self, adapter: str, tasks: list[str]) -> None:
        """The fine-tune panel's "evaluate this adapter": the adapter, and the first task its episodes
        were recorded for."""
        self.adapters.setText(adapter)
        if tasks:
            self.task.setText(tasks[0])
            self.task.setToolTip("recorded for: " + ", ".join(tasks))
        self.status.setText("Check the task and the trials, then press Evaluate.")

    def offer_adapter(self, adapter: str) -> None:
        """``offer`` with the tasks read from the adapter's training episodes."""
        library = self.session.tasks if self.session is not None else None
        self.offer(adapter, episode_tasks(adapter, library) if adapter else [])

    def start(self) -> None:
        if self.session is None or not self.session.ready:
            self.message.emit("Load a model and open a game before evaluating.", "warning")
            return
        try:
            evaluation = build(
                self.session,
                self.task.text(),
                [a.strip() for a in self.adapters.text().split(";") if a.strip()],
                trials=self.trials.value(),
                seconds=self.seconds.value(),
                include_base=self.include_base.isChecked(),
                yaw_jitter=START_TURN if self.vary_start.isChecked() else 0.0,
            )
        except ValueError as exc:
            self.message.emit(str(exc), "warning")
            return
        if evaluation.judge.who == "person":
            evaluation.judge.say = while_alive(self, "_progress")
        evaluation.on_progress.append(while_alive(self, "_progress"))
        self.evaluation = evaluation
        self.table.setRowCount(0)
        run_job(self, self._run, "evaluate", self._done, self._failed, self.jobs)
        self._set_running(True)

    def _run(self) -> Any:
        result = self.evaluation.run()
        out = self.out or _default_out(self.session.settings)
        path = results.save(result, out)
        return result, path, results.read_history(out)

    def cancel(self) -> None:
        """Cancel the evaluation that runs (nothing when none does: a finished one is left alone)."""
        if self.evaluation is not None and self.is_running:
            self.evaluation.cancel("evaluation cancelled")

    def _press(self, which: int) -> None:
        judge = getattr(self.evaluation, "judge", None)
        if judge is not None and hasattr(judge, "press"):
            judge.press(judge.keys[which])

    def _done(self, value: Any) -> None:
        result, path, history = value
        self._set_running(False)
        self.show_result(result, history)
        self.message.emit(f"Evaluation saved: {path}", "info")

    def _failed(self, text: str) -> None:
        self._set_running(False)
        self.message.emit(text, "error")

    def show_result(self, result: Any, history: list[dict[str, Any]]) -> None:
        rows = result.summary()
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            vs = row.get("vs_first")
            cells = [
                row["arm"],
                f"{row['successes']}/{row['trials']}",
                f"{row['rate']:.0%} [{row['ci_low']:.0%}–{row['ci_high']:.0%}]",
                f"{vs['verdict']} (p={vs['p_value']:.2g})" if vs else "reference",
            ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(i, j, item)
        self.status.setText(result.headline())
        self.show_history(history, result.task or result.instruction)

    def show_history(self, history: list[dict[str, Any]], task: str) -> None:
        image = history_image([r for r in history if r.get("task") == task], f"{task}: success per round")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        pixmap = QPixmap()
        pixmap.loadFromData(buffer.getvalue(), "PNG")
        self.plot.setPixmap(
            pixmap.scaled(
                max(160, self.plot.width()),
                max(90, self.plot.height()),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def _set_running(self, running: bool) -> None:
        changed = running != self.is_running
        self.is_running = running
        if changed:
            self.running.emit(running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        person = running and getattr(getattr(self.evaluation, "judge", None), "who", "") == "person"
        for b in (self.success_button, self.failure_button, self.ready_button):
            b.setVisible(person)

    def shutdown(self) -> None:
        self.cancel()


def _default_out(settings: Any) -> Path:
    return evaluations_root(settings)
