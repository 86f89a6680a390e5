"""An agent run nobody touches records no human tick, from the command line and from the window.

Both doors start with the pointer outside the game; giving the game focus makes minetest grab the
pointer and warp it to its centre. Before the composition root scoped the listener to the game,
that jump (and keys typed into our own window) became seconds of phantom "human correction",
weighted ×3 in training. The real minetest's own settings also give the camera law recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recorder.episodes.format import list_episodes, read_meta
from tests.game_fixtures import xdotool

pytestmark = [pytest.mark.game, pytest.mark.xvfb]

REPO = Path(__file__).resolve().parents[2]
WALK = '{"forward": 1, "camera": [0.0, 1.0]}\n{"forward": 1, "camera": [0.0, -1.0]}\n'


def _episode(out: Path) -> tuple[Any, list[dict[str, Any]]]:
    folders = list_episodes(out)
    assert len(folders) == 1, folders
    meta = read_meta(folders[0])
    lines = [json.loads(x) for x in (folders[0] / "actions.jsonl").read_text().splitlines()]
    return meta, lines


def _unfocus_the_game(display: str) -> None:
    """As when the person last clicked elsewhere: starting the agent gives the game focus again."""
    from recorder.desktop.x11.windows import X11Windows

    windows = X11Windows(display)
    try:
        windows.unfocus()
    finally:
        windows.close()


def _no_person_in(meta: Any, lines: list[dict[str, Any]]) -> None:
    humans = [x["tick"] for x in lines if x["control"] != "agent"]
    assert len(lines) >= 30 and not humans, f"phantom human ticks {humans[:20]} of {len(lines)}"
    assert meta.corrections == []


def test_record_door_agent_run_nobody_touches(game: Any, xvfb: str, tmp_path: Path, monkeypatch: Any) -> None:
    from app.commands import record

    monkeypatch.setenv("JARVIS_PLAY_CONFIG_DIR", str(tmp_path / "config"))
    script = tmp_path / "walk.jsonl"
    script.write_text(WALK)
    xdotool(xvfb, "mousemove", "1100", "650")  # outside the 640×360 game window
    _unfocus_the_game(xvfb)
    parser = __import__("argparse").ArgumentParser()
    record.register(parser.add_subparsers())
    out = tmp_path / "eps"
    args = parser.parse_args(
        [
            "record",
            "--pid",
            str(game.proc.pid),
            "--out",
            str(out),
            "--seconds",
            "3",
            "--mode",
            "corrections",
            "--model",
            f"scripted:{script}",
        ]
    )
    assert args.func(args) == 0
    meta, lines = _episode(out)
    _no_person_in(meta, lines)
    # the law came from the running game's own config (the demo game writes mouse_sensitivity)
    law = meta.camera_law
    assert law["game"] == "minetest" and law["settings"]["source"].endswith("minetest.conf"), law
    assert law["settings"]["mouse_sensitivity"] == pytest.approx(0.15)


def test_window_door_agent_run_nobody_touches(game: Any, xvfb: str, tmp_path: Path) -> None:
    script = tmp_path / "walk.jsonl"
    script.write_text(WALK)
    config = tmp_path / "config"
    config.mkdir()
    out = tmp_path / "eps"
    settings = {"record": True, "record_mode": "corrections", "episodes_dir": str(out)}
    (config / "settings.json").write_text(json.dumps(settings))
    xdotool(xvfb, "mousemove", "1100", "650")  # over nothing of the game's
    _unfocus_the_game(xvfb)
    env = {
        **os.environ,
        "DISPLAY": xvfb,
        "QT_QPA_PLATFORM": "xcb",
        "JARVIS_PLAY_CONFIG_DIR": str(config),
        "HF_HUB_OFFLINE": "1",
    }
    shot = tmp_path / "window.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "window",
            "--game",
            f"pid:{game.proc.pid}",
            "--model",
            f"scripted:{script}",
            "--start",
            "--quit-after",
            "4",
            "--geometry",
            "660,0,600,700",
            "--screenshot",
            str(shot),
            "--report",
            str(tmp_path / "report.json"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"window screenshot: {shot}")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["started"] and not report["errors"], report
    meta, lines = _episode(out)
    _no_person_in(meta, lines)
