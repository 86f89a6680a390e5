"""The adapters the app trained, in one list: when, on what base, how many steps, the held-out figure
(the right kind of action, balanced over kinds, as the fine-tune reported it; the selected adapter's
figure and its warnings are said in words under the list) and how each did in play; use one in the
running model, go back to the base, evaluate or compare it.

A thin view over ``finetune_runs.trained_adapters`` (the app's adapters folder and the evaluations'
history) and ``Session.set_adapter`` (swaps load weights, so they run as background jobs; the agent
keeps playing). After a swap the panel says ``adapter_changed`` and the window refreshes every place
that names the active adapter. While an evaluation runs the panel is ``blind``: it neither says which
adapter plays nor swaps one (the evaluation swaps them itself, hidden). The comparison with the base
on held-out episodes is a child process, as on the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QColor, QFont
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.eval.results import read_history
from app.finetune_job import ChildRun, comparison_rows, run_compare
from app.gui import finetune_runs
from app.gui.elided import ElidedLabel
from app.gui.panel_jobs import run_job
from app.gui.workers import while_alive
from app.session import Session
from model import adapters

COLUMNS = ["Trained", "Base", "Steps", "Held-out", "In play"]


def choose_folder(parent: QWidget, title: str, start: str = "") -> str | None:
    folder = QFileDialog.getExistingDirectory(parent, title, start)
    return folder or None


def _interval(ci: tuple[float, float]) -> str:
    return f"{ci[0]:.0%}–{ci[1]:.0%}"


class AdaptersPanel(QWidget):
    message = pyqtSignal(str, str)  # (text, level) for the window's banner
    evaluate_requested = pyqtSignal(str)  # an adapter folder, for the Evaluate tab
    adapter_changed = pyqtSignal()  # a swap finished (or failed): every place naming it refreshes
    _compared = pyqtSignal(object)  # the --compare result dict
    _compare_failed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.root: Path | None = None  # the app's adapters folder
        self.evaluations: Path | None = None  # the evaluations' folder (their history)
        self.rows: list[finetune_runs.TrainedAdapter] = []
        self.blind = False
        self.base_model = ""  # the base for Compare (the fine-tune tab's base model)
        self.compare_run: ChildRun | None = None
        self.eval_samples = 64
        self.device: str | None = None
        self.pick_folder: Callable[[QWidget, str, str], str | None] = choose_folder  # replaced in tests
        self.jobs: list[Any] = []
        self.swapping = False

        self.active = ElidedLabel()
        self.active.setObjectName("activeAdapter")
        self.list = QTableWidget(0, len(COLUMNS))
        self.list.setHorizontalHeaderLabels(COLUMNS)
        self.list.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setMinimumHeight(110)
        header = self.list.horizontalHeader()
        assert header is not None
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.figures = QLabel()
        self.figures.setObjectName("heldOutFigures")
        self.figures.setWordWrap(True)
        self.empty = QLabel("No adapter trained yet: record episodes, then train one on the Fine-tune tab.")
        self.empty.setWordWrap(True)
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip("Load the selected adapter into the running model")
        self.base_button = QPushButton("Back to base")
        self.evaluate_button = QPushButton("Evaluate in play")
        self.evaluate_button.setToolTip("Fill in the Evaluate tab for the selected adapter")
        self.compare_button = QPushButton("Compare with base")
        self.compare_button.setToolTip("Action accuracy of base and adapter on held-out episodes")
        self.other_button = QPushButton("Other folder…")
        self.other_button.setToolTip("Use an adapter from another folder")
        self.swap_note = QLabel()
        self.swap_note.setWordWrap(True)
        self.swap_note.setStyleSheet("color:#5d4037;")
        self.held_out = QLineEdit()
        self.held_out.setPlaceholderText("held-out episodes folder (empty: the ones its run held out)")
        self.held_out_button = QPushButton("…")
        self.compare_status = ElidedLabel()
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Did what you did", "Base", "Adapter", "Change"])
        self.table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        compare_header = self.table.horizontalHeader()
        assert compare_header is not None
        compare_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            compare_header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(90)
        self.table.setToolTip(
            "How often base and adapter did what you did on held-out ticks, with the 95% interval in "
            "brackets; each row is counted on its own ticks (hover its name)"
        )

        buttons = QHBoxLayout()
        for b in (self.use_button, self.base_button, self.evaluate_button, self.compare_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.other_button)
        held = QHBoxLayout()
        held.addWidget(self.held_out, 1)
        held.addWidget(self.held_out_button)
        compare = QVBoxLayout()
        compare.addLayout(held)
        compare.addWidget(self.compare_status)
        compare.addWidget(self.table, 1)
        compare_box = QGroupBox("Compare with the base on held-out episodes")
        compare_box.setLayout(compare)
        col = QVBoxLayout(self)
        col.addWidget(self.active)
        col.addWidget(self.list, 3)
        col.addWidget(self.figures)
        col.addWidget(self.empty)
        col.addLayout(buttons)
        col.addWidget(self.swap_note)
        col.addWidget(compare_box, 2)

        self.list.itemSelectionChanged.connect(self._enable)
        self.list.itemSelectionChanged.connect(self._show_figures)
        self.list.itemDoubleClicked.connect(lambda _item: self.use_selected())
        self.use_button.clicked.connect(self.use_selected)
        self.base_button.clicked.connect(lambda: self.swap(None))
        self.evaluate_button.clicked.connect(lambda: self._emit_selected(self.evaluate_requested.emit))
        self.compare_button.clicked.connect(self.compare)
        self.other_button.clicked.connect(self.use_other)
        self.held_out_button.clicked.connect(self._pick_held_out)
        self._compared.connect(self._show_comparison)
        self._compare_failed.connect(self._comparison_failed)
        self.refresh()

    # ----- wiring -----------------------------------------------------------------------------
    def attach(self, session: Session, root: Path, evaluations: Path) -> None:
        self.session, self.root, self.evaluations = session, Path(root), Path(evaluations)
        self.refresh()

    def refresh(self) -> None:
        """Read the adapters folder again, keeping the selection; say which adapter is active."""
        chosen = self.selected
        history = read_history(self.evaluations) if self.evaluations is not None else []
        self.rows = finetune_runs.trained_adapters(self.root, history) if self.root is not None else []
        self.list.setRowCount(len(self.rows))
        active = self._active()
        for i, row in enumerate(self.rows):
            steps = "" if row.steps is None else str(row.steps)
            cells = [
                (row.trained, str(row.folder)),
                (row.base, row.base),
                (steps, "optimizer steps the run made"),
                (row.held_out, row.held_out_why),
                (row.evaluation, row.evaluation),
            ]
            for j, (text, tip) in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if active is not None and Path(active) == row.folder:
                    font = QFont()
                    font.setBold(True)
                    item.setFont(font)
                self.list.setItem(i, j, item)
        self.list.setVisible(bool(self.rows))
        self.empty.setVisible(not self.rows)
        if chosen is not None and chosen in [r.folder for r in self.rows]:
            self.list.selectRow([r.folder for r in self.rows].index(chosen))
        elif self.rows:
            self.list.selectRow(0)
        self._show_figures()
        self._show_active()
        self._enable()

    @property
    def selected(self) -> Path | None:
        rows = {index.row() for index in self.list.selectedIndexes()}
        return self.rows[min(rows)].folder if rows and min(rows) < len(self.rows) else None

    def select(self, folder: str | Path) -> None:
        folders = [r.folder for r in self.rows]
        if Path(folder) in folders:
            self.list.selectRow(folders.index(Path(folder)))

    def _show_figures(self) -> None:
        """The selected adapter's held-out headline and its warnings, in words."""
        row = next((r for r in self.rows if r.folder == self.selected), None)
        if row is None:
            self.figures.hide()
            return
        self.figures.setText(
            f"{row.name}: {row.held_out_headline}" + "".join(f"\nWarning: {w}." for w in row.warnings)
        )
        self.figures.setStyleSheet("color:#b71c1c; font-weight:bold;" if row.warnings else "")
        self.figures.show()

    def set_blind(self, blind: bool) -> None:
        """An evaluation runs (True): say nothing of the adapter in play and swap nothing."""
        self.blind = blind
        self._show_active()
        self._enable()

    # ----- swaps ------------------------------------------------------------------------------
    def use_selected(self) -> None:
        folder = self.selected
        if folder is not None:
            self.swap(str(folder))

    def use_other(self) -> None:
        folder = self.pick_folder(self, "Adapter folder", str(self.root or ""))
        if folder:
            self.swap(folder)

    def swap(self, folder: str | None) -> None:
        session = self.session
        if session is None or self.blind:
            return
        self.swapping = True
        self._enable()
        doing = "go back to the base model" if folder is None else f"use the adapter {folder}"

        def done(active: object) -> None:
            self.swapping = False
            self.refresh()
            self.adapter_changed.emit()
            self.message.emit(
                f"The model now runs with adapter {Path(str(active)).name}."
                if active
                else "The model now runs without an adapter (the base).",
                "info",
            )

        def failed(text: str) -> None:
            self.swapping = False
            self.refresh()
            self.adapter_changed.emit()
            self.message.emit(text, "error")

        run_job(self, lambda: session.set_adapter(folder), doing, done, failed, self.jobs)

    def _active(self) -> str | None:
        return self.session.adapter if self.session is not None else None

    def _show_active(self) -> None:
        if self.blind:
            self.active.setText("Active: hidden while an evaluation runs (the arms are blind)")
            return
        active = self._active()
        self.active.setText(
            f"Active: {Path(active).name}" if active else "Active: the base model (no adapter)"
        )
        self.active.set_tip(active or "")

    def _enable(self) -> None:
        session = self.session
        problem = adapters.swap_problem(session.policy, session.model_spec) if session is not None else None
        if session is None:
            problem = "Load a model to use an adapter."
        self.swap_note.setText(problem or "")
        self.swap_note.setVisible(bool(problem))
        can = problem is None and not self.blind and not self.swapping
        chosen = self.selected
        self.use_button.setEnabled(can and chosen is not None)
        self.base_button.setEnabled(can and self._active() is not None)
        self.other_button.setEnabled(can)
        self.evaluate_button.setEnabled(chosen is not None)
        self.compare_button.setEnabled(chosen is not None and self.compare_run is None)

    def _emit_selected(self, emit: Callable[[str], None]) -> None:
        folder = self.selected
        if folder is not None:
            emit(str(folder))

    # ----- comparison -------------------------------------------------------------------------
    def compare(self) -> None:
        adapter = str(self.selected or "")
        held, model = self.held_out.text().strip(), self.base_model.strip()
        episodes = [held] if held else [str(p) for p in finetune_runs.held_out(adapter)] if adapter else []
        if not adapter or not episodes or not model:
            self.message.emit(
                "Compare needs the base model (Fine-tune tab), an adapter and held-out episodes (ones "
                "the adapter was not trained on): its run kept none aside, so choose a folder of "
                "other episodes.",
                "error",
            )
            return
        seen = finetune_runs.trained_on(adapter, episodes)
        if seen:
            self.message.emit(
                f"Warning: the adapter was trained on {len(seen)} of these episodes "
                f"({', '.join(seen[:3])}{'…' if len(seen) > 3 else ''}): the comparison will "
                "flatter it. Choose episodes it never saw, or leave the held-out field empty "
                "to use its run's own held-out episodes.",
                "error",
            )
        source = held if held else f"the {len(episodes)} episodes its run held out"
        self.compare_status.setText(f"Evaluating base and adapter on {source}…")
        self.compare_run = run_compare(
            model,
            adapter,
            episodes,
            while_alive(self, "_compared"),
            while_alive(self, "_compare_failed"),
            samples=self.eval_samples,
            device=self.device,
        )
        self._enable()

    def _show_comparison(self, result: dict[str, Any]) -> None:
        self.compare_run = None
        rows = comparison_rows(result)
        self.table.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for i, row in enumerate(rows):
            overlap = row.adapter_ci[0] <= row.base_ci[1] and row.base_ci[0] <= row.adapter_ci[1]
            verdict = "≈ may be chance" if overlap else ("better" if row.delta > 0 else "worse")
            cells = (
                f"{row.group} ({row.ticks})" if row.ticks else row.group,
                f"{row.base:.0%}  ({_interval(row.base_ci)})",
                f"{row.adapter:.0%}  ({_interval(row.adapter_ci)})",
                f"{row.delta:+.0%}  {verdict}",
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(row.meaning if j == 0 and row.meaning else text)
                if j == 3:
                    item.setFont(bold)
                    color = "#616161" if overlap else "#2e7d32" if row.delta > 0 else "#c62828"
                    item.setForeground(QColor(color))
                self.table.setItem(i, j, item)
        self.compare_status.setText(
            f"On {result.get('samples', '?')} held-out ticks ({result.get('scored', 'every kept tick')}); "
            "overlapping intervals "
            "mean the difference may be chance."
        )
        self._enable()

    def _comparison_failed(self, text: str) -> None:
        self.compare_run = None
        self.compare_status.setText("")
        self.message.emit(text, "error")
        self._enable()

    def _pick_held_out(self) -> None:
        folder = self.pick_folder(self, "Held-out episodes", "")
        if folder:
            self.held_out.setText(folder)

    def shutdown(self) -> None:
        if self.compare_run is not None:
            self.compare_run.signal(15)
