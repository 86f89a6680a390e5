"""``jarvis-play`` with no verb opens the window; without any display it says so and exits cleanly."""

from __future__ import annotations

from typing import Any

from app import cli


def test_no_verb_means_the_window(monkeypatch: Any) -> None:
    called: list[Any] = []
    monkeypatch.setattr("app.commands.window.main", lambda args: called.append(args) or 0)
    assert cli.main([]) == 0 and len(called) == 1
    assert "window" in cli.build_parser().format_help()


def test_without_a_display_it_explains_instead_of_crashing(monkeypatch: Any, capsys: Any) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["window"]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "xvfb-run" in err and "Traceback" not in err
