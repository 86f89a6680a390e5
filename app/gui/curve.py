"""A small live line chart drawn with QPainter: enough for a loss curve, no plotting dependency.

``scale`` maps data to widget coordinates and is a plain function, so what the curve shows is
testable without looking at pixels.
"""

from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PyQt6.QtWidgets import QWidget

Point = tuple[float, float]


def scale(points: list[Point], rect: QRectF, y_range: tuple[float, float] | None = None) -> list[QPointF]:
    """Data points to pixels inside ``rect``; y grows upwards; a flat series sits mid-height."""
    if not points:
        return []
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = y_range if y_range is not None else (min(ys), max(ys))
    dx = (x1 - x0) or 1.0
    dy = (y1 - y0) or 1.0
    flat = y_range is None and y1 == y0
    return [
        QPointF(
            rect.left() + (x - x0) / dx * rect.width(),
            rect.center().y() if flat else rect.bottom() - (y - y0) / dy * rect.height(),
        )
        for x, y in points
    ]


class Curve(QWidget):
    def __init__(
        self,
        title: str,
        color: str,
        y_range: tuple[float, float] | None = None,
        percent: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.title = title
        self.color = QColor(color)
        self.y_range = y_range  # None: fit the data
        self.percent = percent
        self.points: list[Point] = []
        self.missing = ""  # why there are no points yet (painted in the plot and in the tooltip)
        self.setMinimumSize(160, 80)

    def sizeHint(self) -> QSize:
        return QSize(240, 110)

    def set_missing(self, why: str) -> None:
        """Why the curve has no points (shown only while it has none)."""
        self.missing = why
        self.setToolTip("" if self.points else why)
        self.update()

    def set_points(self, points: list[Point]) -> None:
        self.points = list(points)
        self.setToolTip("" if self.points else self.missing)
        self.update()

    def value_text(self) -> str:
        if not self.points:
            return "–"
        y = self.points[-1][1]
        return f"{y:.0%}" if self.percent else f"{y:.3f}"

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#fafafa"))
        p.setPen(QColor("#444"))
        header = QRectF(6, 2, self.width() - 12, 18)
        value = self.value_text()
        p.drawText(header, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, value)
        room = int(header.width() - p.fontMetrics().horizontalAdvance(value) - 8)  # the title gives way
        title = p.fontMetrics().elidedText(self.title, Qt.TextElideMode.ElideRight, max(0, room))
        p.drawText(header, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        plot = QRectF(8, 24, self.width() - 16, self.height() - 32)
        p.setPen(QPen(QColor("#ccc"), 1))
        p.drawRect(plot)
        pixels = scale(self.points, plot, self.y_range)
        p.setPen(QPen(self.color, 2))
        if not pixels and self.missing:
            p.setPen(QColor("#757575"))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            p.drawText(plot.adjusted(6, 2, -6, -2), flags, self.missing)
        if len(pixels) == 1:
            p.drawEllipse(pixels[0], 2.5, 2.5)
        elif pixels:
            p.drawPolyline(QPolygonF(pixels))
        p.end()
