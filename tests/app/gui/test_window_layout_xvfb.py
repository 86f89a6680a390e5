"""The window beside the game on a laptop screen and a desktop one, under a real window manager, walked
through every control state and tab the way a new user would: ``jarvis-play window --tour``.

For each screen (1366×768, then 1920×1080) one Xvfb with openbox and one app launch (the demo game,
minetest, with the tiny model): the tour presses Start, moves focus off the game, Pause, Take over,
the panic key, Record and Start, Only me, Stop, and for each state brings every tab to the front. The
test reads its report: the window and the game share the screen without overlap, the window never
grows or moves, no text is cut off and no panel needs scrolling in any state and tab, the badge is
never elided, the panic note goes at Start. Both launches share one settings folder, offline: the
task-library notice is a calm line at the first start and not at the second. The screenshots (the
whole screen, decorations included) are copied to artifacts/layout-<screen>/ for a person to look at.
Run it under ``flock /tmp/jarvis-display.lock``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.gui.placement import inside, overlap
from tests.conftest import REPO
from tests.xdesktop import openbox_display, window_env

pytestmark = [pytest.mark.xvfb, pytest.mark.game, pytest.mark.slow]

SCREENS = [(1366, 768), (1920, 1080)]
OFFLINE = "Instructions complete from a built-in list"


def _tour(width: int, height: int, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"tour-{width}x{height}"
    with openbox_display(width, height) as display:
        env = window_env(display, tmp_path)  # the same settings folder for both screens
        env["JARVIS_PLAY_TASKS_SOURCE"] = (tmp_path / "no-such-instructions.json").as_uri()  # "offline"
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        cmd = [
            sys.executable,
            "-m",
            "app.cli",
            "window",
            "--model",
            "tiny",
            "--game",
            "demo",
            "--tour",
            str(out),
        ]
        with (tmp_path / f"window-{width}.log").open("w") as log:  # a file: a full pipe would block the app
            run = subprocess.run(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=300)
    assert run.returncode == 0, (tmp_path / f"window-{width}.log").read_text()[-3000:]
    report = json.loads((out / "tour.json").read_text())
    artifacts = REPO / "artifacts" / f"layout-{width}x{height}"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    for shot in out.glob("*.png"):
        shutil.copy(shot, artifacts / shot.name)
    print(f"screenshots: {artifacts}")
    return report


def _check(report: dict[str, Any], width: int, height: int) -> None:
    assert report["errors"] == [], report["errors"]
    steps = report["steps"]
    states = {s["state"] for s in steps}
    assert states == {
        "ready",
        "agent",
        "waiting",
        "paused",
        "held",
        "panic",
        "recording",
        "teleop",
        "stopped",
    }
    assert len(steps) == len(states) * 5  # every tab in every state
    screen = (0, 0, width, height)
    window, game = tuple(steps[0]["window"]), tuple(steps[0]["game"])
    assert inside(window, screen) and inside(game, screen) and not overlap(window, game), (window, game)
    # the window uses the room beside the game: most of the free width, most of the height
    assert window[2] >= (width - game[2]) * 0.9 and window[3] >= height * 0.9, (window, game)
    bad = []
    for step in steps:
        where = f"{step['state']} / {step['tab']}"
        assert tuple(step["window"]) == window, (where, step["window"], window)  # never grows nor moves
        assert tuple(step["game"]) == game, where
        assert not step["badge_elided"], (where, step["badge"])
        bad += [
            f"{where}: {f['kind']}: {f['widget']}: {f['detail']}"
            for f in step["findings"]
            if f["kind"] != "elided"
        ]
    assert not bad, "\n".join(bad)
    badges = {s["state"]: s["badge"] for s in steps}
    assert badges["agent"] == "AGENT" and badges["waiting"] == "AGENT · waiting for focus"
    assert badges["held"] == "YOU · until Hand back" and badges["teleop"] == "YOU · only you play"
    assert "panic key" in next(s["banner"] for s in steps if s["state"] == "panic")
    assert report["checks"] == {"panic note gone at Start": True}
    # the screenshots show the screen: the game on the left, the window with its red badge beside it
    from PIL import Image

    shot = next(s["shot"] for s in steps if s["state"] == "agent" and s["tab"] == "live")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (height, width)
    gx, gy, gw, gh = game
    assert pixels[gy + 30 : gy + gh - 10, gx + 10 : gx + gw - 10].std() > 20  # the game, drawn
    wx, wy, ww, _wh = window
    red = (abs(pixels[wy : wy + 90, wx : wx + ww] - np.array([211, 47, 47])).sum(axis=2) < 30).sum()
    assert red > 1500, red  # the AGENT badge at the top of the window


def test_every_state_and_tab_fits_beside_the_game_on_both_screens(tmp_path: Path) -> None:
    from app.games.demo_game import find_binary

    if find_binary() is None:
        pytest.skip("minetest is not installed (apt-get install minetest)")
    reports = []
    for width, height in SCREENS:
        reports.append(_tour(width, height, tmp_path))
        _check(reports[-1], width, height)
    # offline: one calm line at the first start, the URL and the error folded under Details; not again
    first, second = reports[0]["steps"][0], reports[1]["steps"][0]
    assert first["banner"].startswith(OFFLINE) and first["banner_level"] == "info"
    assert "://" not in first["banner"] and "Errno" not in first["banner"]
    assert not (second["banner"] or "").startswith(OFFLINE)
