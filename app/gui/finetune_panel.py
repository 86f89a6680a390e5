"""Fine-tune from recordings and watch it learn; the adapter it writes then appears on the Adapters tab.

A thin view: ``app.finetune_job`` runs and parses the training child process, whose events arrive on
a reader thread and cross to the GUI thread through this panel's private signal. The settings sit on
the left, the run (buttons, progress, curves) on the right, so the whole panel fits beside the game
on a 1366×768 screen without scrolling.

"Settings" offers the trainer's named presets (``model.finetune.config.PRESETS``): "Quick (tiny demo
model)" fills the fields with what lets the tiny model learn from a minute of play; "Defaults" puts
the real defaults back. The held-out curve is the right kind of action, balanced over kinds (an
adapter that always gives one answer scores 1/K), and whatever the held-out figures say did not
work (always waiting, one answer whatever it sees) is said in words under the curves.

Every Start writes a new adapter folder named by time and base (``finetune_runs``), so a finished
adapter is never overwritten; Resume is offered only for a run that stopped before its adapter was
saved. Evaluation trials (episodes the Evaluate tab recorded) are left out unless chosen. A curve
without points says why (no held-out episode, nothing measured yet). The time left is a steady
average over the run, not the trainer's last-steps estimate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.finetune_job import FinetuneJob, FinetuneRequest, FinetuneState, can_resume
from app.gui import finetune_runs
from app.gui.curve import Curve
from app.gui.episodes_panel import ask_yes_no
from app.gui.workers import while_alive
from app.session import Session
from app.settings import default_episodes_dir
from model.finetune.config import DEFAULTS, PRESETS, setting_help, with_preset
from model.spec import ModelSpec, ModelSpecError

PROGRESS_MAX = 1000
# the trainer's presets as the picker names them ("" : the trainer's defaults)
PRESET_LABELS = {"": "Defaults", "quick": "Quick (tiny demo model)"}


def choose_folder(parent: QWidget, title: str) -> str | None:
    folder = QFileDialog.getExistingDirectory(parent, title)
    return folder or None


class FinetunePanel(QWidget):
    message = pyqtSignal(str, str)  # (text, level) for the window's banner
    trained = pyqtSignal(str)  # a finished adapter's folder, for the Adapters tab
    _state = pyqtSignal(object)  # FinetuneState, from the job's reader thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.job: FinetuneJob | None = None
        self.state = FinetuneState()
        # flags the form does not show (batch size, evaluation, device); tests shrink them
        self.template = FinetuneRequest(model="", episodes=[], out="")
        self.pick_folder: Callable[[QWidget, str], str | None] = choose_folder  # replaced in tests
        self.confirm: Callable[[QWidget, str], bool] = ask_yes_no

        # training
        self.preset = QComboBox()
        for name in ("", *PRESETS):
            self.preset.addItem(PRESET_LABELS.get(name, name), name)
        self.preset.setToolTip(setting_help("preset"))
        self.episodes = QListWidget()
        self.episodes.setMaximumHeight(56)
        self.episodes.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.episodes.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a folder's end says most
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
        self.agent_play = QCheckBox("train on it too")  # where you took over: what the agent did between
        self.agent_play.setChecked(self.template.agent_play == "keep")
        self.agent_play.setToolTip(setting_help("agent_play"))
        self.evaluation_trials = QCheckBox("train on them too")
        self.evaluation_trials.setChecked(self.template.evaluation_trials)
        self.evaluation_trials.setToolTip(setting_help("evaluation_trials"))
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
        self.accuracy_curve = Curve("held-out: right kind of action", "#2e7d32", (0.0, 1.0), percent=True)
        self.accuracy_curve.setToolTip(
            "On held-out ticks: did the adapter take the kind of action the person took (which buttons, "
            "which way the camera turns), averaged kind by kind: one answer whatever it sees scores 1/K"
        )
        self.warnings = QLabel()
        self.warnings.setObjectName("heldOutWarnings")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color:#b71c1c; font-weight:bold;")
        self.warnings.hide()

        self._layout()
        self.add_episodes.clicked.connect(self._add_episodes)
        self.remove_episodes.clicked.connect(lambda: self.episodes.takeItem(self.episodes.currentRow()))
        self.out_button.clicked.connect(lambda: self._pick_into(self.out, "Adapter output folder"))
        self.out.textChanged.connect(lambda _t: self._enable())
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.preset.currentIndexChanged.connect(lambda _i: self.use_preset(str(self.preset.currentData())))
        self._state.connect(self._show)
        self._enable()
        self._show_missing(self.state)

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Settings", self.preset)
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
        form.addRow("Agent's own play", self.agent_play)
        form.addRow("Evaluation trials", self.evaluation_trials)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(self.out_button)
        form.addRow("Adapter folder", out_row)
        settings = QVBoxLayout()
        settings.addLayout(form)
        settings.addStretch(1)  # on a tall screen the rows stay together at the top
        settings_box = QGroupBox("Train on recordings")
        settings_box.setLayout(settings)

        run = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            run.addWidget(b)
        progress = QVBoxLayout()
        progress.addLayout(run)
        progress.addWidget(self.progress)
        progress.addWidget(self.eta)
        progress.addWidget(self.loss_curve, 1)
        progress.addWidget(self.accuracy_curve, 1)
        progress.addWidget(self.warnings)
        run_box = QGroupBox("Run")
        run_box.setLayout(progress)

        row = QHBoxLayout(self)
        row.addWidget(settings_box, 3)
        row.addWidget(run_box, 2)

    # ----- wiring -----------------------------------------------------------------------------
    def attach(self, session: Session, episodes_root: Path | None = None) -> None:
        """Use ``session``'s model (when local) as the default base and its recordings as the episodes."""
        self.session = session
        spec = session.model_spec or session.settings.model
        if not self.model.text() and not _is_server(spec):
            self.model.setText(spec)
        root = Path(episodes_root or session.settings.episodes_dir or default_episodes_dir()).expanduser()
        if self.episodes.count() == 0:
            self._add_folder(str(root))
        if not self.out.text():
            base = self.model.text() or "model"
            self.out.setText(str(finetune_runs.fresh_out(root.parent / "adapters", base)))

    def use_preset(self, name: str) -> None:
        """Fill the fields (and the flags the form does not show) from the named preset; "" puts the
        trainer's defaults back wherever any preset would change them."""
        touched = {key for values in PRESETS.values() for key in values}
        plain = dataclasses.replace(self.template, **{k: getattr(DEFAULTS, k) for k in touched}, preset="")
        self.template = with_preset(plain, name) if name else plain
        self.steps.setValue(self.template.steps)
        self.lora_r.setValue(self.template.lora_r)
        self.correction_weight.setValue(self.template.correction_weight)
        if self.preset.currentData() != name:
            self.preset.setCurrentIndex(max(0, self.preset.findData(name)))

    def request(self) -> FinetuneRequest:
        request = dataclasses.replace(
            self.template,
            model=self.model.text().strip(),
            episodes=[self.episodes.item(i).text() for i in range(self.episodes.count())],  # type: ignore[union-attr]
            out=self.out.text().strip(),
            steps=self.steps.value(),
            lora_r=self.lora_r.value(),
            correction_weight=self.correction_weight.value(),
            failed_episodes=str(self.failed_episodes.currentData()),
            agent_play="keep" if self.agent_play.isChecked() else "drop",
            evaluation_trials=self.evaluation_trials.isChecked(),
        )
        # the preset's name stays only while its values do: a field changed after choosing it is the
        # person's own setting (and ``--preset`` would otherwise override a value put back to a default)
        chosen = PRESETS.get(request.preset, {})
        if any(getattr(request, key) != value for key, value in chosen.items()):
            request = dataclasses.replace(request, preset="")
        return request

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
        self.warnings.setText(warnings_text(state.warnings))
        self.warnings.setVisible(bool(state.warnings))
        self._show_missing(state)
        if state.status != before:
            if state.status == "done":
                self.trained.emit(state.out)
                self.message.emit(*done_message(state))
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

    def _show_missing(self, state: FinetuneState) -> None:
        """Curves without points say why."""
        if state.status == "idle":
            why = "measured while a run trains"
        elif state.valid_episodes is not None:
            why = (
                finetune_runs.held_out_missing(
                    state.train_episodes or 0, state.valid_episodes, state.valid_samples
                )
                or "measured at the run's first evaluation"
            )
        else:
            why = "measured at the run's first evaluation"
        self.accuracy_curve.set_missing(why.removeprefix("no held-out figure: "))
        running = state.status != "idle"
        self.loss_curve.set_missing("measured at each step" if running else "measured while a run trains")

    def _pick_into(self, edit: QLineEdit, title: str) -> None:
        folder = self.pick_folder(self, title)
        if folder:
            edit.setText(folder)

    def _add_episodes(self) -> None:
        folder = self.pick_folder(self, "Folder of episodes")
        if folder:
            self._add_folder(folder)

    def _add_folder(self, folder: str) -> None:
        self.episodes.addItem(folder)
        item = self.episodes.item(self.episodes.count() - 1)
        if item is not None:
            item.setToolTip(folder)

    def shutdown(self) -> None:
        """The window closes: a running fine-tune saves a checkpoint and stops (Resume later)."""
        if self.job is not None and self.job.running:
            self.job.cancel()


def warnings_text(warnings: list[str]) -> str:
    """The held-out figures' warnings as the panel says them."""
    return "\n".join(f"Held-out warning: {w[:1].upper()}{w[1:]}." for w in warnings)


def done_message(state: FinetuneState) -> tuple[str, str]:
    """(text, level) for a finished run: where the adapter is and what its held-out figures say."""
    name = Path(state.out).name
    figure = (
        f" Held-out: the right kind of action on {state.accuracy[-1][1]:.0%} of ticks (balanced over kinds)."
        if state.accuracy
        else ""
    )
    where = (
        " The Adapters tab lists it: Use tries it in the running model; Compare and Evaluate in play "
        "measure it."
    )
    if state.warnings:
        return (
            f"Fine-tune done: adapter {name}, but its held-out figures warn: {state.warnings[0]}.{where}",
            "note",
        )
    return f"Fine-tune done: adapter {name}.{figure}{where}", "info"


def _is_server(spec: str) -> bool:
    try:
        return ModelSpec.parse(spec).remote
    except ModelSpecError:
        return False
