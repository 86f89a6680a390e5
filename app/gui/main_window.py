"""The main window: assembles the widgets; the flows live in ``controller``.

It sits beside the game, so on a 1366×768 screen it has about 720×740 pixels. One column: on top,
always in view, the control bar (the badge beside the play buttons, the record buttons, and a strip
saying what the agent does), one message at a time, a hub model's download while one runs (its plan,
then a bar with Cancel), and the instruction; below them one tab at a
time takes all the room that is left: Live (the model and game pickers, the game view with its
overlay, the live figures), Episodes, Fine-tune, Adapters and Evaluate. Nothing opens beside
anything else, so opening a panel never widens the window nor shrinks another panel; a panel that
still lacks room (a smaller screen) scrolls inside its tab. The game view can be switched off (View
menu) when the game's own window is in sight. The status bar says what is loading and the hotkeys.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, Qt, QTimer, QUrl
from PyQt6.QtGui import QAction, QDesktopServices, QKeySequence
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.gui.adapters_panel import AdaptersPanel
from app.gui.control_bar import ControlBar
from app.gui.download_view import DownloadView
from app.gui.elided import ElidedLabel
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
    """One message at a time, in words, with a close button; never a traceback. A message may carry
    details (a URL, an error number) that stay folded until the person asks for them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 2, 6, 2)
        col.setSpacing(2)
        row = QHBoxLayout()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QPushButton("Details")
        self.details_button.setCheckable(True)
        self.details_button.setFlat(True)
        self.close_button = QPushButton("✕")
        self.close_button.setFlat(True)
        self.close_button.setFixedWidth(28)
        row.addWidget(self.text, 1)
        row.addWidget(self.details_button)
        row.addWidget(self.close_button)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.hide()
        col.addLayout(row)
        col.addWidget(self.details)
        self.close_button.clicked.connect(self.hide)
        self.details_button.toggled.connect(self.details.setVisible)
        self.level = ""
        self.until_start = False  # the message is about a stopped run: Start makes it stale
        self.hide()

    def show_message(
        self, text: str, level: str = "error", details: str = "", until_start: bool = False
    ) -> None:
        self.level = level
        self.until_start = until_start
        self.text.setText(text)
        self.details.setText(details)
        self.details_button.setChecked(False)
        self.details_button.setVisible(bool(details))
        self.setStyleSheet(f"MessageBanner {{{STYLES.get(level, STYLES['info'])}}}")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.show()

    def clear_stale(self) -> None:
        """A run starts: a message that was only about the stopped one goes."""
        if self.until_start:
            self.hide()
            self.until_start = False


# tab name (Settings.window_panels, the View menu) -> its title
PANELS = {
    "live": "Live",
    "episodes": "Episodes",
    "finetune": "Fine-tune",
    "adapters": "Adapters",
    "evaluate": "Evaluate",
}


class LivePage(QWidget):
    """The Live tab: what plays what, the game as the agent sees it, and the live figures."""

    def __init__(self, model_picker: QWidget, game_picker: QWidget, view: QWidget, figures: QWidget) -> None:
        super().__init__()
        self.view = view
        self.view_off = QLabel(
            "The game view is off (View → Game view in this window): watch the game's own window; "
            "the strip above says what the agent does."
        )
        self.view_off.setWordWrap(True)
        self.view_off.setStyleSheet("color:#555;")
        self.view_off.hide()
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(model_picker)
        col.addWidget(game_picker)
        row = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(view, 1)
        left.addWidget(self.view_off)
        row.addLayout(left, 1)
        row.addWidget(figures)
        col.addLayout(row, 1)

    def show_view(self, on: bool) -> None:
        self.view.setVisible(on)
        self.view_off.setVisible(not on)


class MainWindow(QMainWindow):
    def __init__(self, display: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("jarvis-play")
        self.model_picker = ModelPicker()
        self.game_picker = GamePicker(display=display)
        self.banner = MessageBanner()
        self.download_view = DownloadView()  # a hub model's first download: plan, bar, Cancel
        self.view = GameView()
        self.status_panel = StatusPanel()
        self.status_panel.setFixedWidth(250)
        self.controls = ControlBar()
        self.badge = self.controls.badge
        self.recording_strip = self.controls.rec
        self.instruction = InstructionBox()
        self.episodes = EpisodesPanel()
        self.finetune = FinetunePanel()
        self.adapters = AdaptersPanel()
        self.evaluate = EvaluatePanel()
        self.live = LivePage(self.model_picker, self.game_picker, self.view, self.status_panel)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.pages: dict[str, QWidget] = {}
        for name, panel in (
            ("live", self.live),
            ("episodes", self.episodes),
            ("finetune", self.finetune),
            ("adapters", self.adapters),
            ("evaluate", self.evaluate),
        ):
            page = panel if name == "live" else _scrolling(panel)
            self.pages[name] = page
            self.tabs.addTab(page, PANELS[name])

        file_menu = self.menuBar().addMenu("&File")  # type: ignore[union-attr]
        self.settings_action = QAction("&Settings…", self)
        self.settings_button = self.controls.settings_button
        self.settings_action.triggered.connect(self.settings_button.click)
        file_menu.addAction(self.settings_action)  # type: ignore[union-attr]
        file_menu.addSeparator()  # type: ignore[union-attr]
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)  # type: ignore[union-attr]
        view_menu = self.menuBar().addMenu("&View")  # type: ignore[union-attr]
        self.panel_actions: dict[str, QAction] = {}
        for i, (name, title) in enumerate(PANELS.items(), start=1):
            action = QAction(title, self)
            action.setShortcut(QKeySequence(f"Alt+{i}"))
            action.triggered.connect(lambda _c=False, n=name: self.show_panel(n))
            view_menu.addAction(action)  # type: ignore[union-attr]
            self.panel_actions[name] = action
        view_menu.addSeparator()  # type: ignore[union-attr]
        self.game_view_action = QAction("Game view in this window", self)
        self.game_view_action.setCheckable(True)
        self.game_view_action.setChecked(True)
        self.game_view_action.toggled.connect(self.live.show_view)
        view_menu.addAction(self.game_view_action)  # type: ignore[union-attr]
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
        col.setContentsMargins(6, 4, 6, 0)
        col.setSpacing(4)
        col.addWidget(self.controls)
        col.addWidget(self.banner)
        col.addWidget(self.download_view)
        col.addWidget(self.instruction)
        col.addWidget(self.tabs, 1)
        central = QWidget()
        central.setLayout(col)
        self.setCentralWidget(central)

        self.progress_text = ElidedLabel()
        self.hotkeys = QLabel()
        self.hotkeys.setObjectName("hotkeys")
        self.hotkeys.setStyleSheet("color:#b71c1c; font-weight:bold;")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: loading has no meaningful percentage
        self.progress.setFixedWidth(100)
        self.progress.hide()
        self.statusBar().addWidget(self.progress_text, 1)  # type: ignore[union-attr]
        self.statusBar().addPermanentWidget(self.progress)  # type: ignore[union-attr]
        self.statusBar().addPermanentWidget(self.hotkeys)  # type: ignore[union-attr]

    # ----- tabs ---------------------------------------------------------------------------------
    def show_panel(self, name: str) -> None:
        """Bring a tab to the front (it never hides: every tab is always there)."""
        self.tabs.setCurrentWidget(self.pages[name])

    @property
    def panel(self) -> str:
        """The tab in front."""
        page = self.tabs.currentWidget()
        return next((name for name, p in self.pages.items() if p is page), "live")

    def set_hotkeys(self, panic: str, pause: str, save_last: str) -> None:
        self.hotkeys.setText(
            f"{panic.upper()} panic: stop all · {pause.upper()} pause / hand back · "
            f"{save_last.upper()} save last 30 s"
        )

    def set_busy(self, text: str | None) -> None:
        """Show what is loading (``None``: nothing is)."""
        self.progress.setVisible(text is not None)
        self.progress_text.setText(text or "")

    def set_recording(self, on: bool) -> None:
        """The red tag and the title say so while a run is written to disk."""
        self.controls.set_recording_live(on)
        self.setWindowTitle("● REC · jarvis-play" if on else "jarvis-play")


class PanelArea(QScrollArea):
    """A panel in its tab: it gets all the room there is, and scrolls only when its minimum does not fit
    (a smaller screen). Unlike a resizable scroll area it sizes the panel by its minimum, not by the
    preferred height that word-wrapped labels and tables ask for, so a panel that fits never scrolls."""

    def __init__(self, panel: QWidget) -> None:
        super().__init__()
        self.setObjectName(f"{type(panel).__name__}Area")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setWidget(panel)
        panel.installEventFilter(self)

    def fit(self) -> None:
        panel = self.widget()
        if panel is None:
            return
        room, least = self.viewport().size(), panel.minimumSizeHint()  # type: ignore[union-attr]
        panel.resize(max(room.width(), least.width()), max(room.height(), least.height()))

    def viewportEvent(self, event: QEvent | None) -> bool:
        if event is not None and event.type() == QEvent.Type.Resize:
            self.fit()
        return super().viewportEvent(event)

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if obj is self.widget() and event is not None and event.type() == QEvent.Type.LayoutRequest:
            QTimer.singleShot(0, self.fit)  # the panel's minimum may have changed
        return False


def _scrolling(panel: QWidget) -> QScrollArea:
    return PanelArea(panel)
