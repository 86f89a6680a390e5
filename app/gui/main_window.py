"""The main window: assembles the widgets; the flows live in ``controller``.

Layout, narrow enough to sit beside the game on a 1366×768 screen: the pickers and the panel
buttons on top; the game view (with its overlay) in the middle; the control bar and the instruction
box below; a message banner for errors and notes, a hub model's download (its plan, then a bar with
Cancel), a red strip while recording, and a status bar with progress while something loads. The
right dock area holds the live figures and, below them as tabs, the episodes and fine-tune panels
(View menu, or the Episodes / Fine-tune buttons); those scroll inside their dock, so opening one
never widens the window.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt, QUrl
from PyQt6.QtGui import QAction, QDesktopServices, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.gui.control_bar import ControlBar
from app.gui.download_view import DownloadView
from app.gui.episodes_panel import EpisodesPanel
from app.gui.evaluate_panel import EvaluatePanel
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

README = Path(__file__).resolve().parents[2] / "README.md"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def readme_sections(readme: Path = README) -> dict[str, str]:
    """The README's ``##`` sections, title -> anchor: the Help menu links exactly what is there."""
    try:
        lines = readme.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    titles = [line[3:].strip() for line in lines if line.startswith("## ")]
    return {title: slug(title) for title in titles}


def help_url(anchor: str) -> QUrl:
    url = QUrl.fromLocalFile(str(README))
    url.setFragment(anchor)
    return url


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
        self.setDockNestingEnabled(True)
        self.model_picker = ModelPicker()
        self.game_picker = GamePicker(display=display)
        self.settings_button = QPushButton("Settings…")
        self.banner = MessageBanner()
        self.download_view = DownloadView()  # a hub model's first download: plan, bar, Cancel
        self.recording_strip = QLabel("● RECORDING: this run is being saved as an episode")
        self.recording_strip.setObjectName("recordingStrip")
        self.recording_strip.setStyleSheet(
            "background:#c62828; color:white; font-weight:bold; padding:4px 8px;"
        )
        self.recording_strip.hide()
        self.view = GameView()
        self.status_panel = StatusPanel()
        self.controls = ControlBar()
        self.instruction = InstructionBox()

        buttons = QHBoxLayout()
        buttons.addWidget(self.settings_button)
        self.episodes = EpisodesPanel()
        self.finetune = FinetunePanel()
        self.evaluate = EvaluatePanel()
        self.live_dock = self._dock("Live", self.status_panel, scroll=False)
        self.live_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.live_dock.setTitleBarWidget(QWidget())  # the panel's own "Live" title is enough
        self.live_dock.show()
        self.episodes_dock = self._dock("Episodes", self.episodes)
        self.finetune_dock = self._dock("Fine-tune", self.finetune)
        self.evaluate_dock = self._dock("Evaluate", self.evaluate)
        self.splitDockWidget(self.live_dock, self.episodes_dock, Qt.Orientation.Vertical)
        self.tabifyDockWidget(self.episodes_dock, self.finetune_dock)
        self.tabifyDockWidget(self.finetune_dock, self.evaluate_dock)
        file_menu = self.menuBar().addMenu("&File")  # type: ignore[union-attr]
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.triggered.connect(self.settings_button.click)
        file_menu.addAction(self.settings_action)  # type: ignore[union-attr]
        file_menu.addSeparator()  # type: ignore[union-attr]
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)  # type: ignore[union-attr]
        view_menu = self.menuBar().addMenu("&View")  # type: ignore[union-attr]
        self.panel_buttons: dict[str, QPushButton] = {}
        for dock in (self.episodes_dock, self.finetune_dock, self.evaluate_dock):
            action = dock.toggleViewAction()
            view_menu.addAction(action)  # type: ignore[union-attr]
            button = QPushButton(dock.windowTitle())
            button.setCheckable(True)
            action.toggled.connect(button.setChecked)  # type: ignore[union-attr]
            button.clicked.connect(action.trigger)  # type: ignore[union-attr]
            buttons.addWidget(button)
            self.panel_buttons[dock.windowTitle()] = button
        buttons.addStretch(1)
        help_menu = self.menuBar().addMenu("&Help")  # type: ignore[union-attr]
        self.help_actions: list[QAction] = []
        for title, anchor in readme_sections().items():
            item = QAction(title, self)
            url = help_url(anchor)
            item.setData(url)
            item.triggered.connect(lambda _c=False, u=url: QDesktopServices.openUrl(u))
            help_menu.addAction(item)  # type: ignore[union-attr]
            self.help_actions.append(item)

        col = QVBoxLayout()
        col.addWidget(self.model_picker)
        col.addWidget(self.game_picker)
        col.addLayout(buttons)
        col.addWidget(self.recording_strip)
        col.addWidget(self.banner)
        col.addWidget(self.download_view)
        col.addWidget(self.view, 1)
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
        self.statusBar().addWidget(self.progress_text, 1)  # type: ignore[union-attr]
        self.statusBar().addPermanentWidget(self.progress)  # type: ignore[union-attr]

    def _dock(self, title: str, panel: QWidget, scroll: bool = True) -> QDockWidget:
        """A dock on the right; a panel taller or wider than the room it gets scrolls inside it."""
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        if scroll:
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setWidget(panel)
            area.setMinimumWidth(240)
            dock.setWidget(area)
        else:
            dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()
        return dock

    def set_busy(self, text: str | None) -> None:
        """Show what is loading (``None``: nothing is)."""
        self.progress.setVisible(text is not None)
        self.progress_text.setText(text or "")

    def set_recording(self, on: bool) -> None:
        """The red strip and the title say so while a run is written to disk."""
        self.recording_strip.setVisible(on)
        self.setWindowTitle("● REC · jarvis-play" if on else "jarvis-play")
