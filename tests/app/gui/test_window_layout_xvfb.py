"""The window beside the game on a laptop screen, under a real window manager.

Xvfb at 1366×768 with openbox; ``jarvis-play window`` (a separate process, Qt on xcb) opens the demo
game (minetest) with the tiny model and starts. From outside, through X11, the test reads both
windows' frames (decorations included) while the agent plays and checks that they do not overlap
and both fit on the screen; it saves a screenshot of the whole screen (path printed, and copied to
artifacts/) for a person to look at. Run it under ``flock /tmp/game-tests.lock``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.gui.placement import inside, overlap
from tests.conftest import REPO
from tests.xdesktop import openbox_display, window_env

pytestmark = [pytest.mark.xvfb, pytest.mark.game, pytest.mark.slow]

SCREENS = [(1366, 768), (1920, 1080)]


@pytest.fixture
def desktop(request: pytest.FixtureRequest) -> Iterator[tuple[str, tuple[int, int]]]:
    """Xvfb of the requested size with openbox managing it."""
    width, height = request.param
    with openbox_display(width, height) as name:
        yield name, (width, height)


def _frames(display: str) -> dict[str, tuple[int, int, int, int]]:
    """Title -> frame of every viewable, titled top-level client window (openbox reparents them)."""
    from Xlib import X

    from recorder.desktop.x11.backend import X11Desktop

    out = {}
    with X11Desktop(display) as desk:
        d = desk._d
        clients = d.screen().root.get_full_property(d.intern_atom("_NET_CLIENT_LIST"), X.AnyPropertyType)
        for wid in clients.value if clients is not None else []:
            win = d.create_resource_object("window", int(wid))
            try:
                name = win.get_full_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"))
                title = name.value.decode() if name is not None else (win.get_wm_name() or "")
                if win.get_attributes().map_state != X.IsViewable:
                    continue
                out[str(title)] = desk.frame(int(wid))
            except Exception:
                continue
    return out


def _is_game(title: str) -> bool:
    return "minetest" in title.lower() or "luanti" in title.lower()


def _screenshot(display: str, path: Path) -> None:
    from PIL import Image
    from Xlib import X
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        root = d.screen().root
        geom = root.get_geometry()
        raw = root.get_image(0, 0, geom.width, geom.height, X.ZPixmap, 0xFFFFFFFF)
        Image.frombytes("RGB", (geom.width, geom.height), raw.data, "raw", "BGRX").save(path)
    finally:
        d.close()


@pytest.mark.parametrize("desktop", SCREENS, indirect=True, ids=["1366x768", "1920x1080"])
def test_window_and_game_share_the_screen_without_overlap(
    desktop: tuple[str, tuple[int, int]], tmp_path: Path
) -> None:
    from app.games.demo_game import find_binary

    if find_binary() is None:
        pytest.skip("minetest is not installed (apt-get install minetest)")
    display, (width, height) = desktop
    report = tmp_path / "report.json"
    env = window_env(display, tmp_path)
    cmd = [sys.executable, "-m", "app.cli", "window", "--model", "tiny", "--game", "demo", "--start"]
    cmd += ["--quit-after", "6", "--report", str(report)]
    log = (tmp_path / "window.log").open("w")  # a file, not a pipe: a full pipe would block the app
    app = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    shot = tmp_path / f"screen_{width}x{height}.png"
    frames: dict[str, tuple[int, int, int, int]] = {}
    shots: list[Path] = []
    try:
        # until the app closes itself (--quit-after), keep the last view of the screen while both
        # windows are up: the state the person saw with the agent playing
        end = time.monotonic() + 240
        while time.monotonic() < end and app.poll() is None:
            seen = _frames(display)
            if any("jarvis-play" in t for t in seen) and any(_is_game(t) for t in seen):
                frames = seen
                shots.append(tmp_path / f"shot-{len(shots) % 6}.png")
                _screenshot(display, shots[-1])
                # the person's view from a few seconds before the end: the last ones show closing
                shutil.copy(shots[max(0, len(shots) - 6)], shot)
            time.sleep(0.5)
        app.wait(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        log.close()
    print(f"screenshot: {shot}")
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / shot.name)
    assert app.returncode == 0, (tmp_path / "window.log").read_text()[-3000:]
    data = json.loads(report.read_text())
    assert data["started"] and data["errors"] == [], data["errors"]
    ours = {t: r for t, r in frames.items() if "jarvis-play" in t}
    games = {t: r for t, r in frames.items() if _is_game(t)}
    assert len(ours) == 1 and len(games) == 1, frames
    (window,), (game,) = ours.values(), games.values()
    screen = (0, 0, width, height)
    print(f"window {window}, game {game}, screen {screen}")
    assert inside(window, screen), (window, screen)
    assert inside(game, screen), (game, screen)
    assert not overlap(window, game), (window, game)
    # the window uses the room it has: most of the free width beside the game, most of the height
    assert window[2] >= (width - game[2]) * 0.9 and window[3] >= height * 0.9, (window, game)
