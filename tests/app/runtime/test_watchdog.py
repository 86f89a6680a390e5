"""The watchdog process (app/runtime/watchdog.py) against a real X server: a parent process presses
W, Ctrl, Space and the left button through XTEST, starts a watchdog, and is killed with SIGKILL.

The ground truth is the X server's own key and button state (``query_keymap``, ``query_pointer``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.xserver import XKeys, released

pytestmark = pytest.mark.xvfb

REPO = Path(__file__).resolve().parents[3]
KEYS = ["key.keyboard.w", "key.keyboard.left.control", "key.keyboard.space", "key.mouse.left"]

PARENT = r"""
import json, os, sys, time
from Xlib import X, display
from Xlib.ext import xtest
from recorder.input import keymap
name, guard, watch = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "1"
d = display.Display(name)
for key in json.loads(os.environ.get("PRESS", "null")) or guard["keys"]:
    if keymap.is_mouse(key):
        xtest.fake_input(d, X.ButtonPress, keymap.MOUSE_BUTTONS[key])
    else:
        xtest.fake_input(d, X.KeyPress, d.keysym_to_keycode(keymap.X11_KEYSYMS[key]))
d.sync()
if watch:
    from app.runtime.watchdog import Guard, Watchdog
    dog = Watchdog(Guard(**guard)).start()
    assert dog.wait_ready(20), "the watchdog did not start"
    print("ready", dog.pid, flush=True)
    if sys.argv[4:] == ["bye"]:
        dog.stop()
        print("stopped", flush=True)
else:
    print("ready 0", flush=True)
time.sleep(600)
"""


class XState(XKeys):
    """Held keys by keycode and buttons by number, as the X server reports them."""

    def held(self) -> list[str]:
        return [f"keycode {k}" for k in self.keycodes()] + [f"button {n}" for n in self.buttons()]

    def wait_clear(self, seconds: float) -> float | None:
        """Seconds until nothing is held (None: still held after ``seconds``)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            if not self.held():
                return time.monotonic() - t0
            time.sleep(0.01)
        return None


@pytest.fixture
def x(xvfb: str) -> Iterator[XState]:
    with released(XState(xvfb)) as state:
        yield state


def _parent(
    display: str, guard: dict, watch: bool = True, *extra: str, press: list[str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """A stand-in app: presses ``press`` (default: the guard's keys), then starts the watchdog."""
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO), "PRESS": json.dumps(press)}
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, display, json.dumps(guard), "1" if watch else "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["ready"], f"the parent did not start: {line}"
    return proc, int(line[1])


def _gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.02)
    return False


def test_without_a_watchdog_sigkill_leaves_the_keys_held(xvfb: str, x: XState) -> None:
    """The premise: the X server keeps XTEST keys down after their client is killed."""
    proc, _ = _parent(xvfb, {"display": xvfb, "keys": KEYS}, watch=False)
    assert len(x.held()) == 4
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    assert len(x.held()) == 4


def test_sigkill_of_the_app_releases_every_held_key_and_button_within_half_a_second(
    xvfb: str, x: XState
) -> None:
    proc, dog = _parent(xvfb, {"display": xvfb, "keys": KEYS})
    assert len(x.held()) == 4, x.held()
    proc.kill()
    took = x.wait_clear(2.0)
    proc.wait()
    assert took is not None, f"still held: {x.held()}"
    assert took < 0.5, f"released only after {took:.2f} s"
    assert _gone(dog), "the watchdog outlived its job"


def test_sigkill_stops_the_game_the_app_started_and_removes_its_temporary_world(
    xvfb: str, x: XState, tmp_path: Path
) -> None:
    world = tmp_path / "jarvis-demo-x"
    (world / "world").mkdir(parents=True)
    (world / ".jarvis-demo-world").write_text("made by jarvis-play demo-game\n")
    game = subprocess.Popen(["sleep", "600"], start_new_session=True)
    keeper = tmp_path / "not-ours"  # no marker: never removed, whatever it is told
    keeper.mkdir()
    try:
        guard = {"display": xvfb, "keys": KEYS, "kill_pid": game.pid, "remove_dir": str(world)}
        proc, dog = _parent(xvfb, guard)
        proc.kill()
        proc.wait()
        assert game.wait(timeout=5) is not None
        assert _gone(dog)
        assert not world.exists()
        proc2, dog2 = _parent(xvfb, {"display": xvfb, "keys": KEYS, "remove_dir": str(keeper)})
        proc2.kill()
        proc2.wait()
        assert _gone(dog2)
        assert keeper.exists()
    finally:
        if game.poll() is None:
            game.kill()


def test_a_frozen_app_gets_its_keys_released_once_its_heartbeat_stops(xvfb: str, x: XState) -> None:
    proc, dog = _parent(xvfb, {"display": xvfb, "keys": KEYS, "stale_s": 1.0})
    try:
        assert len(x.held()) == 4
        time.sleep(1.5)  # alive and beating: nothing released
        assert len(x.held()) == 4
        proc.send_signal(signal.SIGSTOP)
        took = x.wait_clear(4.0)
        assert took is not None, f"still held: {x.held()}"
        proc.send_signal(signal.SIGCONT)
    finally:
        proc.kill()
        proc.wait()
    assert _gone(dog)


def test_a_clean_goodbye_leaves_input_alone(xvfb: str, x: XState) -> None:
    """After ``stop`` the app released its input itself; the watchdog must not touch the person's."""
    proc, dog = _parent(xvfb, {"display": xvfb, "keys": KEYS}, True, "bye")
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "stopped"
        assert _gone(dog)
        proc.kill()
        proc.wait()
        time.sleep(0.5)
        assert len(x.held()) == 4  # nobody released them: the goodbye was honoured
    finally:
        if proc.poll() is None:
            proc.kill()


def test_it_releases_exactly_what_the_agent_can_press_and_leaves_other_keys_alone(
    xvfb: str, x: XState
) -> None:
    """What the README promises: every key the game's bindings name (a rebinding included) and mouse
    buttons 1-3, the only input the agent ever presses. A key no binding names (the person's own,
    say Z) is not the agent's, and stays as the person holds it."""
    from types import SimpleNamespace

    from app.games.desktop import DesktopConfig
    from app.runtime.watchdog import guard_for
    from recorder.input import keymap

    bindings = {**keymap.DEFAULT_BINDINGS, "forward": "key.keyboard.g"}  # W rebound to G
    connector = SimpleNamespace(
        realtime=True, config=DesktopConfig(title="x", bindings=bindings), display=xvfb
    )
    guard = guard_for(SimpleNamespace(connector=connector))
    assert guard is not None and "key.keyboard.g" in guard.keys
    z = x.d.keysym_to_keycode(keymap.X11_KEYSYMS["key.keyboard.z"])
    proc, dog = _parent(
        xvfb, guard.__dict__, press=["key.keyboard.g", "key.keyboard.w", "key.mouse.right", "key.keyboard.z"]
    )
    assert len(x.held()) == 4, x.held()
    proc.kill()
    deadline = time.monotonic() + 2.0
    while x.held() != [f"keycode {z}"] and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.wait()
    assert x.held() == [f"keycode {z}"], x.held()
    assert _gone(dog)
