"""Session fixtures for tests that drive a real minetest under a private Xvfb.

One Xvfb and one minetest per test session (a launch costs ~2 s and a core); each test gets the game
back at the arena's spawn with focus. DISPLAY points at the private Xvfb only while such a test runs.
Tests skip with the reason when Xvfb or minetest is missing. In a one-process run the game closes
after the last test that needs it (tests/conftest.py runs those first): it renders at 30 frames a
second, about a third of a core, whether or not a test is looking.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

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
    _running.append(game)
    try:
        yield game
    finally:
        game.close()


def let_go_of_everything(display: str) -> tuple[list[int], list[int]]:
    """Release every key and mouse button the X server ``display`` shows down; returns what was."""
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    d = xdisplay.Display(display)
    try:
        keymap = d.query_keymap()
        keys = [code for code in range(8, 256) if keymap[code // 8] & (1 << code % 8)]
        mask = d.screen().root.query_pointer().mask
        buttons = [b for b, bit in enumerate((X.Button1Mask, X.Button2Mask, X.Button3Mask), 1) if mask & bit]
        for code in keys:
            xtest.fake_input(d, X.KeyRelease, code)
        for button in buttons:
            xtest.fake_input(d, X.ButtonRelease, button)
        d.sync()
    finally:
        d.close()
    return keys, buttons


@pytest.fixture(autouse=True)
def nothing_left_held(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test on the session's X display: no key and no mouse button is down there.

    A key left down outlives the test that pressed it and poisons the next: a replay started with W
    held by xdotool took X's auto-repeat for a person's press, handed control to "them" and waited for
    them to let go, for good; the likeliest cause of the 700 s replay hangs of 2026-12-07. The X server
    is the ground truth: the test that leaves something held fails here by name, and it is let go."""
    if "xvfb" not in request.fixturenames:
        yield
        return
    display = request.getfixturevalue("xvfb")
    yield
    keys, buttons = let_go_of_everything(display)
    assert not keys and not buttons, f"left held on {display}: keycodes {keys}, mouse buttons {buttons}"


@pytest.fixture
def game(minetest_session, xvfb: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The running demo game, player at spawn looking north (+z), level, window focused."""
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.delenv("PYNPUT_BACKEND", raising=False)
    minetest_session.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 0", "setnode 0 99 0 default:stone")
    minetest_session.focus()
    time.sleep(0.3)  # the client echoes its old look direction for a moment after a teleport
    return minetest_session


# Pillars of three materials in a ring around the spawn, at eye level: the arena is a flat stone field
# under a plain sky, where a level turn changes only clouds and the horizon's grain. Tests that measure
# how much the frames change on a turn ask for them, so a turn stands out far above a still frame (the
# dig and place tests, and the learning loop, keep the bare arena).
LANDMARKS = ("default:wood", "default:brick", "default:mese")


@pytest.fixture
def landmarks(game):  # type: ignore[no-untyped-def]
    nodes = []
    for i in range(12):  # every 30 degrees, 6 nodes away, two high
        angle = math.radians(30 * i)
        x, z = round(SPAWN[0] + 6 * math.sin(angle)), round(SPAWN[2] + 6 * math.cos(angle))
        nodes += [(x, y, z, LANDMARKS[i % 3]) for y in (100, 101)]
    game.command(*(f"setnode {x} {y} {z} {name}" for x, y, z, name in nodes))
    time.sleep(0.5)  # drawn before the test looks
    yield game
    game.command(*(f"setnode {x} {y} {z} air" for x, y, z, _ in nodes))


def xdotool(display: str, *args: str) -> None:
    """Input from "a person": xdotool sends real XTEST events that jarvis-play did not make."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, timeout=10)


_running: list[Any] = []  # the session's game while it runs
_needs_game: dict[str, bool] = {}  # nodeid -> whether a test at or after it uses the session's game
_failed = pytest.StashKey[bool]()


def uses_session_game(item: pytest.Item) -> bool:
    """Whether ``item`` may use the session's game: through its fixtures, or marked ``game`` itself (a
    test that takes the game with ``request.getfixturevalue`` must be, or it may find it closed)."""
    fixtures = getattr(item, "fixturenames", ())
    return "minetest_session" in fixtures or any(m.name == "game" for m in item.own_markers)


def pytest_collection_finish(session: pytest.Session) -> None:
    later, needs = False, []
    for item in reversed(session.items):
        later = later or uses_session_game(item)
        needs.append((item.nodeid, later))
    _needs_game.update(reversed(needs))  # in the order the tests run


@pytest.hookimpl(hookwrapper=True, trylast=True)  # inside the CPU count of tests/conftest.py
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """After the last test that needs the session's game: close it. Only in one process (an xdist
    worker does not know which tests it will be sent next), and not before a rerun of that test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        item.stash[_failed] = True
    if report.when != "teardown" or not _running or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    flaky = item.get_closest_marker("flaky")
    reruns = flaky.kwargs.get("reruns", 0) if flaky is not None else 0
    if item.stash.get(_failed, False) and getattr(item, "execution_count", 1) <= reruns:
        return  # it runs again
    following = list(_needs_game)
    index = following.index(item.nodeid) if item.nodeid in _needs_game else -1
    if index >= 0 and not any(_needs_game[n] for n in following[index + 1 : index + 2]):
        _running.pop().close()
