from __future__ import annotations

from recorder.display import can_capture, can_inject, display_server


def test_display_server_detection() -> None:
    assert display_server({"DISPLAY": ":0"}, "linux") == "x11"
    assert display_server({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux") == "wayland"
    assert display_server({}, "linux") == "none"
    assert display_server({}, "win32") == "windows"


def test_reasons_say_what_to_do() -> None:
    assert can_inject({"DISPLAY": ":1"}, "linux").ok
    wayland = can_inject({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}, "linux")
    assert not wayland.ok and "X11" in wayland.reason
    none = can_capture({}, "linux")
    assert not none.ok and "xvfb-run" in none.reason
