"""Start, pause, stop, take over, record, save the last seconds; the hotkeys, always in view."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStyle, QWidget

Icon = QStyle.StandardPixmap


class ControlBar(QWidget):
    start_clicked = pyqtSignal()
    pause_clicked = pyqtSignal()
    stop_clicked = pyqtSignal()
    take_over_clicked = pyqtSignal()
    record_toggled = pyqtSignal(bool)
    save_last_clicked = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        style = self.style()
        assert style is not None
        self._icons = {
            name: style.standardIcon(icon)
            for name, icon in (
                ("start", Icon.SP_MediaPlay),
                ("pause", Icon.SP_MediaPause),
                ("stop", Icon.SP_MediaStop),
                ("save", Icon.SP_DialogSaveButton),
            )
        }
        self.start = QPushButton(self._icons["start"], "Start")
        self.pause = QPushButton(self._icons["pause"], "Pause")
        self.stop = QPushButton(self._icons["stop"], "Stop")
        self.take_over = QPushButton("Take over")
        self.take_over.setToolTip("Hand control to you; or simply touch the keyboard or mouse in the game")
        self.record = QPushButton("Record")
        self.record.setStyleSheet("QPushButton:checked { background:#c62828; color:white; }")
        self.record.setCheckable(True)
        self.save_last = QPushButton(self._icons["save"], "Save last 30 s")
        self.rec = QLabel("● REC")  # the Record button says "will record"; this says "recording now"
        self.rec.setObjectName("rec")
        self.rec.setStyleSheet("color:white; background:#c62828; font-weight:bold; padding:2px 6px;")
        self.rec.setToolTip("This run is being recorded as an episode")
        self.rec.hide()
        self.hotkeys = QLabel()
        self.hotkeys.setObjectName("hotkeys")
        self.hotkeys.setStyleSheet("color:#b71c1c; font-weight:bold;")
        for button in (self.start, self.pause, self.stop, self.take_over, self.record, self.save_last):
            row.addWidget(button)
        row.addWidget(self.rec)
        row.addStretch(1)
        row.addWidget(self.hotkeys)
        self.start.clicked.connect(self.start_clicked)
        self.pause.clicked.connect(self.pause_clicked)
        self.stop.clicked.connect(self.stop_clicked)
        self.take_over.clicked.connect(self.take_over_clicked)
        self.record.toggled.connect(self.record_toggled)
        self.save_last.clicked.connect(self.save_last_clicked)
        self.set_state(ready=False, mode="idle")

    def set_hotkeys(self, panic: str, pause: str, save_last: str) -> None:
        self.hotkeys.setText(
            f"Panic: {panic.upper()} stops everything · {pause.upper()} pause · "
            f"{save_last.upper()} save last 30 s"
        )

    def set_state(self, ready: bool, mode: str) -> None:
        """``ready``: a model and a game are loaded. ``mode``: the session's mode."""
        running = mode in ("agent", "human", "paused")
        self.start.setEnabled(ready and not running)
        self.pause.setEnabled(running)
        resume = mode in ("paused", "human")
        self.pause.setText("Resume" if resume else "Pause")
        self.pause.setIcon(self._icons["start" if resume else "pause"])
        self.stop.setEnabled(running)
        self.take_over.setEnabled(mode == "agent")
        self.save_last.setEnabled(running)

    def set_recording_live(self, on: bool) -> None:
        """Show the red REC tag while the current run is being written to disk."""
        self.rec.setVisible(on)
