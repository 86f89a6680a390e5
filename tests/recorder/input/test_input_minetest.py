"""Human input against a real minetest under Xvfb: xdotool plays the person, the pose log is the truth.

The game here runs at a mouse_sensitivity that is not the default (0.3, FOV 70), set in its own
config; the law is read from that config through the running process, the way the app reads it. The
labels summed over quick and slow turns must match the turn the game really made within
max(1°, 5%). And a listener scoped to the game must count nothing typed or moved elsewhere.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from recorder.desktop.backends import for_display
from tests.game_fixtures import SPAWN, xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.game]

SENSITIVITY = 0.3  # minetest's default is 0.2, the demo game's 0.15


@pytest.fixture(scope="module")
def sensitive_game(xvfb: str) -> Iterator[Any]:
    from app.games.demo_game import DemoGame, DemoGameConfig, find_binary

    if find_binary() is None:
        pytest.skip("minetest is not installed (apt-get install minetest)")
    cfg = DemoGameConfig(arena=True, die_with_parent=True, degrees_per_count=SENSITIVITY)
    game = DemoGame(cfg, display=xvfb).start()
    try:
        yield game
    finally:
        game.close()


@pytest.fixture
def mt(sensitive_game: Any, xvfb: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.delenv("PYNPUT_BACKEND", raising=False)
    sensitive_game.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 0")
    sensitive_game.focus()
    time.sleep(0.4)  # the client echoes its old look direction for a moment after a teleport
    return sensitive_game


def window(game: Any, display: str) -> tuple[int, int, int, int]:
    from recorder.desktop.x11.windows import X11Windows

    wins = X11Windows(display)
    try:
        return wins.rect(game.window_id)
    finally:
        wins.close()


def unwrapped_yaw_turn(poses: list[Any]) -> float:
    """Degrees turned right over a pose sequence (minetest yaw grows to the left), unwrapped."""
    total = 0.0
    for a, b in itertools.pairwise(poses):
        d = math.degrees(b.yaw - a.yaw) % 360.0
        total -= d - 360.0 if d > 180.0 else d
    return total


class Recording:
    """The recorder's path in miniature: a scoped listener, the accumulator, a 20 Hz tick, the law."""

    def __init__(self, game: Any, display: str) -> None:
        from app.games.game_settings import game_settings_for_pid
        from recorder.input.human_actions import InputAccumulator
        from recorder.input.listener import InputListener

        rect = window(game, display)
        settings = game_settings_for_pid(game.proc.pid, (rect[2], rect[3]))
        assert settings is not None and settings.game == "minetest"
        self.settings = settings
        self.desktop = for_display(display)
        self.listener = InputListener.for_game(self.desktop, game.window_id).start()
        self.acc = InputAccumulator()
        self.ticks: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.acc.feed_all(self.listener.drain())
            self.ticks.append(self.acc.end_tick())
            time.sleep(0.05)

    def stop(self) -> None:
        time.sleep(0.2)  # the last events reach the listener
        self._stop.set()
        self._thread.join()
        self.acc.feed_all(self.listener.drain())
        self.ticks.append(self.acc.end_tick())
        self.listener.stop()
        self.desktop.close()

    def yaw_labels(self) -> float:
        from recorder.input.human_actions import tick_to_env

        return sum(tick_to_env(t, self.settings.law)["camera"][1] for t in self.ticks)

    def pitch_labels(self) -> float:
        from recorder.input.human_actions import tick_to_env

        return sum(tick_to_env(t, self.settings.law)["camera"][0] for t in self.ticks)


def turn_and_compare(mt: Any, xvfb: str, moves: list[list[str]]) -> tuple[float, float, Any]:
    """Play ``moves`` (xdotool argument lists) as the person; (labelled yaw, the game's yaw, recording)."""
    mt.log.poll()
    start = len(mt.log.poses)
    rec = Recording(mt, xvfb)
    try:
        time.sleep(0.3)
        for args in moves:
            xdotool(xvfb, *args)
        time.sleep(0.5)  # the client reports its pose every ~0.1 s
    finally:
        rec.stop()
    mt.log.poll()
    poses = mt.log.poses[start - 1 if start else 0 :]
    return rec.yaw_labels(), unwrapped_yaw_turn(poses), rec


def within(label: float, truth: float) -> bool:
    return abs(label - truth) <= max(1.0, 0.05 * abs(truth))


def test_the_law_is_read_from_the_running_games_own_config(mt: Any, xvfb: str) -> None:
    from app.games.game_settings import game_settings_for_pid
    from recorder.input.camera_law import CameraLaw

    rect = window(mt, xvfb)
    settings = game_settings_for_pid(mt.proc.pid, (rect[2], rect[3]))
    assert settings is not None
    assert settings.record["mouse_sensitivity"] == SENSITIVITY
    assert settings.record["source"] == str(mt.root / "minetest.conf")
    expected = CameraLaw.minetest(SENSITIVITY, fov=70).degrees_per_count  # 0.289°/px, not 0.3 or 0.2
    assert settings.law.degrees_per_count == pytest.approx(expected)
    assert settings.meta()["degrees_per_count"] == settings.law.degrees_per_count


def test_quick_turns_are_labelled_as_the_game_turned(mt: Any, xvfb: str) -> None:
    # single big jumps and bursts of moves with no pause: the game warps back between or after them
    burst = [a for _ in range(6) for a in ("mousemove_relative", "--", "20", "0")]
    moves = [
        ["mousemove_relative", "--", "120", "0"],
        ["sleep", "0.2"],
        ["mousemove_relative", "--", "-70", "0"],
        ["sleep", "0.2"],
        burst,
        ["sleep", "0.2"],
        ["mousemove_relative", "--", "90", "0"],
    ]
    labelled, truth, rec = turn_and_compare(mt, xvfb, moves)
    print(f"quick: labelled {labelled:.2f}°, game {truth:.2f}°, warps {rec.listener.warps}")
    assert truth > 50  # the game did turn: 260 px right at ~0.29°/px
    assert within(labelled, truth), (labelled, truth)
    assert rec.listener.warps >= 3  # the game's re-centring was seen and not counted


@pytest.mark.nondeterministic(
    "minetest drops part of slow pointer motion when both cores are busy (5.3% against the 5% goal once, "
    "in a loaded full run): the labels are the person's real motion, the truth is what the game applied"
)
def test_slow_turns_are_labelled_as_the_game_turned(mt: Any, xvfb: str) -> None:
    slow = [a for _ in range(40) for a in ("mousemove_relative", "--", "-3", "1", "sleep", "0.03")]
    labelled, truth, rec = turn_and_compare(mt, xvfb, [slow])
    print(f"slow: labelled {labelled:.2f}°, game {truth:.2f}°, pitch labels {rec.pitch_labels():.2f}°")
    assert truth < -25  # 120 px left
    assert within(labelled, truth), (labelled, truth)
    assert rec.pitch_labels() == pytest.approx(40 * rec.settings.law.degrees_per_count, abs=1.0)


def test_nothing_typed_or_moved_outside_the_game_is_human_input(mt: Any, xvfb: str) -> None:
    from Xlib import X
    from Xlib import display as xdisplay

    from recorder.input.listener import InputListener

    d = xdisplay.Display(xvfb)
    other = d.screen().root.create_window(800, 450, 300, 200, 0, d.screen().root_depth, X.InputOutput,
                                          event_mask=X.KeyPressMask)  # fmt: skip
    other.set_wm_name("another app")
    other.map()
    d.sync()
    got: list[Any] = []
    try:
        xdotool(xvfb, "mousemove", "900", "500")  # the pointer starts outside the game, over the other app
        time.sleep(0.2)
        desktop = for_display(xvfb)
        listener = InputListener.for_game(desktop, mt.window_id, on_event=got.append,
                                          hotkeys={"key.keyboard.f12"}).start()  # fmt: skip
        try:
            other.set_input_focus(X.RevertToParent, X.CurrentTime)
            d.sync()
            xdotool(xvfb, "mousemove", "1000", "600", "mousemove_relative", "--", "-50", "20")
            xdotool(xvfb, "type", "--delay", "20", "hello")  # typed into the other app
            xdotool(xvfb, "mousemove", "320", "180")  # over the game, but the other app has focus
            xdotool(xvfb, "key", "w", "mousemove_relative", "--", "30", "0")
            xdotool(xvfb, "key", "F12")  # the panic key works from anywhere
            time.sleep(0.3)
            outside = listener.drain()
            handled = [e.key for e in got]
            # the agent starts: the game takes focus and the pointer jumps to its centre
            xdotool(xvfb, "mousemove", "900", "500")
            mt.focus()
            time.sleep(0.5)
            after_focus = listener.drain()
            xdotool(xvfb, "keydown", "a", "sleep", "0.1", "keyup", "a")  # the person plays: it counts
            time.sleep(0.3)
            playing = listener.drain()
        finally:
            listener.stop()
            desktop.close()
    finally:
        other.destroy()
        d.close()
    print(f"outside {outside}; after focus {after_focus}; warps {listener.warps} jumps {listener.jumps}")
    assert outside == []
    assert handled == ["key.keyboard.f12", "key.keyboard.f12"]  # press and release, nothing else
    assert after_focus == []
    typed = [(e.kind, e.key) for e in playing]
    assert typed == [("key_down", "key.keyboard.a"), ("key_up", "key.keyboard.a")]
    assert listener.outside > 10


def test_calibrate_measures_the_law_from_frames(mt: Any, xvfb: str, tmp_path: Any) -> None:
    import json
    import os
    import subprocess
    import sys

    from app.games.game_settings import game_settings_for_pid

    # the stone arena looks the same every way: put blocks of different kinds around, as a world has
    blocks = ["wood", "cobble", "brick", "mese", "goldblock", "diamondblock", "tree", "dirt", "glass"]
    cmds = []
    for i, name in enumerate(blocks):
        a = 2 * math.pi * i / len(blocks)
        x, z = round(6 * math.cos(a)), round(6 * math.sin(a))
        cmds += [f"setnode {x} {SPAWN[1] + h} {z} default:{name}" for h in range(1 + i % 3)]
    mt.command(*cmds)
    mt.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 10")
    time.sleep(1.0)
    before = mt.pose()
    out = tmp_path / "cal.json"
    env = {**os.environ, "DISPLAY": xvfb, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "app.cli", "calibrate", "--window", "Minetest", "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    print(done.stdout, done.stderr[-2000:])
    assert done.returncode == 0
    measured = json.loads(out.read_text())["Minetest"]["degrees_per_count"]
    rect = window(mt, xvfb)
    truth = game_settings_for_pid(mt.proc.pid, (rect[2], rect[3]))
    assert truth is not None
    assert measured == pytest.approx(truth.law.degrees_per_count, rel=0.03)
    time.sleep(0.4)
    back = math.degrees(mt.pose().yaw - before.yaw) % 360.0
    # it turned the view back to where it was. The turn-back is injected blind after a full circle, and
    # minetest drops a few percent of fast pointer motion when both cores are busy (10° seen in a
    # loaded full run): within 5% of the circle it turned.
    assert min(back, 360.0 - back) < 18.0


def test_keys_are_named_by_the_key_pressed_whatever_shift_makes_of_them(mt: Any, xvfb: str) -> None:
    """Seen in a whole suite's evaluation: the agent held sneak (Shift) and pressed hotbar 9; X reported
    "(", which this keymap (Xvfb's, like evdev's) also puts alone on another key (keycode 187, the
    keypad's "("), so the listener named it key.keysym.0x28, not key.keyboard.9: the agent's own press
    went unclaimed and read as the person taking over. The agent's Shift+9 through the game's connector
    must all be claimed as its own, and the person's Shift+9 must read as Shift and 9."""
    from app.games.desktop import DesktopConfig, DesktopConnector
    from model.actions.env import null_action
    from recorder.input.listener import InputListener

    connector = DesktopConnector(DesktopConfig(pid=mt.proc.pid), display=xvfb).open()
    desktop = for_display(xvfb)
    listener = InputListener.for_game(desktop, mt.window_id, connector.ledger).start()
    try:
        time.sleep(0.2)
        action = null_action()
        action.update({"sneak": 1, "hotbar.9": 1})
        connector.apply(action)  # the agent: Shift and 9 down
        time.sleep(0.1)
        connector.apply(null_action())  # and up
        time.sleep(0.5)
        agent = [(e.kind, e.key) for e in listener.drain()]
        claimed, lost = connector.ledger.claimed, connector.ledger.pending()
        xdotool(xvfb, "keydown", "shift", "key", "9", "keyup", "shift")  # the person
        time.sleep(0.5)
        person = [(e.kind, e.key) for e in listener.drain()]
    finally:
        listener.stop()
        desktop.close()
        connector.close()
    assert agent == [] and claimed == 4 and lost == 0, (agent, claimed, lost)
    assert person == [
        ("key_down", "key.keyboard.left.shift"),
        ("key_down", "key.keyboard.9"),
        ("key_up", "key.keyboard.9"),
        ("key_up", "key.keyboard.left.shift"),
    ]
