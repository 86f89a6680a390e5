"""Never a stuck key (issue 16, item 1): every door, every way out, checked in a real X server.

The real-process tests start ``jarvis-play run``, ``record --mode agent``, ``replay``, ``eval`` (its
trial started with the ready key, as the person starts it), the window and ``demo-game`` as processes
of their own against the shared minetest under Xvfb, wait until the X
server shows W, Ctrl, Space and the left button held (a scripted model holds them), send a signal,
and then ask the X server (``query_keymap``, ``query_pointer``) whether anything is still down, and
the system whether the door's children (the watchdog, a demo game and its world) are gone.
The dead-man rule for ``--fallback repeat`` is tested on the fake clock, and against a model server
that accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model.actions.env import null_action
from tests.game_fixtures import SPAWN, xdotool
from tests.terminal import as_from_a_terminal
from tests.xdesktop import virtual_display
from tests.xserver import XKeys, released


def _act(**kw: Any) -> dict[str, Any]:
    a = null_action()
    a.update(kw)
    return a


# ----- dead-man rule (fallback "repeat") on the fake clock ----------------------------------------


def _held_per_tick(conn: Any) -> list[bool]:
    """Whether ``forward`` was held after each applied action."""
    out, held = [], False
    for a in conn.applied:
        held = bool(a.get("forward"))
        out.append(held)
    return out


def test_repeat_releases_everything_when_no_fresh_action_comes_for_deadman_s() -> None:
    from app.games.fake import FakeConnector
    from app.runtime.loop import ControlLoop, LoopConfig
    from tests.clock import ClockedPolicy, FakeClock, follow_loop

    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [_act(forward=1, attack=1)], hang_after=2)  # two answers, then silence
    config = LoopConfig(hz=100, seconds=0.6, fallback="repeat", policy_timeout_s=5, deadman_s=0.205)
    loop = ControlLoop(conn, policy, "", config, clock=clock, sleep=clock.sleep)
    follow_loop(clock, loop)
    loop.run()
    policy.close()
    held = _held_per_tick(conn)
    # fresh answers at ticks 1 and 2 (0.01, 0.02 s); repeated while younger than 0.205 s (to tick 22)
    assert held[:1] == [False] and all(held[1:23]), held[:25]
    assert not any(held[23:]), "keys stayed held after the dead-man time"
    assert conn.releases.count("forward") == 1 and conn.releases.count("attack") == 1
    assert "forward" in conn.presses and conn.held == frozenset()


def test_a_fresh_action_after_the_dead_man_holds_keys_again() -> None:
    from app.games.fake import FakeConnector
    from app.runtime.loop import ControlLoop, LoopConfig
    from tests.clock import ClockedPolicy, FakeClock, follow_loop

    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [_act(forward=1)], latency_s=0.3)  # slower than the dead-man time
    config = LoopConfig(hz=100, seconds=0.95, fallback="repeat", policy_timeout_s=5, deadman_s=0.205)
    loop = ControlLoop(conn, policy, "", config, clock=clock, sleep=clock.sleep)
    follow_loop(clock, loop)
    tel = loop.run()
    fresh = [r.tick for r in tel.records if r.fresh]
    assert fresh == [31, 62, 93]
    held = _held_per_tick(conn)
    for tick, upto in zip(fresh, [*fresh[1:], len(held)], strict=True):
        # held from each answer while it is younger than 0.205 s, then released until the next one
        assert all(held[tick : tick + 21]) and not any(held[tick + 21 : upto]), (tick, held)
    assert conn.presses.count("forward") == 3


def test_deadman_off_keeps_repeating() -> None:
    from app.games.fake import FakeConnector
    from app.runtime.loop import ControlLoop, LoopConfig
    from tests.clock import ClockedPolicy, FakeClock, follow_loop

    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [_act(forward=1)], hang_after=1)
    config = LoopConfig(hz=100, seconds=0.5, fallback="repeat", policy_timeout_s=5, deadman_s=None)
    loop = ControlLoop(conn, policy, "", config, clock=clock, sleep=clock.sleep)
    follow_loop(clock, loop)
    loop.run()
    policy.close()
    assert all(_held_per_tick(conn)[1:])


# ----- real doors, real X server -----------------------------------------------------------------

HOLD = {"forward": 1, "sprint": 1, "jump": 1, "attack": 1}  # W, Left Ctrl, Space, left button
KEYSYMS = {"w": 0x77, "ctrl": 0xFFE3, "space": 0x20}
REPO = Path(__file__).resolve().parents[3]


class XServer(XKeys):
    """Held keys by name (keycode where unnamed) and pointer buttons 1–3."""

    def held(self) -> set[str]:
        names = {self.d.keysym_to_keycode(sym): name for name, sym in KEYSYMS.items()}
        keys = {names.get(k, f"keycode {k}") for k in self.keycodes()}
        return keys | {f"button{n}" for n in self.buttons()}

    def wait(self, predicate: Any, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate(self.held()):
                return True
            time.sleep(0.02)
        return False


@pytest.fixture
def xserver(xvfb: str) -> Iterator[XServer]:
    with released(XServer(xvfb)) as state:
        yield state


@pytest.fixture
def looking_up(game: Any) -> Any:
    """The player looks at the sky, so the held left button digs nothing of the shared arena."""
    game.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 -90")
    return game


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (by parent id), with its command line."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in out:
                try:
                    out[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    out[child] = "?"
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_gone(pids: Any, seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


class Door:
    """One jarvis-play command as a process of its own, on the test's X server."""

    def __init__(self, args: list[str], display: str, tmp: Path, window: bool = False) -> None:
        env = dict(
            os.environ,
            DISPLAY=display,
            HF_HUB_OFFLINE="1",
            JARVIS_PLAY_CONFIG_DIR=str(tmp / "config"),
            XDG_DATA_HOME=str(tmp / "data"),  # eval's default recordings folder: not the user's
            PYTHONPATH=str(REPO),
        )
        env.pop("WAYLAND_DISPLAY", None)
        env["QT_QPA_PLATFORM"] = "xcb" if window else "offscreen"
        self.log = tmp / f"door-{time.monotonic_ns()}.log"
        self._out = open(self.log, "w")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            cwd=REPO,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=as_from_a_terminal,
        )

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def finish(self, seconds: float = 20.0) -> int:
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no exit {seconds:g} s after the signal:\n{self.output()}") from exc
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def holding(xserver: XServer, door: Door, seconds: float = 90.0) -> None:
    """Wait until the agent holds all four in the X server (the model loaded and the game focused)."""
    want = {"w", "ctrl", "space", "button1"}
    if not xserver.wait(lambda held: want <= held or door.proc.poll() is not None, seconds):
        raise AssertionError(f"the agent never held {want}: {xserver.held()}\n{door.output()[-3000:]}")
    assert door.proc.poll() is None, door.output()[-3000:]


@pytest.fixture
def hold_file(tmp_path: Path) -> Path:
    path = tmp_path / "hold.jsonl"
    path.write_text(json.dumps(_act(**HOLD)) + "\n")
    return path


def headless(verb: str, hold_file: Path, tmp: Path, *extra: str) -> list[str]:
    if verb == "replay":  # the same held action, one line per tick: two minutes of it
        replay = tmp / "replay.jsonl"
        replay.write_text(hold_file.read_text() * 2400)
        return ["replay", str(replay), "--window", "Minetest", *extra]
    args = [verb, "--model", f"scripted:{hold_file}", "--window", "Minetest", "--seconds", "120", *extra]
    if verb == "record":
        args += ["--mode", "agent", "--out", str(tmp / "episodes")]
    if verb == "eval":  # one trial the person judges: it starts when they press F8
        args += [
            "--instruction",
            "hold it all",
            "--trials",
            "1",
            "--judge",
            "person",
            "--out",
            str(tmp / "evals"),
        ]
    return args


def start_trial(xvfb: str, door: Door) -> None:
    """eval: wait for its call to press the ready key, then press it as the person would."""
    deadline = time.monotonic() + 90
    while "press F8" not in door.output():
        assert time.monotonic() < deadline and door.proc.poll() is None, door.output()[-3000:]
        time.sleep(0.1)
    xdotool(xvfb, "key", "F8")


SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


def assert_left_clean(
    xserver: XServer, door: Door, signum: int, code: int, exits: tuple[int, ...], children: dict[int, str]
) -> None:
    """What a door must leave after ``signum``: nothing held, an expected exit, no traceback, no child."""
    out = door.output()
    assert xserver.held() == set(), f"still held after {signal.Signals(signum).name}: {xserver.held()}"
    assert code in exits, f"exit {code}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert wait_gone(children) == [], {p: children[p] for p in wait_gone(children)}


# run and record with each signal; replay and eval (the same safety net, their own doors) with SIGTERM
# and SIGINT: SIGHUP takes SIGTERM's path in the net, and eval catches SIGINT's KeyboardInterrupt itself
DOOR_SIGNALS = [
    pytest.param(verb, sig, id=f"{signal.Signals(sig).name}-{verb}")
    for verb in ("run", "record", "replay", "eval")
    for sig in (SIGNALS if verb in ("run", "record") else [signal.SIGTERM, signal.SIGINT])
]


@pytest.mark.game
@pytest.mark.parametrize(("verb", "signum"), DOOR_SIGNALS)
def test_headless_doors_release_on_every_signal(
    looking_up: Any, xvfb: str, xserver: XServer, hold_file: Path, tmp_path: Path, verb: str, signum: int
) -> None:
    door = Door(headless(verb, hold_file, tmp_path), xvfb, tmp_path)
    try:
        if verb == "eval":
            start_trial(xvfb, door)
        holding(xserver, door)
        children = descendants(door.proc.pid)
        assert any("app.runtime.watchdog" in c for c in children.values()), children
        door.proc.send_signal(signum)
        code = door.finish()
    finally:
        door.kill()
    assert_left_clean(xserver, door, signum, code, (0, 1, 128 + signum), children)


@pytest.mark.game
def test_sigkill_of_run_releases_within_half_a_second(
    looking_up: Any, xvfb: str, xserver: XServer, hold_file: Path, tmp_path: Path
) -> None:
    door = Door(headless("run", hold_file, tmp_path), xvfb, tmp_path)
    try:
        holding(xserver, door)
        children = descendants(door.proc.pid)
        dogs = [p for p, c in children.items() if "app.runtime.watchdog" in c]
        assert dogs, children
        time.sleep(0.5)  # the watchdog has connected to the display by now (it started with the game)
        t0 = time.monotonic()
        door.proc.kill()  # SIGKILL: no handler runs, only the watchdog can help
        released = xserver.wait(lambda held: not held, 3.0)
        took = time.monotonic() - t0
        door.finish()
    finally:
        door.kill()
    assert released, f"still held after SIGKILL: {xserver.held()}"
    assert took < 0.5, f"released only after {took:.2f} s"
    assert wait_gone(dogs) == []


@pytest.mark.game
@pytest.mark.slow
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_the_window_releases_on_every_signal(
    looking_up: Any, xvfb: str, xserver: XServer, hold_file: Path, tmp_path: Path, signum: int
) -> None:
    args = [
        "window",
        "--model",
        f"scripted:{hold_file}",
        "--game",
        "window:Minetest",
        "--start",
        "--geometry",
        "645,0,635,715",
    ]
    door = Door(args, xvfb, tmp_path, window=True)
    try:
        holding(xserver, door, 120.0)
        children = descendants(door.proc.pid)
        door.proc.send_signal(signum)
        code = door.finish()
    finally:
        door.kill()
    assert_left_clean(xserver, door, signum, code, (0, 128 + signum), children)


# ----- the demo game the app starts must not outlive it --------------------------------------------


@pytest.fixture(scope="module")
def demo_display() -> Iterator[str]:
    """An X server of its own: the demo game's window must not be confused with the shared game's."""
    from app.games.demo_game import find_binary

    if find_binary() is None:
        pytest.skip("minetest is not installed (apt-get install minetest)")
    with virtual_display(1280, 720) as name:
        yield name


def minetests(pids: dict[int, str]) -> list[int]:
    return [p for p, cmd in pids.items() if "minetest" in cmd.split(" ")[0] or "luanti" in cmd.split(" ")[0]]


def demo_door(args: list[str], display: str, tmp: Path, window: bool = False) -> tuple[Door, Path]:
    """A door whose temporary folders (the demo world among them) land in a folder the test watches."""
    temp = tmp / "tmp"
    temp.mkdir()
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(temp)
    try:
        return Door(args, display, tmp, window=window), temp
    finally:
        if old is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old


def demo_worlds(temp: Path) -> list[Path]:
    """The demo worlds' folders under ``temp`` (not the machine-wide start lock file beside them)."""
    return sorted(p for p in temp.glob("jarvis-demo-*") if p.is_dir())


def wait_for_demo(door: Door, temp: Path, ready: str = "demo game running", seconds: float = 90) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = minetests(descendants(door.proc.pid))
        if found and demo_worlds(temp) and (not ready or ready in door.output()):
            return found
        if door.proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"the demo game did not start:\n{door.output()[-3000:]}")


@pytest.mark.game
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_demo_game_command_stops_its_game_and_world_on_signals(
    demo_display: str, tmp_path: Path, signum: int
) -> None:
    door, temp = demo_door(["demo-game", "--arena"], demo_display, tmp_path)
    try:
        games = wait_for_demo(door, temp)
        door.proc.send_signal(signum)
        code = door.finish()
    finally:
        door.kill()
    out = door.output()
    assert code in (0, 128 + signum), f"exit {code}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert wait_gone(games) == [], "the demo game outlived demo-game"
    assert demo_worlds(temp) == [], "its temporary world was left behind"


def games_in(temp: Path) -> list[int]:
    """Every live process whose command line names a folder under ``temp`` (a demo game's world is
    there): found wherever it runs, in whatever session, even one the door never listed as a child."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(temp) in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                pid = int(cmdline.parent.name)
                if alive(pid):
                    found.append(pid)
        except (OSError, ValueError):
            continue
    return found


def _until(check: Any, seconds: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


# Where in the window's start-up a signal lands: a random moment after an event that can be seen from
# outside, so every run hits every phase, wherever the machine's load puts it.
START_UP_PHASES = {
    "launched": 1.5,  # Python, Qt and the session coming up; the game not asked for yet
    "world made": 0.3,  # the demo world's folder exists: minetest is about to start, or starting
    "game running": 1.0,  # minetest runs: its window, the player joining, the connector opening
}


@pytest.mark.game
@pytest.mark.slow
def test_a_signal_at_a_random_moment_of_start_up_leaves_no_game_and_no_world(
    demo_display: str, hold_file: Path, tmp_path: Path
) -> None:
    """The window with the demo game (what `jarvis-play` opens), signalled at a random moment of its
    first seconds: whatever the moment and the signal, no minetest and no world folder outlive it."""
    import random

    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    for phase, spread in START_UP_PHASES.items():
        signum = rng.choice(SIGNALS)
        delay = rng.uniform(0.0, spread)
        what = f"{signal.Signals(signum).name} {delay:.2f} s after '{phase}' (seed {seed})"
        run = tmp_path / phase.replace(" ", "-")
        run.mkdir()
        args = ["window", "--model", f"scripted:{hold_file}", "--game", "demo", "--geometry", "645,0,635,715"]
        door, temp = demo_door(args, demo_display, run, window=True)
        try:
            seen = {
                "launched": lambda: True,
                "world made": lambda temp=temp: bool(demo_worlds(temp)),
                "game running": lambda temp=temp: bool(games_in(temp)),
            }[phase]
            assert _until(lambda seen=seen, door=door: seen() or door.proc.poll() is not None, 90), what
            assert door.proc.poll() is None, f"{what}: the window ended by itself\n{door.output()[-3000:]}"
            time.sleep(delay)
            door.proc.send_signal(signum)
            try:
                code = door.finish(60)
            except AssertionError as exc:
                raise AssertionError(f"{what}: {exc}") from None
        finally:
            door.kill()
        out = door.output()
        print(f"{what}: exit {code}")
        # before its safety net is up (the first fraction of a second, nothing started yet) the signal's
        # default action ends it: -signum, or Python's KeyboardInterrupt for SIGINT. A SIGINT while the
        # interpreter itself still imports its site module (0.02 s in, once) ends it with exit 1 and
        # "Fatal Python error: init_import_site", before any line of ours has run.
        in_python_start = code == 1 and "Fatal Python error: init_import_site" in out
        assert code in (0, 128 + signum, -signum) or in_python_start, f"{what}: exit {code}\n{out[-3000:]}"
        try:
            assert _until(lambda temp=temp: not games_in(temp), 10), f"{what}: the demo game outlived it"
            assert _until(lambda temp=temp: not demo_worlds(temp), 10), f"{what}: its world was left behind"
        finally:  # a failed run must not leave its game on the display for the next
            for pid in games_in(temp):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.game
def test_demo_game_command_killed_leaves_no_game_and_no_world(demo_display: str, tmp_path: Path) -> None:
    door, temp = demo_door(["demo-game", "--arena"], demo_display, tmp_path)
    try:
        games = wait_for_demo(door, temp)
        time.sleep(0.5)
        door.proc.kill()
        door.finish()
    finally:
        door.kill()
    assert wait_gone(games) == [], "the demo game outlived demo-game"
    deadline = time.monotonic() + 10
    while demo_worlds(temp) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert demo_worlds(temp) == [], "its temporary world was left behind"


@pytest.mark.game
@pytest.mark.slow
@pytest.mark.parametrize("door_kind", ["window-SIGTERM", "run-SIGKILL"])
def test_a_door_playing_the_demo_game_takes_it_along(
    demo_display: str, hold_file: Path, tmp_path: Path, door_kind: str
) -> None:
    """The window (SIGTERM) and ``run`` (SIGKILL, so only the watchdog can clean up) started the demo
    game themselves: keys, game and world all go with them."""
    verb, how = door_kind.split("-")
    xserver = XServer(demo_display)
    if verb == "window":
        args = [
            "window",
            "--model",
            f"scripted:{hold_file}",
            "--game",
            "demo",
            "--start",
            "--geometry",
            "645,0,635,715",
        ]
    else:
        args = ["run", "--model", f"scripted:{hold_file}", "--game", "demo", "--seconds", "120"]
    door, temp = demo_door(args, demo_display, tmp_path, window=verb == "window")
    try:
        holding(xserver, door, 120.0)
        games = minetests(descendants(door.proc.pid))
        assert games and demo_worlds(temp)
        if how == "SIGKILL":
            time.sleep(0.5)
            door.proc.kill()
        else:
            door.proc.send_signal(signal.SIGTERM)
        door.finish()
        assert xserver.wait(lambda held: not held, 0.5), f"still held: {xserver.held()}"
        assert wait_gone(games) == [], "the demo game outlived the app"
        deadline = time.monotonic() + 10
        while demo_worlds(temp) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert demo_worlds(temp) == [], "its temporary world was left behind"
    finally:
        door.kill()
        xserver.release_everything()
        xserver.d.close()


# ----- the dead-man rule against a model server that stops answering ------------------------------


class StallingServer:
    """An OpenAI-compatible server that answers ``/models`` and the first chat request (an action
    that holds W, Ctrl, Space and the left button), then accepts every later request and never
    answers it: the hung server of issue 16."""

    def __init__(self, answers: int = 1) -> None:
        import http.server
        import threading

        from model.actions.codec import ActionCodec

        codec = ActionCodec()
        text = codec.text(codec.encode(_act(**HOLD)))
        state = {"left": answers}
        self.release = threading.Event()
        release = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None: ...

            def _json(self, data: Any) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._json({"data": [{"id": "stalling"}]})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if state["left"] > 0:
                    state["left"] -= 1
                    self._json({"choices": [{"message": {"content": text}}]})
                else:
                    release.wait(120)  # accepted, never answered

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.game
@pytest.mark.parametrize("deadman", ["1", "0"])
def test_repeat_with_a_hung_server_releases_after_the_dead_man_time(
    looking_up: Any, xvfb: str, xserver: XServer, tmp_path: Path, deadman: str
) -> None:
    server = StallingServer()
    args = [
        "run",
        "--model",
        server.url,
        "--window",
        "Minetest",
        "--seconds",
        "60",
        "--fallback",
        "repeat",
        "--deadman",
        deadman,
    ]
    door = Door(args, xvfb, tmp_path)
    try:
        holding(xserver, door)
        t0 = time.monotonic()
        released = xserver.wait(lambda held: not held, 4.0)
        took = time.monotonic() - t0
        assert door.proc.poll() is None, "the run ended instead of waiting for the model"
        door.proc.send_signal(signal.SIGTERM)
        door.finish()
    finally:
        door.kill()
        server.close()
    if deadman == "0":  # the rule off: the hung server's last answer stays held (the bug it fixes)
        assert not released, f"released after {took:.1f} s without the rule:\n{door.output()[-3000:]}"
    else:
        assert released, f"still held {took:.1f} s after the last answer: {xserver.held()}"
        assert took < 2.0


# ----- item 6: ending mid model call, a closed game window, a bad --model --------------------------


@pytest.mark.slow  # three real `run`s of the tiny model, each ended by a signal: about a minute
def test_run_ended_by_a_signal_mid_model_call_exits_cleanly(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The tiny model takes a while per call on CPU: a signal lands while a call is in flight, and
    closing the model (or exiting) under it used to abort the interpreter (exit 134)."""
    for attempt, delay in enumerate((4.0, 4.3, 4.6)):
        door = Door(["run", "--model", str(tiny_model_dir), "--fake", "--seconds", "60"], "", tmp_path)
        try:
            deadline = time.monotonic() + 120
            while "playing:" not in door.output() and time.monotonic() < deadline:
                assert door.proc.poll() is None, door.output()[-3000:]
                time.sleep(0.1)
            time.sleep(delay - 4.0 + 0.5)
            door.proc.send_signal(signal.SIGTERM)
            code = door.finish(60)
        finally:
            door.kill()
        out = door.output()
        assert code in (0, 143), f"attempt {attempt}: exit {code}\n{out[-3000:]}"
        assert "Traceback" not in out and "Aborted" not in out, out[-3000:]


@pytest.mark.slow  # a real `run` of the tiny model to its own end: 10-20 s
def test_run_that_ends_by_its_own_clock_mid_model_call_exits_cleanly(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    door = Door(["run", "--model", str(tiny_model_dir), "--fake", "--seconds", "1.3"], "", tmp_path)
    try:
        code = door.finish(180)
    finally:
        door.kill()
    out = door.output()
    assert code == 0, f"exit {code}\n{out[-3000:]}"
    assert "stopped:" in out and "Traceback" not in out, out[-3000:]


@pytest.mark.parametrize("verb", ["run", "record"])
@pytest.mark.parametrize("model", ["/nonexistent/checkpoint", "owner/no-such-model", "scripted:/nope.jsonl"])
def test_a_bad_model_is_a_message_not_a_traceback(tmp_path: Path, verb: str, model: str) -> None:
    args = [verb, "--model", model, "--fake", "--seconds", "1"]
    if verb == "record":
        args += ["--mode", "agent", "--out", str(tmp_path / "episodes")]
    door = Door(args, "", tmp_path)
    try:
        code = door.finish(120)
    finally:
        door.kill()
    out = door.output()
    assert code not in (0, None), out
    assert "Traceback" not in out, out[-3000:]
    assert "jarvis-play" in out and len(out.strip().splitlines()) <= 12, out


@pytest.mark.game
def test_a_game_window_closed_mid_run_is_a_message_and_a_failing_exit(
    demo_display: str, hold_file: Path, tmp_path: Path
) -> None:
    from app.games.demo_game import DemoGame, DemoGameConfig

    game = DemoGame(DemoGameConfig(arena=True, die_with_parent=True), display=demo_display).start()
    xserver = XServer(demo_display)
    try:
        assert game.proc is not None
        args = ["run", "--model", f"scripted:{hold_file}", "--pid", str(game.proc.pid), "--seconds", "60"]
        door = Door(args, demo_display, tmp_path)
        try:
            game.command("tp 0 100 0 0 -90")
            holding(xserver, door, 90)
            game.proc.terminate()  # the person closes the game
            code = door.finish(30)
        finally:
            door.kill()
        out = door.output()
        assert code not in (0, None), out[-3000:]
        assert "Traceback" not in out, out[-3000:]
        assert "jarvis-play run: Could not keep playing: the game window" in out, out[-3000:]
        assert "The game was closed" in out
        assert xserver.held() == set()
    finally:
        game.close()
        xserver.release_everything()
        xserver.d.close()
