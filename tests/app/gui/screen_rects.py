"""Where the window's widgets are on the screen, for the child windows that tests click through xdotool."""

from __future__ import annotations

from PyQt6.QtWidgets import QWidget

from app.gui.main_window import MainWindow


def rect(widget: QWidget) -> list[int] | None:
    """Where ``widget`` is on the screen, or None when it is not in view."""
    if not widget.isVisible():
        return None
    top_left = widget.mapToGlobal(widget.rect().topLeft())
    return [top_left.x(), top_left.y(), widget.width(), widget.height()]


def tab_rect(window: MainWindow, name: str) -> list[int]:
    """Where the tab ``name`` is on the screen (the tab is the panel's button)."""
    bar = window.tabs.tabBar()
    assert bar is not None
    box = bar.tabRect(window.tabs.indexOf(window.pages[name]))
    top_left = bar.mapToGlobal(box.topLeft())
    return [top_left.x(), top_left.y(), box.width(), box.height()]
