"""Text that does not fit where it is drawn, found by walking the shown widgets of a window.

A person sees clipped text ("AGENT · waiting for ga"), a cut-off button, a panel that must be
scrolled to reach its Start button. Each visible widget is asked how much room its text needs (Qt's
own size hints and font metrics) and compared with the room it has. Findings come in three kinds:

- ``clipped``: text cut off with no way to read it (a label, a button, a tab, a table header, a cell
  or list row whose tooltip does not hold the whole text, a widget past its window's edge);
- ``elided``: text that ends in "…" with all of it in the tooltip (allowed, but worth knowing);
- ``scrolls``: a panel that needs scrolling to be seen whole (sideways is always wrong).

Used by the layout tour (``layout_tour``) and by the tests, which walk every tab in every state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from PyQt6.QtCore import QRect
from PyQt6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QTabBar,
    QTableWidget,
    QWidget,
)

from app.gui.elided import ElidedLabel

SLACK = 1  # pixels of rounding forgiven


@dataclass(frozen=True)
class Finding:
    kind: str  # clipped, elided, scrolls
    widget: str  # what it is: class, object name, text
    detail: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.kind}: {self.widget}: {self.detail}"


def _name(w: QWidget, text: str = "") -> str:
    name = w.objectName()
    label = f"{type(w).__name__}{'#' + name if name else ''}"
    return f"{label} {text[:60]!r}" if text else label


def _shown(w: QWidget) -> bool:
    return w.isVisible() and w.width() > 0 and w.height() > 0 and not w.visibleRegion().isEmpty()


def findings(window: QWidget) -> list[Finding]:
    """Every problem with the text of the widgets ``window`` shows now (hidden tabs are not looked at)."""
    out: list[Finding] = []
    bounds = QRect(0, 0, window.width(), window.height())
    for w in window.findChildren(QWidget):
        if not _shown(w):
            continue
        out.extend(_check(w))
        top_left = w.mapTo(window, w.rect().topLeft())
        inside = QRect(top_left, w.size())
        if w.isWindow() or bounds.contains(inside) or _in_scroll_area(w):
            continue
        if isinstance(w, (QLabel, QAbstractButton, QComboBox)):
            out.append(Finding("clipped", _name(w, _text(w)), f"reaches past the window's edge ({inside})"))
    return out


def _in_scroll_area(w: QWidget) -> bool:
    parent = w.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def _text(w: QWidget) -> str:
    getter: Any = getattr(w, "text", None)
    if isinstance(w, QComboBox):
        return w.currentText()
    if isinstance(w, QGroupBox):
        return w.title()
    return str(getter()) if callable(getter) else ""


def _check(w: QWidget) -> list[Finding]:
    if isinstance(w, ElidedLabel):
        if w.elided:
            return [Finding("elided", _name(w, w.text()), f"shows {w.shown()!r}, the tooltip holds all")]
        return []
    if isinstance(w, QLabel):
        return _label(w)
    if isinstance(w, (QCheckBox, QRadioButton)):
        return _fits(w, w.text(), w.sizeHint().width(), w.sizeHint().height())
    if isinstance(w, QPushButton):
        return _button(w)
    if isinstance(w, QComboBox) and not w.isEditable():
        return _combo(w)
    if isinstance(w, QGroupBox) and w.title():
        need = w.fontMetrics().horizontalAdvance(w.title()) + 16
        return _fits(w, w.title(), need, 0)
    if isinstance(w, QTabBar):
        return _tabs(w)
    if isinstance(w, QHeaderView):
        return _header(w)
    if isinstance(w, QTableWidget):
        return _cells(w)
    if isinstance(w, QListWidget):
        return _rows(w)
    if isinstance(w, QScrollArea):
        return _scrolling(w)
    return []


def _fits(w: QWidget, text: str, need_w: int, need_h: int) -> list[Finding]:
    if need_w > w.width() + SLACK or need_h > w.height() + SLACK:
        return [Finding("clipped", _name(w, text), f"needs {need_w}×{need_h}, has {w.width()}×{w.height()}")]
    return []


def _label(w: QLabel) -> list[Finding]:
    if not w.text() or (w.pixmap() is not None and not w.pixmap().isNull()):
        return []
    if w.wordWrap():
        need = w.heightForWidth(w.width())
        return _fits(w, w.text(), 0, need) if need > 0 else []
    hint = w.sizeHint()
    return _fits(w, w.text(), hint.width(), hint.height())


def _button(w: QPushButton) -> list[Finding]:
    text = w.text().replace("&", "")
    if not text:
        return []
    icon = w.iconSize().width() + 4 if not w.icon().isNull() else 0
    need = w.fontMetrics().horizontalAdvance(text) + icon + 8
    return _fits(w, text, need, w.fontMetrics().height())


def _combo(w: QComboBox) -> list[Finding]:
    option = QStyleOptionComboBox()
    w.initStyleOption(option)
    style = w.style()
    assert style is not None
    field = style.subControlRect(
        QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, w
    )
    need = w.fontMetrics().horizontalAdvance(w.currentText())
    if need > field.width() + SLACK:
        return [
            Finding("clipped", _name(w, w.currentText()), f"needs {need} px, its field has {field.width()}")
        ]
    return []


def _tabs(bar: QTabBar) -> list[Finding]:
    out = []
    for i in range(bar.count()):
        text = bar.tabText(i).replace("&", "")
        rect = bar.tabRect(i)
        need = bar.fontMetrics().horizontalAdvance(text) + 8
        if need > rect.width() or not QRect(0, 0, bar.width(), bar.height()).contains(rect):
            out.append(Finding("clipped", _name(bar, text), f"the tab needs {need} px, has {rect.width()}"))
    return out


def _header(h: QHeaderView) -> list[Finding]:
    model = h.model()
    if model is None:
        return []
    out = []
    for i in range(h.count()):
        if h.isSectionHidden(i):
            continue
        text = str(model.headerData(i, h.orientation()) or "")
        need = h.fontMetrics().horizontalAdvance(text) + 8
        if need > h.sectionSize(i) + SLACK:
            out.append(
                Finding("clipped", _name(h, text), f"the column needs {need} px, has {h.sectionSize(i)}")
            )
    return out


def _cells(table: QTableWidget) -> list[Finding]:
    out = []
    metrics = table.fontMetrics()
    for row in range(table.rowCount()):
        for column in range(table.columnCount()):
            item = table.item(row, column)
            if item is None or not item.text():
                continue
            need = metrics.horizontalAdvance(item.text()) + 8
            if need <= table.columnWidth(column) + SLACK:
                continue
            kind = "elided" if item.toolTip() == item.text() else "clipped"
            out.append(
                Finding(
                    kind,
                    _name(table, item.text()),
                    f"the cell needs {need} px, has {table.columnWidth(column)}",
                )
            )
    return out


def _rows(view: QListWidget) -> list[Finding]:
    out = []
    room = view.viewport().width() if view.viewport() is not None else view.width()  # type: ignore[union-attr]
    for i in range(view.count()):
        item = view.item(i)
        if item is None:
            continue
        need = view.fontMetrics().horizontalAdvance(item.text()) + 8
        if need > room + SLACK:
            kind = "elided" if item.text() in item.toolTip() else "clipped"
            out.append(Finding(kind, _name(view, item.text()), f"the row needs {need} px, has {room}"))
    return out


def _scrolling(area: QScrollArea) -> list[Finding]:
    out = []
    panel = area.widget()
    what = _name(panel) if panel is not None else _name(area)
    if area.horizontalScrollBar() is not None and area.horizontalScrollBar().maximum() > 0:  # type: ignore[union-attr]
        out.append(Finding("scrolls", what, "scrolls sideways"))
    bar = area.verticalScrollBar()
    if bar is not None and bar.maximum() > 0:
        need = panel.minimumSizeHint().height() if panel is not None else 0
        out.append(Finding("scrolls", what, f"needs {need} px of height, has {area.viewport().height()}"))  # type: ignore[union-attr]
    return out
