"""Choose the model (tiny demo, HF id, local folder, server URL) and the game (demo, window, region…).

Pickers only produce spec strings (``app.session`` / ``app.games.spec`` understand them) and emit them when
the person presses Load/Open; the loading itself happens elsewhere, off the GUI thread.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QApplication, QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from app.games.spec import KINDS, GameError, GameSpec, list_windows
from model.fit import summary
from model.spec import ModelSpec, ModelSpecError

MODEL_HINT = "tiny, a checkpoint folder, an HF id (owner/name) or a server URL (http://host:8000/v1)"


def model_kind(spec: str) -> str:
    try:
        kind = ModelSpec.parse(spec).kind
    except ModelSpecError:
        return "no model"
    return {
        "tiny": "embedded tiny model (random weights: it plays randomly)",
        "server": "OpenAI-compatible server",
        "folder": "local folder",
        "hub": "Hugging Face id (downloaded once, then cached)",
        "scripted": "scripted actions from a file",
    }[kind]


def fit_hint(spec: str) -> str:
    """For a checkpoint to load here: free GPU memory and the precisions that fit (``model.fit``)."""
    try:
        parsed = ModelSpec.parse(spec)
    except ModelSpecError:
        return ""
    if parsed.kind not in ("folder", "hub"):
        return ""

    try:
        return summary(parsed.value if parsed.kind == "folder" else None)
    except Exception as exc:  # a hint must never break the picker
        return f"(memory check unavailable: {type(exc).__name__})"


class ModelPicker(QWidget):
    model_chosen = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setMinimumContentsLength(14)
        self.combo.addItems(["tiny", "CraftJarvis/JarvisVLA-Qwen2-VL-7B", "http://localhost:8000/v1"])
        self.combo.setToolTip(MODEL_HINT)
        self.combo.lineEdit().setPlaceholderText(MODEL_HINT)
        self.browse = QPushButton("Folder…")
        self.load = QPushButton("Load model")
        row.addWidget(QLabel("Model"))
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse)
        row.addWidget(self.load)
        self.browse.clicked.connect(self._browse)
        self.load.clicked.connect(self._emit)
        self.combo.lineEdit().returnPressed.connect(self._emit)
        self.combo.currentTextChanged.connect(self._describe)

    def _describe(self, text: str) -> None:
        self.combo.setToolTip(f"{model_kind(text)}\n{MODEL_HINT}\n{fit_hint(text)}".rstrip())

    def set_spec(self, spec: str) -> None:
        if self.combo.findText(spec) < 0:
            self.combo.insertItem(0, spec)
        self.combo.setCurrentText(spec)

    def spec(self) -> str:
        return self.combo.currentText().strip()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a checkpoint folder")
        if folder:
            self.set_spec(folder)

    def _emit(self) -> None:
        if self.spec():
            self.model_chosen.emit(self.spec())


OWN_TITLE = "jarvis-play"  # every window of ours carries it (the main window, its dialogs, floating panels)


def game_windows(titles: list[str]) -> list[str]:
    """The titles a person may pick as the game: never jarvis-play's own windows."""
    app = QApplication.instance()
    widgets = app.topLevelWidgets() if isinstance(app, QApplication) else []
    ours = {w.windowTitle() for w in widgets if w.isVisible() and w.windowTitle()}
    return [t for t in titles if OWN_TITLE not in t.lower() and t not in ours]


ARG_HINTS = {
    "demo": "",
    "window": "part of the game window's title, e.g. Minecraft",
    "region": "left,top,width,height, e.g. 0,0,1280,720",
    "screen": "",
    "minerl": "minerl, minestudio or module:callable",
    "fake": "",
}


class GamePicker(QWidget):
    game_chosen = pyqtSignal(str)
    invalid = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, display: str | None = None) -> None:
        super().__init__(parent)
        self.display = display
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.kind = QComboBox()
        for kind, label in KINDS.items():
            self.kind.addItem(label, kind)
        self.arg = QComboBox()
        self.arg.setEditable(True)
        self.arg.setMinimumContentsLength(10)
        self.open = QPushButton("Open game")
        row.addWidget(QLabel("Game"))
        row.addWidget(self.kind)
        row.addWidget(self.arg, 1)
        row.addWidget(self.open)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.open.clicked.connect(self._emit)
        self._kind_changed()

    def set_spec(self, spec: GameSpec) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(spec.kind)))
        self.arg.setCurrentText(spec.arg)

    def spec_text(self) -> str:
        kind = self.kind.currentData()
        arg = self.arg.currentText().strip()
        return f"{kind}:{arg}" if arg else str(kind)

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        hint = ARG_HINTS.get(kind, "")
        self.arg.clear()
        self.arg.setEnabled(bool(hint))
        self.arg.lineEdit().setPlaceholderText(hint)
        if kind == "window":
            self.arg.addItems(game_windows(list_windows(self.display)))  # what is open now
        elif kind == "minerl":
            self.arg.addItems(["minerl", "minestudio"])
        self.arg.setCurrentText("" if kind != "minerl" else "minerl")

    def _emit(self) -> None:
        try:
            GameSpec.parse(self.spec_text())
        except GameError as exc:
            self.invalid.emit(str(exc))
            return
        self.game_chosen.emit(self.spec_text())
