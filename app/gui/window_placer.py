"""Put the window beside the game, once per game, and size its frame (decorations included).

The geometry is ``placement.plan`` (pure, tested without a display); this applies it through the
game's desktop (``connector.desktop``: X11 or XWayland): it reads the work area and the game's frame,
moves the demo game to the corner, then sizes this window. Only with the window on xcb; a tiling
compositor (sway) may place both windows itself. Decorations are known only once the window is
shown, so a frame set before that is applied again just after. Placement is a convenience: it never
fails the app.
"""

from __future__ import annotations

import logging
from typing import Any

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QWidget

from app.gui import placement

LOG = logging.getLogger(__name__)

REAPPLY_MS = 300  # after the first show, once the window manager added its decorations


class WindowPlacer:
    def __init__(self, window: QWidget) -> None:
        self.window = window
        self.enabled = True  # False when the person gave --geometry
        self.placed_for: object = None  # the game the window was last placed beside
        self._frame_after_show: placement.Rect | None = None

    def place(self, game: Any, saved: str) -> placement.Placement | None:
        """Beside ``game`` (an open game), unless already placed beside it; ``saved``: the settings'
        last frame, kept when it fits and stays clear of the game. Only on X11 with a display."""
        if not self.enabled or game is None or game is self.placed_for:
            return None
        if QApplication.platformName() != "xcb":
            return None
        self.placed_for = game
        try:
            return self._place(game, saved)
        except Exception as exc:  # placement is a convenience: never a reason to fail
            LOG.warning("could not place the window beside the game: %s", exc)
            return None

    def _place(self, game: Any, saved: str) -> placement.Placement:
        connector = game.connector
        wid = connector.window_id
        if not wid:  # no game window on this screen (fake, minerl, a region): stay where the person put us
            return placement.Placement(self.frame_rect())
        desk = connector.desktop  # the game's display server: its work area, frames and moves
        screen = desk.work_area()
        frame = desk.frame(wid)
        plan = placement.plan(screen, frame, own_game=game.started_game, saved=placement.parse_rect(saved))
        if plan.game_to is not None:
            desk.move_frame(wid, *plan.game_to)
        self.set_frame(plan.window)
        return plan

    def frame_rect(self) -> placement.Rect:
        g = self.window.frameGeometry()
        return (g.x(), g.y(), g.width(), g.height())

    def set_frame(self, rect: placement.Rect) -> None:
        """Move and size the window so its frame (decorations included) covers ``rect``."""
        w = self.window
        frame, inner = w.frameGeometry(), w.geometry()
        dw = frame.width() - inner.width() if w.isVisible() else 0
        dh = frame.height() - inner.height() if w.isVisible() else 0
        x, y, width, height = rect
        w.resize(max(1, width - dw), max(1, height - dh))
        w.move(x, y)
        if not w.isVisible():  # decorations are known once shown: size it again then
            self._frame_after_show = rect

    def shown(self) -> None:
        """The window was shown: apply a frame set before, now that decorations are known."""
        if self._frame_after_show is not None:
            QTimer.singleShot(REAPPLY_MS, self._reapply)

    def _reapply(self) -> None:
        rect, self._frame_after_show = self._frame_after_show, None
        if rect is not None:
            self.set_frame(rect)
