"""``jarvis-play window --tour DIR``: walk the window through every control state and every tab, and
write what the screen showed: a screenshot of the whole screen for each step and a report of any
text that did not fit, where the window and the game were, and what the banner said.

For a layout problem on your own screen (attach the folder to a report), and for the tests, which run
it under Xvfb with a window manager at 1366×768 and 1920×1080. It presses the window's own buttons:
Start, (focus leaving the game), Pause, Take over, the panic key, Record and Start again, Only me.
The tour's recordings go into DIR/episodes and it saves no settings, so it leaves the person's
library and choices as they were.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, QTimer
from PyQt6.QtWidgets import QApplication

from app.gui import layout_check
from app.gui.main_window import PANELS
from app.gui.window_state import BadgeKey
from app.runtime.takeover import Mode
from recorder.episodes import RecordMode

LOG = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0  # the model and the game load first
SETTLE_MS = 700  # after a state change: a few ticks reach the window
TAB_MS = 150  # after bringing a tab to the front: laid out and painted


class LayoutTour(QObject):
    def __init__(self, controller: Any, out: str | Path, on_done: Callable[[], None] | None = None) -> None:
        super().__init__(controller)
        self.controller = controller
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.on_done = on_done
        self.steps: list[dict[str, Any]] = []
        self.checks: dict[str, bool] = {}
        self.errors: list[str] = []
        controller.save_settings = lambda _s: None  # a diagnostic run changes no setting
        controller.session.settings.episodes_dir = str(self.out / "episodes")
        self._walk = self._tour()
        QTimer.singleShot(100, self._next)

    # ----- the walk ---------------------------------------------------------------------------
    def _tour(self) -> Iterator[int]:
        c = self.controller
        w = c.window
        end = time.monotonic() + READY_TIMEOUT_S
        while not (c.session.game is not None and not c.jobs) and time.monotonic() < end:
            yield 250
        if c.session.game is None:
            self.errors.append("the game did not open: " + "; ".join(c.errors))
            return
        yield from self._look("ready", every_tab=True)
        controls = w.controls
        controls.start.click()
        yield from self._until(lambda: c.session.mode == Mode.AGENT)
        yield from self._look("agent")
        w.activateWindow()  # focus leaves the game: the agent waits for it
        yield from self._until(lambda: w.badge.mode == BadgeKey.WAITING)
        yield from self._look("waiting")
        controls.pause.click()
        yield from self._until(lambda: w.badge.mode == BadgeKey.PAUSED)
        yield from self._look("paused")
        controls.take_over.click()
        yield from self._until(lambda: w.badge.mode == BadgeKey.HELD)
        yield from self._look("held")
        c.panic.activated.emit()  # the panic key pressed in the window
        yield from self._until(lambda: not c.session.running and "panic key" in w.banner.text.text())
        yield from self._look("panic")
        controls.record.click()
        controls.start.click()
        yield from self._until(lambda: c.session.recording_now)
        stale = w.banner.isVisible() and "panic key" in w.banner.text.text()
        self.checks["panic note gone at Start"] = not stale
        yield from self._look("recording", every_tab=True)
        controls.stop.click()
        yield from self._until(lambda: not c.session.running)
        controls.record_mode.setCurrentIndex(controls.record_mode.findData(RecordMode.TELEOP.value))
        controls.start.click()
        yield from self._until(lambda: w.badge.mode == BadgeKey.TELEOP)
        yield from self._look("teleop")
        controls.stop.click()
        yield from self._until(lambda: not c.session.running)
        yield from self._look("stopped", every_tab=True)

    def _until(self, done: Callable[[], bool], timeout_s: float = 10.0) -> Iterator[int]:
        end = time.monotonic() + timeout_s
        while not done() and time.monotonic() < end:
            yield 100
        yield SETTLE_MS

    def _look(self, state: str, every_tab: bool = False) -> Iterator[int]:
        """Each tab in this state: its findings; a screenshot of the Live tab (of every tab when asked)."""
        w = self.controller.window
        for tab in PANELS:
            w.show_panel(tab)
            yield TAB_MS
            shot = None
            if every_tab or tab == "live":
                shot = self.out / f"{len(self.steps):02d}-{state}-{tab}.png"
                self._screenshot(shot)
            self.steps.append(self._step(state, tab, shot))
        w.show_panel("live")

    def _step(self, state: str, tab: str, shot: Path | None) -> dict[str, Any]:
        w = self.controller.window
        g = w.frameGeometry()
        banner = w.banner.text.text() if w.banner.isVisible() else None
        return {
            "state": state,
            "tab": tab,
            "badge": w.badge.text(),
            "badge_elided": w.badge.elided,
            "window": [g.x(), g.y(), g.width(), g.height()],
            "game": self._game_frame(),
            "banner": banner,
            "banner_level": w.banner.level if banner is not None else None,
            "findings": [f.to_dict() for f in layout_check.findings(w)],
            "shot": str(shot) if shot is not None else None,
        }

    def _game_frame(self) -> list[int] | None:
        """The game's frame as its desktop reports it (None: no window of its own on this screen)."""
        game = self.controller.session.game
        wid = game.connector.window_id if game is not None else None
        if not wid:
            return None
        try:
            return list(game.connector.desktop.frame(wid))
        except Exception as exc:  # the game went away: say so in the report, go on
            self.errors.append(f"could not read the game's frame: {exc}")
            return None

    def _screenshot(self, path: Path) -> None:
        screen = QApplication.primaryScreen()
        if screen is None or not screen.grabWindow(0).save(str(path)):
            self.controller.window.grab().save(str(path))  # no screen to grab (offscreen): the window

    # ----- driving ----------------------------------------------------------------------------
    def _next(self) -> None:
        try:
            wait = next(self._walk)
        except StopIteration:
            self._finish()
            return
        except Exception as exc:
            LOG.exception("the layout tour failed")
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._finish()
            return
        QTimer.singleShot(wait, self._next)

    def _finish(self) -> None:
        screen = QApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else None
        report = {
            "screen": [area.x(), area.y(), area.width(), area.height()] if area is not None else None,
            "steps": self.steps,
            "checks": self.checks,
            "errors": self.errors + list(self.controller.errors),
        }
        (self.out / "tour.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        if self.on_done is not None:
            self.on_done()
