"""The main window: assembles the widgets; the flows live in ``controller``.

Layout: pickers and Settings on top; the game view (with its overlay) and the live figures in the
middle; the control bar and the instruction box below; a message banner for errors and notes, and
a status bar with progress while something loads. The episodes and fine-tune panels are docks on
the right (View menu, or the Episodes / Fine-tune buttons), hidden until asked for.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.control_bar import ControlBar
from app.gui.episodes_panel import EpisodesPanel
from app.gui.finetune_panel import FinetunePanel
from app.gui.game_view import GameView
from app.gui.instruction_box import InstructionBox
from app.gui.pickers import GamePicker, ModelPicker
from app.gui.status_panel import StatusPanel

STYLES = {
    "error": "background:#ffebee; color:#b71c1c; border:1px solid #e57373;",
    "note": "background:#fff8e1; color:#5d4037; border:1px solid #ffca28;",
    "info": "background:#e3f2fd; color:#0d47a1; border:1px solid #64b5f6;",
}


class MessageBanner(QWidget):
    """One message at a time, in words, with a close button; never a traceback."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 4, 6, 4)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QPushButton("✕")
        self.close_button.setFlat(True)
        self.close_button.setFixedWidth(28)
        row.addWidget(self.text, 1)
        row.addWidget(self.close_button)
        self.close_button.clicked.connect(self.hide)
        self.level = ""
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.text.setText(text)
        self.setStyleSheet(f"MessageBanner {{{STYLES.get(level, STYLES['info'])}}}")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.show()


class MainWindow(QMainWindow):
    def __init__(self, display: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("jarvis-play")
        self.model_picker = ModelPicker()
        self.game_picker = GamePicker(display=display)
        self.settings_button = QPushButton("Settings…")
        self.banner = MessageBanner()
        self.view = GameView()
        self.status_panel = StatusPanel()
        self.status_panel.setFixedWidth(230)
        self.controls = ControlBar()
        self.instruction = InstructionBox()

        top = QHBoxLayout()
        top.addWidget(self.model_picker, 3)
        top.addWidget(self.game_picker, 3)
        top.addWidget(self.settings_button)
        self.episodes = EpisodesPanel()
        self.finetune = FinetunePanel()
        self.episodes_dock = self._dock("Episodes", self.episodes)
        self.finetune_dock = self._dock("Fine-tune", self.finetune)
        self.tabifyDockWidget(self.episodes_dock, self.finetune_dock)
        view_menu = self.menuBar().addMenu("&View")  # type: ignore[union-attr]
        for dock in (self.episodes_dock, self.finetune_dock):
            action = dock.toggleViewAction()
            view_menu.addAction(action)  # type: ignore[union-attr]
            button = QPushButton(dock.windowTitle())
            button.setCheckable(True)
            action.toggled.connect(button.setChecked)  # type: ignore[union-attr]
            button.clicked.connect(action.trigger)  # type: ignore[union-attr]
            top.addWidget(button)
        middle = QHBoxLayout()
        middle.addWidget(self.view, 1)
        middle.addWidget(self.status_panel, 0, Qt.AlignmentFlag.AlignTop)
        col = QVBoxLayout()
        col.addLayout(top)
        col.addWidget(self.banner)
        col.addLayout(middle, 1)
        col.addWidget(self.controls)
        col.addWidget(self.instruction)
        central = QWidget()
        central.setLayout(col)
        self.setCentralWidget(central)

        self.progress_text = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: loading has no meaningful percentage
        self.progress.setFixedWidth(120)
        self.progress.hide()
        self.statusBar().addWidget(self.progress_text, 1)
        self.statusBar().addPermanentWidget(self.progress)

    def _dock(self, title: str, panel: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()
        return dock

    def set_busy(self, text: str | None) -> None:
        """Show what is loading (``None``: nothing is)."""
        self.progress.setVisible(text is not None)
        self.progress_text.setText(text or "")
