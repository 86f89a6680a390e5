"""Who is in control and what the agent does; start, pause, stop, take over / hand back, what to record,
save the last seconds.

Three short rows, always in view whichever tab is open: the badge beside the play buttons; the record
buttons; and a slim strip that says in words what the live view's overlay draws (keys held, where
the view turns, why the agent waits), red with "RECORDING" while a run is written to disk. The
badge and the strip never change width with their text (``elided``). While the person holds control
the Pause button stays "Pause" (disabled) and "Hand back" is the way back: the two never both read
"Resume".
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QStyle, QVBoxLayout, QWidget

from app.gui.elided import Badge, ElidedLabel
from app.gui.window_state import Controls, controls_for
from app.runtime.takeover import Mode
from recorder.episodes import RecordMode

Icon = QStyle.StandardPixmap

# Settings.record_mode -> what the picker says
RECORD_MODES = {
    RecordMode.CORRECTIONS: "Agent + my takeovers",
    RecordMode.AGENT: "Agent only",
    RecordMode.TELEOP: "Only me (teleop)",
}


class ControlBar(QWidget):
    start_clicked = pyqtSignal()
    pause_clicked = pyqtSignal()
    stop_clicked = pyqtSignal()
    take_over_clicked = pyqtSignal()
    hand_back_clicked = pyqtSignal()
    record_toggled = pyqtSignal(bool)
    record_mode_changed = pyqtSignal(str)
    save_last_clicked = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.take_over.setToolTip(
            "You play until you press Hand back (or the pause key); focus goes to the game"
        )
        self.hand_back = QPushButton("Hand back")
        self.hand_back.setToolTip("Give control back to the agent")
        self.hand_back.setStyleSheet(
            "QPushButton:enabled { background:#2e7d32; color:white; font-weight:bold; }"
        )
        self.record_mode = QComboBox()
        for mode, label in RECORD_MODES.items():
            self.record_mode.addItem(label, mode.value)  # Qt hands back a plain str
        self.record_mode.setToolTip(
            "What Start records: the agent with your takeovers marked as corrections, the agent alone, "
            "or only you playing (no model needed)"
        )
        self.record = QPushButton("Record")
        self.record.setStyleSheet("QPushButton:checked { background:#c62828; color:white; }")
        self.record.setCheckable(True)
        self.record.setToolTip("Record each run as an episode")
        self.save_last = QPushButton(self._icons["save"], "Save last 30 s")
        self.settings_button = QPushButton("Settings…")
        self.badge = Badge()
        self.rec = QLabel("● RECORDING")  # the Record button says "will record"; this says "recording now"
        self.rec.setObjectName("rec")
        self.rec.setStyleSheet("color:white; background:#c62828; font-weight:bold; padding:1px 6px;")
        self.rec.setToolTip("This run is being saved as an episode")
        self.rec.hide()
        self.strip = ElidedLabel()
        self.strip.setObjectName("actionStrip")
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(4)
        play = QHBoxLayout()
        play.addWidget(self.badge)
        for button in (self.start, self.pause, self.stop, self.take_over, self.hand_back):
            play.addWidget(button)
        play.addStretch(1)
        record = QHBoxLayout()
        record.addWidget(self.record)
        record.addWidget(self.record_mode, 1)
        record.addWidget(self.save_last)
        record.addWidget(self.settings_button)
        strip = QHBoxLayout()
        strip.addWidget(self.rec)
        strip.addWidget(self.strip, 1)
        col.addLayout(play)
        col.addLayout(record)
        col.addLayout(strip)
        self.start.clicked.connect(self.start_clicked)
        self.pause.clicked.connect(self.pause_clicked)
        self.stop.clicked.connect(self.stop_clicked)
        self.take_over.clicked.connect(self.take_over_clicked)
        self.hand_back.clicked.connect(self.hand_back_clicked)
        self.record.toggled.connect(self.record_toggled)
        self.record_mode.currentIndexChanged.connect(
            lambda _i: self.record_mode_changed.emit(self.record_mode.currentData())
        )
        self.save_last.clicked.connect(self.save_last_clicked)
        self.set_state(controls_for(Mode.IDLE, can_start=False))
        # "Pause" and "Resume" take turns: one width for both, so the buttons beside never move
        self.pause.setText("Resume")
        self.pause.setMinimumWidth(self.pause.sizeHint().width())
        self.pause.setText("Pause")

    def set_record_mode(self, mode: RecordMode) -> None:
        self.record_mode.setCurrentIndex(max(0, self.record_mode.findData(RecordMode(mode).value)))

    def set_state(self, controls: Controls) -> None:
        """Which buttons work (``window_state.controls_for`` decides)."""
        self.start.setEnabled(controls.start)
        self.pause.setEnabled(controls.pause)
        self.pause.setText("Resume" if controls.resume else "Pause")
        self.pause.setIcon(self._icons["start" if controls.resume else "pause"])
        self.stop.setEnabled(controls.stop)
        self.take_over.setEnabled(controls.take_over)
        self.hand_back.setEnabled(controls.hand_back)
        self.save_last.setEnabled(controls.save_last)
        self.record_mode.setEnabled(controls.record_mode)

    def set_recording_live(self, on: bool) -> None:
        """Show the red RECORDING tag while the current run is being written to disk."""
        self.rec.setVisible(on)
        self.strip.setStyleSheet("color:#b71c1c;" if on else "")

    def set_strip(self, text: str) -> None:
        """What the agent does now, in words (the overlay's keys, camera and notes)."""
        self.strip.setText(text)
