"""Which desktop this is and which backend plays there, from the environment and the X server's answers.

The X server is asked through ``probe``; here it is given, so every branch runs without a display.
The real servers are asked in the compositor tests (tests/desktops/) and the X11 tests.
"""

from __future__ import annotations

from pathlib import Path

from recorder.desktop.session import XServer, detect, ei_portal, xwayland_command

XORG = XServer(True, xwayland=False, vendor_release=12101011)
XWAYLAND_22 = XServer(True, xwayland=True, vendor_release=12201009)
XWAYLAND_24 = XServer(True, xwayland=True, vendor_release=12401005)


def probe(answer: XServer):  # type: ignore[no-untyped-def]
    return lambda display: answer


def no_command(display: str) -> list[str]:
    return []


def test_an_x11_session_plays_through_x11() -> None:
    session = detect({"DISPLAY": ":0"}, "linux", probe(XORG), no_command)
    assert (session.server, session.backend, session.display) == ("x11", "x11", ":0")
    assert session.notes == ()


def test_a_wayland_session_plays_the_game_under_xwayland() -> None:
    env = {"WAYLAND_DISPLAY": "wayland-1", "DISPLAY": ":1", "SWAYSOCK": "/run/sway.sock"}
    session = detect(env, "linux", probe(XWAYLAND_22), no_command)
    assert (session.server, session.backend, session.compositor) == ("wayland", "xwayland", "sway")
    assert "XWayland on :1" in session.reason
    assert any("panic" in n and "native Wayland window" in n for n in session.notes)
    assert any("sway tiles" in n for n in session.notes)
    gnome = detect({**env, "SWAYSOCK": "", "XDG_CURRENT_DESKTOP": "GNOME"}, "linux", probe(XWAYLAND_22))
    assert gnome.compositor == "gnome" and not any("sway" in n for n in gnome.notes)


def test_xwayland_is_recognised_by_the_server_even_without_wayland_display() -> None:
    session = detect({"DISPLAY": ":1"}, "linux", probe(XWAYLAND_22), no_command)
    assert session.backend == "xwayland" and "WAYLAND_DISPLAY is unset" in session.reason


def test_a_plain_x_server_under_a_wayland_variable_is_played_as_x11_and_said() -> None:
    session = detect({"WAYLAND_DISPLAY": "w", "DISPLAY": ":5"}, "linux", probe(XORG), no_command)
    assert session.backend == "x11" and "plain X server" in session.notes[0]


def test_what_cannot_play_says_what_to_do() -> None:
    no_xwayland = detect({"WAYLAND_DISPLAY": "wayland-0"}, "linux", probe(XORG))
    assert not no_xwayland.ok and "xwayland enable" in no_xwayland.reason
    refused = XServer(False, error="Xlib.error.DisplayConnectionError: Authorization required")
    session = detect({"WAYLAND_DISPLAY": "w", "DISPLAY": ":0"}, "linux", probe(refused))
    assert not session.ok and "xhost +si:localuser:" in session.reason
    assert "xvfb-run" in detect({}, "linux").reason
    windows = detect({}, "win32")
    assert (windows.server, windows.ok) == ("windows", False) and "MineRL" in windows.reason
    assert detect({}, "darwin").server == "macos"


def test_the_remote_desktop_portal_is_detected_and_said() -> None:
    with_portal = ["/usr/bin/Xwayland", ":0", "-rootless", "-enable-ei-portal"]
    assert ei_portal(":0", XWAYLAND_24.vendor_release, with_portal)
    assert not ei_portal(":0", XWAYLAND_24.vendor_release, ["/usr/bin/Xwayland", ":0"])
    assert not ei_portal(":0", XWAYLAND_22.vendor_release, with_portal)  # 22.1 has no libei at all
    env = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0", "XDG_CURRENT_DESKTOP": "GNOME"}
    session = detect(env, "linux", probe(XWAYLAND_24), lambda d: with_portal)
    assert any("remote-desktop portal" in n for n in session.notes)


def test_the_xwayland_process_of_a_display_is_found_by_its_command_line(tmp_path: Path) -> None:
    for pid, argv in ((10, ["/usr/bin/Xwayland", ":2", "-rootless"]), (11, ["/usr/bin/Xvfb", ":3"])):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    assert xwayland_command(":2", tmp_path) == ["/usr/bin/Xwayland", ":2", "-rootless"]
    assert xwayland_command(":3", tmp_path) == []
