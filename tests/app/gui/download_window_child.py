"""The window loading a hub model, for ``test_download_window_xvfb`` to drive from outside.

Runs the real window (``MainWindow``, ``WindowController``, ``Session`` with the real policy factory) on
Qt's xcb platform in the test's Xvfb, with the fake game, and loads the model named on the command
line the way the window does at start. Ten times a second it prints one JSON line with what the
download view and the banner show and where the buttons are on the screen, so the test can click
them with xdotool (real X input) and read the screen itself. It exits when stdin says ``quit``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from app.gui.controller import WindowController
from app.gui.main_window import MainWindow
from app.session import Session
from app.settings import Settings
from tests.app.gui.screen_rects import rect, tab_rect


def main(model: str) -> int:
    app = QApplication(sys.argv[:1])
    window = MainWindow()
    session = Session(Settings(model=model, game="fake", instruction="mine_block:oak_log"), listen=False)
    controller = WindowController(window, session)
    controller.placer.enabled = False
    window.setGeometry(0, 0, 1000, 700)
    window.show()
    controller.prepare(model, "fake")
    view = window.download_view

    quit_asked = threading.Event()

    def report() -> None:
        if quit_asked.is_set():
            app.quit()
            return
        state: dict[str, Any] = {
            "shown": view.isVisible(),
            "text": view.text.text(),
            "bar": [view.bar.value(), view.bar.maximum()],
            "bar_rect": rect(view.bar),
            "download": rect(view.download),
            "cancel": rect(view.cancel),
            "load": rect(window.model_picker.load),
            "episodes": tab_rect(window, "episodes"),
            "live": tab_rect(window, "live"),
            "episodes_open": window.panel == "episodes",
            "banner": window.banner.text.text() if window.banner.isVisible() else "",
            "loading": bool(controller.jobs),
            "model": session.model_spec if session.policy is not None else None,
        }
        print(json.dumps(state), flush=True)

    timer = QTimer()
    timer.timeout.connect(report)
    timer.start(100)

    def wait_for_quit() -> None:
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        quit_asked.set()

    threading.Thread(target=wait_for_quit, daemon=True).start()
    code = app.exec()
    controller.ask_before_close = False
    window.close()
    session.close()
    return code


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    sys.exit(main(sys.argv[1]))
