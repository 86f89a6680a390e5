"""One-line labels whose width never follows their text, and the control badge built on them.

A label that grows with its text widens the window the moment a long state appears (the window
once grew past the screen's edge during Take over). These take the width the layout gives them;
text that does not fit ends in "…" and the tooltip holds all of it. The badge's width is that of
its longest state, measured once, so it never moves the buttons beside it.
"""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QResizeEvent
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget

from app.gui.overlay import BADGES
from app.gui.window_state import BadgeKey


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None, tip: str = "") -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = tip  # shown when the text fits
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str | None) -> None:
        self._full = text or ""
        self._refresh()

    def text(self) -> str:
        """All of the text (what is painted may end in "…": ``shown``)."""
        return self._full

    def shown(self) -> str:
        return super().text()

    @property
    def elided(self) -> bool:
        return self.shown() != self._full

    def set_tip(self, tip: str) -> None:
        self._tip = tip
        self._refresh()

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._refresh()

    def minimumSizeHint(self) -> QSize:
        return QSize(12, super().minimumSizeHint().height())

    def _refresh(self) -> None:
        room = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, room))
        if shown != super().text():
            super().setText(shown)
        tip = self._full if shown != self._full else self._tip
        if tip != self.toolTip():
            self.setToolTip(tip)


class Badge(ElidedLabel):
    """Who is in control, in the badge's colour; as wide as its longest state."""

    STYLE = "background:{color}; color:white; font-weight:bold; border-radius:4px;"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setObjectName("modeBadge")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setContentsMargins(8, 3, 8, 3)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.mode = ""
        self.set_mode(BadgeKey.IDLE)
        bold = self.font()
        bold.setBold(True)
        self.setFont(bold)
        widest = max(self.fontMetrics().horizontalAdvance(text) for text, _color in BADGES.values())
        self.setFixedWidth(widest + 16 + 6)

    def set_mode(self, mode: str) -> None:
        text, color = BADGES.get(mode, (mode.upper(), "#616161"))
        self.mode = mode
        self.setStyleSheet(self.STYLE.format(color=color))
        self.setText(text)
