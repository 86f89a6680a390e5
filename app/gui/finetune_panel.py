"""Fine-tune from recordings, watch it learn, then try the adapter live and compare it with the base.

A thin view: ``app.finetune_job`` runs and parses the training child process, ``model.adapters``
(through ``Session.set_adapter``) swaps adapters into the running model, and the comparison is one
more child. Child events arrive on reader threads and cross to the GUI thread through this panel's
private signals. Swaps load weights, so they run as background jobs; the agent keeps playing and
picks up the adapter on its next action.

Every Start writes a new adapter folder named by time and base (``finetune_runs``), so a finished
adapter is never overwritten; Resume is offered only for a run that stopped before its adapter was
saved. Compare finds the held-out episodes of the adapter's own run (split by episode) when none
are given, and warns when pointed at episodes the adapter was trained on. The time left is a steady
average over the run, not the trainer's last-steps estimate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QColor, QFont
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.finetune_job import (
    ChildRun,
    FinetuneJob,
    FinetuneRequest,
    FinetuneState,
    can_resume,
    comparison_rows,
    run_compare,
)
from app.gui import finetune_runs
from app.gui.curve import Curve
from app.gui.episodes_panel import ask_yes_no
from app.gui.panel_jobs import run_job
from app.gui.workers import while_alive
from app.session import Session
from app.settings import default_episodes_dir
from model import adapters
from model.finetune.config import setting_help

PROGRESS_MAX = 1000


def choose_folder(parent: QWidget, title: str) -> str | None:
    folder = QFileDialog.getExistingDirectory(parent, title)
    return folder or None


def _interval(ci: tuple[float, float]) -> str:
    return f"{ci[0]:.0%}–{ci[1]:.0%}"


class FinetunePanel(QWidget):
    message = pyqtSignal(str, str)  # (text, level) for the window's banner
    evaluate_requested = pyqtSignal(str)  # an adapter folder, for the Evaluate panel
    _state = pyqtSignal(object)  # FinetuneState, from the job's reader thread
    _compared = pyqtSignal(object)  # the --compare result dict
    _compare_failed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.job: FinetuneJob | None = None
        self.compare_run: ChildRun | None = None
        self.state = FinetuneState()
        # flags the form does not show (batch size, evaluation, device); tests shrink them
        self.template = FinetuneRequest(model="", episodes=[], out="")
        self.pick_folder: Callable[[QWidget, str], str | None] = choose_folder  # replaced in tests
        self.confirm: Callable[[QWidget, str], bool] = ask_yes_no
        self.jobs: list[Any] = []

        # training
        self.episodes = QListWidget()
        self.episodes.setMaximumHeight(70)
        self.add_episodes = QPushButton("Add folder…")
        self.remove_episodes = QPushButton("Remove")
        self.model = QLineEdit()
        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setSpecialValueText("one pass over the data")
        self.steps.setValue(self.template.steps)
        self.lora_r = QSpinBox()
        self.lora_r.setRange(1, 512)
        self.lora_r.setValue(self.template.lora_r)  # the trainer's defaults (model.finetune.config)
        self.lora_r.setToolTip(setting_help("lora_r"))
        self.correction_weight = QSpinBox()
        self.correction_weight.setRange(1, 50)
        self.correction_weight.setValue(self.template.correction_weight)
        self.correction_weight.setToolTip(setting_help("correction_weight"))
        self.failed_episodes = QComboBox()
        for value, label in (
            ("exclude", "left out"),
            ("downweight", "only their corrections"),
            ("keep", "used like any other"),
        ):
            self.failed_episodes.addItem(label, value)
        chosen = self.failed_episodes.findData(self.template.failed_episodes)
        self.failed_episodes.setCurrentIndex(max(0, chosen))
        self.failed_episodes.setToolTip(setting_help("failed_episodes"))
        self.steady_eta = finetune_runs.SteadyEta()
        self.out = QLineEdit()
        self.out_button = QPushButton("…")
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_MAX)
        self.eta = QLabel()
        self.eta.setWordWrap(True)
        self.loss_curve = Curve("training loss", "#1565c0")
        self.accuracy_curve = Curve("validation action accuracy", "#2e7d32", (0.0, 1.0), percent=True)
        # adapter
        self.active = QLabel()
        self.active.setWordWrap(True)
        self.use_button = QPushButton("Use adapter…")
        self.base_button = QPushButton("Back to base")
        self.evaluate_button = QPushButton("Evaluate this adapter")
        self.swap_note = QLabel()
        self.swap_note.setWordWrap(True)
        self.swap_note.setStyleSheet("color:#5d4037;")
        # comparison
        self.compare_adapter = QLineEdit()
        self.compare_adapter.setPlaceholderText("adapter folder")
        self.held_out = QLineEdit()
        self.held_out.setPlaceholderText("held-out episodes folder (not trained on)")
        self.held_out_button = QPushButton("…")
        self.compare_button = QPushButton("Compare…")
        self.compare_status = QLabel()
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Tasks", "Base", "Adapter", "Change"])
        self.table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        header = self.table.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(120)
        self.table.setToolTip("Action accuracy on held-out ticks, with the 95% interval in brackets")

        self._layout()
        self.add_episodes.clicked.connect(self._add_episodes)
        self.remove_episodes.clicked.connect(lambda: self.episodes.takeItem(self.episodes.currentRow()))
        self.out_button.clicked.connect(lambda: self._pick_into(self.out, "Adapter output folder"))
        self.held_out_button.clicked.connect(lambda: self._pick_into(self.held_out, "Held-out episodes"))
        self.out.textChanged.connect(lambda _t: self._enable())
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.use_button.clicked.connect(self.use_adapter)
        self.base_button.clicked.connect(lambda: self.swap(None))
        self.evaluate_button.clicked.connect(  # the active adapter, else the one this panel trains
            lambda: self.evaluate_requested.emit(
                (self.session and self.session.adapter) or self.out.text().strip()
            )
        )
        self.compare_button.clicked.connect(self.compare)
        self._state.connect(self._show)
        self._compared.connect(self._show_comparison)
        self._compare_failed.connect(self._comparison_failed)
        self._enable()
        self.refresh_adapter()

    def _layout(self) -> None:
        form = QFormLayout()
        picks = QHBoxLayout()
        picks.addWidget(self.episodes, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.add_episodes)
        buttons.addWidget(self.remove_episodes)
        picks.addLayout(buttons)
        form.addRow("Episodes", picks)
        form.addRow("Base model", self.model)
        form.addRow("Steps", self.steps)
        form.addRow("LoRA r", self.lora_r)
        form.addRow("Correction weight", self.correction_weight)
        form.addRow("Failed episodes", self.failed_episodes)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(self.out_button)
        form.addRow("Adapter folder", out_row)
        run = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            run.addWidget(b)
        curves = QHBoxLayout()
        curves.addWidget(self.loss_curve)
        curves.addWidget(self.accuracy_curve)
        train = QVBoxLayout()
        train.addLayout(form)
        train.addLayout(run)
        train.addWidget(self.progress)
        train.addWidget(self.eta)
        train.addLayout(curves)
        train_box = QGroupBox("Fine-tune from recordings")
        train_box.setLayout(train)

        swap_row = QHBoxLayout()
        swap_row.addWidget(self.use_button)
        swap_row.addWidget(self.base_button)
        swap_row.addWidget(self.evaluate_button)
        swap = QVBoxLayout()
        swap.addWidget(self.active)
        swap.addLayout(swap_row)
        swap.addWidget(self.swap_note)
        swap_box = QGroupBox("Adapter in the running model")
        swap_box.setLayout(swap)

        held = QHBoxLayout()
        held.addWidget(self.held_out, 1)
        held.addWidget(self.held_out_button)
        compare = QVBoxLayout()
        compare.addWidget(self.compare_adapter)
        compare.addLayout(held)
        compare.addWidget(self.compare_button)
        compare.addWidget(self.compare_status)
        compare.addWidget(self.table, 1)
        compare_box = QGroupBox("Compare adapter and base on held-out episodes")
        compare_box.setLayout(compare)

        col = QVBoxLayout(self)
        col.addWidget(train_box)
        col.addWidget(swap_box)
        col.addWidget(compare_box, 1)

    # ----- wiring -----------------------------------------------------------------------------
    def attach(self, session: Session, episodes_root: Path | None = None) -> None:
        """Use ``session`` for swaps and its model (when local) as the default base."""
        self.session = session
        spec = session.model_spec or session.settings.model
        if not self.model.text() and not _is_server(spec):
            self.model.setText(spec)
        root = Path(episodes_root or session.settings.episodes_dir or default_episodes_dir()).expanduser()
        if self.episodes.count() == 0:
            self.episodes.addItem(str(root))
        if not self.out.text():
            base = self.model.text() or "model"
            self.out.setText(str(finetune_runs.fresh_out(root.parent / "adapters", base)))
        self.refresh_adapter()

    def request(self) -> FinetuneRequest:
        return dataclasses.replace(
            self.template,
            model=self.model.text().strip(),
            episodes=[self.episodes.item(i).text() for i in range(self.episodes.count())],  # type: ignore[union-attr]
            out=self.out.text().strip(),
            steps=self.steps.value(),
            lora_r=self.lora_r.value(),
            correction_weight=self.correction_weight.value(),
            failed_episodes=str(self.failed_episodes.currentData()),
        )

    # ----- training ---------------------------------------------------------------------------
    def start(self) -> None:
        self._launch(resume=False)

    def resume(self) -> None:
        self._launch(resume=True)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _launch(self, resume: bool) -> None:
        request = self.request()
        problem = self._check(request)
        if problem:
            self.message.emit(problem, "error")
            return
        if resume and not finetune_runs.unfinished(request.out):
            what = "a finished adapter" if finetune_runs.finished(request.out) else "no checkpoint"
            self.message.emit(
                f"Nothing to resume: {request.out} holds {what}. Start begins a new run.", "note"
            )
            self._enable()
            return
        if not resume and finetune_runs.in_use(request.out):
            what = "a finished adapter" if finetune_runs.finished(request.out) else "an earlier run"
            fresh = finetune_runs.fresh_out(Path(request.out).parent, request.model)
            self.out.setText(str(fresh))
            request = dataclasses.replace(request, out=str(fresh))
            self.message.emit(
                f"The adapter folder held {what}, left as it is; this run writes to {fresh}.", "info"
            )
        self.steady_eta.reset()
        same = self.job is not None and self.job.request == request
        job = self.job if resume and same and self.job is not None else FinetuneJob(request)
        if job is not self.job:
            job.listeners.append(while_alive(self, "_state"))
            self.job = job
        try:
            job.start(resume=resume)  # never overwrite: a new run got a fresh folder above
        except (OSError, RuntimeError) as exc:
            self.message.emit(f"Could not start the fine-tune: {exc}.", "error")

    def _check(self, request: FinetuneRequest) -> str | None:
        if not request.episodes:
            return "Add at least one folder of episodes to train on."
        if not request.out:
            return "Choose a folder for the adapter."
        if not request.model or _is_server(request.model):
            return (
                "Fine-tuning needs the model's weights on this machine: put a checkpoint folder, "
                "an HF id or 'tiny' as the base model (not a server URL)."
            )
        return None

    def _show(self, state: FinetuneState) -> None:
        before, self.state = self.state.status, state
        self.progress.setValue(int(state.fraction * PROGRESS_MAX))
        self.eta.setText(self._eta_text(state))
        self.loss_curve.set_points([(float(s), v) for s, v in state.loss])
        self.accuracy_curve.set_points([(float(s), v) for s, v in state.accuracy])
        if state.status != before:
            if state.status == "done":
                self.compare_adapter.setText(state.out)
                self.message.emit(
                    f"Fine-tune done: adapter written to {state.out}. Use adapter… tries "
                    "it in the running model; Compare… measures it.",
                    "info",
                )
            elif state.status == "cancelled":
                self.message.emit(
                    f"Fine-tune cancelled at step {state.step}; Resume continues from the checkpoint.", "note"
                )
            elif state.status == "failed":
                self.message.emit(state.message, "error")
        self._enable()

    def _eta_text(self, state: FinetuneState) -> str:
        if state.status != "running" or not state.steps:
            return state.eta_text()
        left = self.steady_eta.update(state.step, state.steps)
        return f"step {state.step}/{state.steps}, {finetune_runs.SteadyEta.text(left)}"

    def _enable(self) -> None:
        running = self.job is not None and not self.state.finished and self.state.status != "idle"
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and self.state.status != "cancelling")
        out = self.out.text().strip()
        self.resume_button.setEnabled(
            not running and bool(out) and can_resume(out) and finetune_runs.unfinished(out)
        )
        self.compare_button.setEnabled(self.compare_run is None)

    # ----- adapters ---------------------------------------------------------------------------
    def refresh_adapter(self) -> None:
        """Say which adapter the running model uses, and why swapping is off when it is."""
        session = self.session
        problem = (
            adapters.swap_problem(session.policy, session.model_spec)
            if session is not None
            else "No session."
        )
        active = session.adapter if session is not None else None
        self.active.setText(f"Active: adapter {active}" if active else "Active: the base model")
        self.swap_note.setText(problem or "")
        self.swap_note.setVisible(bool(problem))
        self.use_button.setEnabled(problem is None)
        self.base_button.setEnabled(problem is None and active is not None)

    def use_adapter(self) -> None:
        folder = self.pick_folder(self, "Adapter folder")
        if folder:
            self.swap(folder)

    def swap(self, folder: str | None) -> None:
        session = self.session
        if session is None:
            return
        self.use_button.setEnabled(False)
        self.base_button.setEnabled(False)
        doing = "go back to the base model" if folder is None else f"use the adapter {folder}"

        def done(active: object) -> None:
            self.refresh_adapter()
            self.message.emit(
                f"The model now runs with adapter {active}."
                if active
                else "The model now runs without an adapter (the base).",
                "info",
            )

        def failed(text: str) -> None:
            self.refresh_adapter()
            self.message.emit(text, "error")

        run_job(self, lambda: session.set_adapter(folder), doing, done, failed, self.jobs)

    # ----- comparison -------------------------------------------------------------------------
    def compare(self) -> None:
        adapter, held = self.compare_adapter.text().strip(), self.held_out.text().strip()
        model = self.model.text().strip()
        episodes = [held] if held else [str(p) for p in finetune_runs.held_out(adapter)] if adapter else []
        if not adapter or not episodes or not model:
            self.message.emit(
                "Compare needs the base model, an adapter folder and held-out episodes (ones "
                "the adapter was not trained on): its run kept none aside, so choose a "
                "folder of other episodes.",
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
            samples=self.template.eval_samples,
            device=self.template.device,
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
                row.group,
                f"{row.base:.0%}  ({_interval(row.base_ci)})",
                f"{row.adapter:.0%}  ({_interval(row.adapter_ci)})",
                f"{row.delta:+.0%}  {verdict}",
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 3:
                    item.setFont(bold)
                    color = "#616161" if overlap else "#2e7d32" if row.delta > 0 else "#c62828"
                    item.setForeground(QColor(color))
                self.table.setItem(i, j, item)
        self.compare_status.setText(
            f"On {result.get('samples', '?')} held-out ticks; overlapping intervals "
            "mean the difference may be chance."
        )
        self._enable()

    def _comparison_failed(self, text: str) -> None:
        self.compare_run = None
        self.compare_status.setText("")
        self.message.emit(text, "error")
        self._enable()

    def _pick_into(self, edit: QLineEdit, title: str) -> None:
        folder = self.pick_folder(self, title)
        if folder:
            edit.setText(folder)

    def _add_episodes(self) -> None:
        folder = self.pick_folder(self, "Folder of episodes")
        if folder:
            self.episodes.addItem(folder)

    def shutdown(self) -> None:
        """The window closes: a running fine-tune saves a checkpoint and stops (Resume later)."""
        if self.job is not None and self.job.running:
            self.job.cancel()
        if self.compare_run is not None:
            self.compare_run.signal(15)


def _is_server(spec: str) -> bool:
    from model.spec import ModelSpec, ModelSpecError

    try:
        return ModelSpec.parse(spec).remote
    except ModelSpecError:
        return False
