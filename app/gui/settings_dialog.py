"""Edit the settings: loop, model sampling, mouse, key bindings, hotkeys, recording, task file.

Works on a copy and validates key names before OK closes it, so a saved file never holds a binding the
injector cannot press. Defaults are the settings' own; nothing here is needed for a first run.
"""

from __future__ import annotations

import copy

from PyQt6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.settings import Settings
from recorder.input import keymap

BINDABLE = [k for k in keymap.DEFAULT_BINDINGS if k not in ("pickItem", "swapHands", "ESC")]


def _spin(value: float, low: float, high: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setValue(value)
    return box


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings · jarvis-play")
        self.original = settings
        s = settings
        tabs = QTabWidget()
        play = QWidget()
        form = QFormLayout(play)
        self.tick_hz = _spin(s.tick_hz, 1, 60, 1, 1)
        self.temperature = _spin(s.temperature, 0, 2, 0.05)
        self.history_frames = QSpinBox()
        self.history_frames.setRange(0, 8)
        self.history_frames.setValue(s.history_frames)
        self.mouse_sensitivity = _spin(s.mouse_sensitivity, 0.01, 1.0, 0.05)
        self.resume_after = _spin(s.resume_after_s, 0, 60, 0.5, 1)
        self.takeover_quiet_resume = QCheckBox("“Take over” also ends after that quiet time")
        self.takeover_quiet_resume.setChecked(s.takeover_quiet_resume)
        self.takeover_quiet_resume.setToolTip(
            "Off: after Take over you keep control until Hand back or the pause key. The quiet time "
            "always applies when you take over by simply touching the game."
        )
        self.tasks_file = QLineEdit(s.tasks_file)
        self.tasks_file.setPlaceholderText("instructions.json (default: from the checkpoint folder)")
        form.addRow("Tick rate (Hz)", self.tick_hz)
        form.addRow("Sampling temperature", self.temperature)
        form.addRow("History frames", self.history_frames)
        form.addRow("Mouse sensitivity (Minecraft)", self.mouse_sensitivity)
        form.addRow("Agent resumes after (s quiet)", self.resume_after)
        form.addRow(self.takeover_quiet_resume)
        form.addRow("Task file", self.tasks_file)
        tabs.addTab(play, "Play")

        keys = QWidget()
        kform = QFormLayout(keys)
        self.panic_key = QLineEdit(s.panic_key)
        self.pause_key = QLineEdit(s.pause_key)
        self.save_last_key = QLineEdit(s.save_last_key)
        kform.addRow("Panic (stop everything)", self.panic_key)
        kform.addRow("Pause / resume", self.pause_key)
        kform.addRow("Save last 30 s", self.save_last_key)
        bindings = keymap.DEFAULT_BINDINGS | {
            k: keymap.binding_name(v) for k, v in s.key_bindings.items() if k in keymap.DEFAULT_BINDINGS
        }
        self.table = QTableWidget(len(BINDABLE), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Key"])
        for row, env_key in enumerate(BINDABLE):
            item = QTableWidgetItem(env_key)
            item.setFlags(item.flags() & ~item.flags().ItemIsEditable)
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem(bindings[env_key].removeprefix("key.keyboard.")))
        kform.addRow(self.table)
        tabs.addTab(keys, "Keys")

        rec = QWidget()
        rform = QFormLayout(rec)
        self.record = QCheckBox("Record every run")
        self.record.setChecked(s.record)
        self.episodes_dir = QLineEdit(s.episodes_dir)
        self.episodes_dir.setPlaceholderText("default: the user data folder")
        rform.addRow(self.record)
        rform.addRow("Episodes folder", self.episodes_dir)
        tabs.addTab(rec, "Recording")

        self.error = QLabel()
        self.error.setStyleSheet("color:#b71c1c;")
        self.error.setWordWrap(True)
        ok_cancel = QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok_cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addWidget(tabs)
        col.addWidget(
            QLabel(
                "Tick rate and hotkeys apply at the next Start; temperature and history frames "
                "when a model is loaded."
            )
        )
        col.addWidget(self.error)
        col.addWidget(buttons)

    def result_settings(self) -> Settings:
        """The edited settings; raises ValueError with a readable message for a bad key name."""
        s = copy.deepcopy(self.original)
        s.tick_hz = self.tick_hz.value()
        s.temperature = self.temperature.value()
        s.history_frames = self.history_frames.value()
        s.mouse_sensitivity = self.mouse_sensitivity.value()
        s.resume_after_s = self.resume_after.value()
        s.takeover_quiet_resume = self.takeover_quiet_resume.isChecked()
        s.tasks_file = self.tasks_file.text().strip()
        s.record = self.record.isChecked()
        s.episodes_dir = self.episodes_dir.text().strip()
        for name in ("panic_key", "pause_key", "save_last_key"):
            text = getattr(self, name).text().strip()
            keymap.binding_name(text)
            setattr(s, name, text)
        overrides: dict[str, str] = {}
        for row, env_key in enumerate(BINDABLE):
            item = self.table.item(row, 1)
            text = item.text().strip() if item is not None else ""
            name = keymap.binding_name(text)
            if name != keymap.DEFAULT_BINDINGS[env_key]:
                overrides[env_key] = text
        s.key_bindings = overrides
        return s

    def accept(self) -> None:
        try:
            self.result_settings()
        except ValueError as exc:
            self.error.setText(f"{exc}. Fix it or press Cancel.")
            return
        super().accept()
