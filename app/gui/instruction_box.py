"""Type what the agent should do; Enter sends it. Completion from the trained tasks, and a history.

Completion offers task keys and the phrasings the model was trained on (JarvisVLA's library: 2,605
tasks, 12,534 phrasings, or the short built-in list when it could not be had); the line under the box
says whether the text is one of them or something the model may not follow. Text outside the library
is still sent, as typed, and stays marked. Up/Down walk the history.
"""

from __future__ import annotations

from PyQt6.QtCore import QStringListModel, Qt, pyqtSignal
from PyQt6.QtGui import QKeyEvent
from PyQt6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from model.tasks import TaskLibrary


class HistoryLineEdit(QLineEdit):
    """A line edit whose Up/Down keys recall earlier entries (when the completer popup is closed)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: list[str] = []
        self._pos = 0

    def set_history(self, history: list[str]) -> None:
        self.history = list(history)
        self._pos = len(self.history)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        popup = self.completer().popup() if self.completer() else None
        if event is not None and not (popup and popup.isVisible()) and self.history:
            if event.key() == Qt.Key.Key_Up:
                self._pos = max(0, self._pos - 1)
                self.setText(self.history[self._pos])
                return
            if event.key() == Qt.Key.Key_Down:
                self._pos = min(len(self.history), self._pos + 1)
                self.setText(self.history[self._pos] if self._pos < len(self.history) else "")
                return
        super().keyPressEvent(event)


class InstructionBox(QWidget):
    submitted = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library: TaskLibrary | None = None
        self.edit = HistoryLineEdit()
        self.edit.setPlaceholderText("What should the agent do? e.g. mine_block:oak_log, “Chop down a tree.”")
        self.send = QPushButton("Send")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.sent = QLabel()
        self.sent.setObjectName("sentAs")
        self.sent.setStyleSheet("color:#555;")
        self._model = QStringListModel(self)
        completer = QCompleter(self._model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setMaxVisibleItems(12)
        self.edit.setCompleter(completer)
        row = QHBoxLayout()
        row.addWidget(QLabel("Instruction"))
        row.addWidget(self.edit, 1)
        row.addWidget(self.send)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(row)
        col.addWidget(self.status)
        col.addWidget(self.sent)
        self.edit.returnPressed.connect(self._submit)
        self.send.clicked.connect(self._submit)
        self.edit.textChanged.connect(self._check)

    def set_library(self, library: TaskLibrary) -> None:
        self.library = library
        self._model.setStringList(library.all_texts())
        self._check(self.edit.text())

    def set_history(self, history: list[str]) -> None:
        self.edit.set_history(history)

    def set_sent(self, text: str, prompt: str) -> None:
        self.sent.setText(f"In force: “{text}”" + (f" (sent as “{prompt}”)" if prompt != text else ""))

    def verdict(self, text: str) -> tuple[bool | None, str]:
        """(known?, sentence) for the status line; None when there is nothing to judge."""
        lib = self.library
        if lib is None or not text.strip():
            return None, lib.description if lib is not None else ""
        key = lib.task_of(text)
        if key is not None:
            if lib.builtin:
                return True, f"✓ a common task: {key} (built-in list: JarvisVLA's library is not here)"
            n = len(lib.tasks.get(key, ()))
            return True, f"✓ a trained task: {key} ({n} trained phrasing{'s' if n != 1 else ''})"
        trained = f"the {len(lib)} tasks the model was trained on"
        where = "the built-in common tasks" if lib.builtin else trained
        return False, f"⚠ not one of {where}: sent as typed, the model may not follow it"

    def _check(self, text: str) -> None:
        known, sentence = self.verdict(text)
        color = {True: "#2e7d32", False: "#e65100", None: "#555"}[known]
        self.status.setStyleSheet(f"color:{color};")
        self.status.setText(sentence)

    def _submit(self) -> None:
        text = self.edit.text().strip()
        if not text:
            self.status.setStyleSheet("color:#b71c1c; font-weight:bold;")
            self.status.setText("Type an instruction first: an empty one leaves the agent without a task.")
            self.edit.setFocus()
            return
        history = [h for h in self.edit.history if h != text] + [text]
        self.edit.set_history(history)
        self.submitted.emit(text)
