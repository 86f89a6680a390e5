"""The live game, scaled to the widget, with the agent's overlay painted on top.

It paints whatever it was last given (a frame and an ``Overlay``); it never asks the loop for
anything. The frame keeps its aspect ratio, letterboxed; overlay coordinates are fractions of the
frame. ``fps`` counts frames actually painted over the last second.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen, QPolygonF
from PyQt6.QtWidgets import QSizePolicy, QWidget

from app.gui.overlay import Overlay

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class GameView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._frame: np.ndarray | None = None
        self._image: QImage | None = None
        self.overlay: Overlay | None = None
        self.placeholder = "Loading…"
        self._painted: deque[float] = deque(maxlen=120)
        self.frames_shown = 0

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def show_frame(self, frame: np.ndarray | None, overlay: Overlay) -> None:
        if frame is not None:
            frame = np.ascontiguousarray(frame)
            self._frame = frame  # QImage borrows this buffer: keep it alive
            h, w = frame.shape[:2]
            self._image = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.overlay = overlay
        self.update()

    def clear(self, placeholder: str) -> None:
        self._frame = self._image = None
        self.placeholder = placeholder
        self.update()

    @property
    def fps(self) -> float:
        now = time.monotonic()
        recent = [t for t in self._painted if now - t <= 1.0]
        return float(len(recent)) if len(recent) > 1 else 0.0

    def frame_rect(self) -> QRectF:
        """Where the frame is drawn: the largest 16:9 rectangle centred in the widget."""
        w, h = self.width(), self.height()
        fw, fh = (self._image.width(), self._image.height()) if self._image is not None else (16, 9)
        scale = min(w / fw, h / fh)
        dw, dh = fw * scale, fh * scale
        return QRectF((w - dw) / 2, (h - dh) / 2, dw, dh)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), QColor("#111"))
        rect = self.frame_rect()
        if self._image is not None:
            p.drawImage(rect, self._image)
            self._painted.append(time.monotonic())
            self.frames_shown += 1
        else:
            p.setPen(QColor("#bbb"))
            p.setFont(QFont(self.font().family(), 14))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
        if self.overlay is not None:
            self._paint_overlay(p, rect, self.overlay)
        p.end()

    def _paint_overlay(self, p: QPainter, r: QRectF, ov: Overlay) -> None:
        unit = max(10.0, r.height() / 24)  # text size follows the view size
        # the control badge: large, top-left, in its colour
        badge_font = QFont(self.font().family(), int(unit * 0.9), QFont.Weight.Bold)
        p.setFont(badge_font)
        metrics = p.fontMetrics()
        bw = metrics.horizontalAdvance(ov.badge) + unit * 1.2
        badge = QRectF(r.left() + unit * 0.5, r.top() + unit * 0.5, bw, unit * 1.8)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(ov.badge_color))
        p.drawRoundedRect(badge, unit * 0.3, unit * 0.3)
        p.setPen(QColor("white"))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, ov.badge)
        small = QFont(self.font().family(), int(unit * 0.6))
        p.setFont(small)
        if ov.instruction:
            left = badge.right() + unit * 0.5
            text_rect = QRectF(left, badge.top(), r.right() - left - unit * 0.5, badge.height())
            self._label(p, text_rect, ov.instruction, LEFT)
        # held keys, bottom-left, one keycap each
        x = r.left() + unit * 0.5
        y = r.bottom() - unit * 2.0
        for key in ov.keys:
            w = p.fontMetrics().horizontalAdvance(key) + unit
            cap = QRectF(x, y, w, unit * 1.4)
            p.setPen(QPen(QColor("white"), 1.5))
            p.setBrush(QColor(0, 0, 0, 170))
            p.drawRoundedRect(cap, unit * 0.2, unit * 0.2)
            p.drawText(cap, Qt.AlignmentFlag.AlignCenter, key)
            x += w + unit * 0.3
        # the mouse arrow from the centre, and the camera move in degrees beside it
        if ov.arrow is not None:
            a = ov.arrow
            start = QPointF(r.left() + a.x0 * r.width(), r.top() + a.y0 * r.height())
            end = QPointF(r.left() + a.x1 * r.width(), r.top() + a.y1 * r.height())
            self._arrow(p, start, end, unit)
        if ov.camera_text:
            cam = QRectF(r.left(), r.bottom() - unit * 2.0, r.width() - unit * 0.5, unit * 1.4)
            self._label(p, cam, "look " + ov.camera_text, RIGHT)
        for i, note in enumerate(ov.notes):
            rect = QRectF(r.left(), r.top() + unit * (2.8 + 1.3 * i), r.width() - unit * 0.5, unit * 1.2)
            self._label(p, rect, note, RIGHT)

    def _label(self, p: QPainter, rect: QRectF, text: str, align: Qt.AlignmentFlag) -> None:
        """Text with a dark halo, readable on any game frame."""
        p.setPen(QColor(0, 0, 0, 200))
        for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            p.drawText(rect.translated(dx, dy), align, text)
        p.setPen(QColor("white"))
        p.drawText(rect, align, text)

    def _arrow(self, p: QPainter, start: QPointF, end: QPointF, unit: float) -> None:
        color = QColor(255, 235, 59)
        p.setPen(QPen(color, max(2.0, unit * 0.2), cap=Qt.PenCapStyle.RoundCap))
        p.drawLine(start, end)
        d = end - start
        length = (d.x() ** 2 + d.y() ** 2) ** 0.5
        if length < 1:
            return
        ux, uy = d.x() / length, d.y() / length
        head = min(unit * 0.8, length)
        left = QPointF(end.x() - head * (ux - uy * 0.5), end.y() - head * (uy + ux * 0.5))
        right = QPointF(end.x() - head * (ux + uy * 0.5), end.y() - head * (uy - ux * 0.5))
        p.setBrush(color)
        p.drawPolygon(QPolygonF([end, left, right]))
