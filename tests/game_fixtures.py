"""Session fixtures for tests that drive a real minetest under a private Xvfb.

One Xvfb and one minetest per test session (a launch costs ~2 s and a core); each test gets the game
back at the arena's spawn with focus. DISPLAY points at the private Xvfb only while such a test runs.
Tests skip with the reason when Xvfb or minetest is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.xdesktop import virtual_display

SPAWN = (0.0, 100.0, 0.0)  # the middle of node (0, 99, 0): looking down hits it


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    with virtual_display(1280, 720) as name:
        yield name


@pytest.fixture(scope="session")
def minetest_session(xvfb: str):  # type: ignore[no-untyped-def]
    from app.games.demo_game import DemoGame, DemoGameConfig, find_binary

    if find_binary() is None:
        pytest.skip("minetest is not installed (apt-get install minetest)")
    game = DemoGame(DemoGameConfig(arena=True, die_with_parent=True), display=xvfb).start()
    try:
        yield game
    finally:
        game.close()


@pytest.fixture
def game(minetest_session, xvfb: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The running demo game, player at spawn looking north (+z), level, window focused."""
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.delenv("PYNPUT_BACKEND", raising=False)
    minetest_session.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 0", "setnode 0 99 0 default:stone")
    minetest_session.focus()
    time.sleep(0.3)  # the client echoes its old look direction for a moment after a teleport
    return minetest_session


def xdotool(display: str, *args: str) -> None:
    """Input from "a person": xdotool sends real XTEST events that jarvis-play did not make."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, timeout=10)
