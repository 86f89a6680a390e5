"""What a Wayland session with the game under XWayland must do, checked the same way on every compositor.

A module per compositor (test_sway.py, test_mutter.py) starts one compositor and one minetest on its
XWayland (``wayland_game``), puts the session's environment (``WAYLAND_DISPLAY`` set, as in a real
session) into this process, and imports these tests. Each goes through a door a person uses — the
``doctor``, ``run``, ``record`` and ``window`` commands, or the session with a real ``open_game`` —
and is judged by the game's own pose log, the X server's held keys, the recorded files and the
window's screenshot. "The person" is xdotool: XTEST input into XWayland that jarvis-play did not make,
which reaches the X clients just as the compositor's forwarding of a real keyboard and mouse does.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.compositors import Compositor
from tests.conftest import REPO
from tests.game_fixtures import SPAWN, let_go_of_everything

MAGENTA = (255, 0, 255)


@dataclass
class WaylandGame:
    compositor: Compositor
    game: Any  # app.games.demo_game.DemoGame on the compositor's XWayland

    @property
    def display(self) -> str:
        return self.compositor.display

    def env(self, tmp_path: Path) -> dict[str, str]:
        """A jarvis-play process of this session: offline, its own settings, Qt left to choose."""
        env = self.compositor.client_env(HF_HUB_OFFLINE="1", JARVIS_PLAY_CONFIG_DIR=str(tmp_path / "config"))
        for name in ("QT_QPA_PLATFORM", "PYNPUT_BACKEND"):
            env.pop(name, None)
        return env

    def xdotool(self, *args: str) -> None:
        """The person: real XTEST input on the session's XWayland."""
        subprocess.run(["xdotool", *args], env=self.compositor.client_env(), check=True, timeout=10)

    def reset(self) -> None:
        self.game.command(f"tp {SPAWN[0]} {SPAWN[1]} {SPAWN[2]} 0 0", "setnode 0 99 0 default:stone")
        self.game.focus()
        time.sleep(0.3)  # the client echoes its old look direction for a moment after a teleport


def wayland_game(session: Any) -> Iterator[WaylandGame]:
    """The body of each compositor module's fixture: ``session`` (a tests.compositors context
    manager) started, its environment in this process, minetest on its XWayland with focus."""
    from app.games.demo_game import DemoGame, DemoGameConfig, find_binary

    if find_binary() is None:
        pytest.skip("minetest is not installed (apt-get install minetest)")
    with session as compositor, pytest.MonkeyPatch.context() as mp:
        for name in ("QT_QPA_PLATFORM_XCB", "PYNPUT_BACKEND", "XAUTHORITY", "SWAYSOCK"):
            mp.delenv(name, raising=False)
        for name, value in compositor.env.items():
            mp.setenv(name, value)
        game = DemoGame(DemoGameConfig(arena=True, die_with_parent=True), display=compositor.display)
        game.start()
        try:
            yield WaylandGame(compositor, game)
        finally:
            game.close()


@pytest.fixture(autouse=True)
def nothing_left_held_on_xwayland(wl: WaylandGame) -> Iterator[None]:
    """After each test: no key or button down on the session's XWayland (the check of
    tests/game_fixtures.py's ``nothing_left_held``, here): one left down reads as a person holding it,
    and the next test's agent would wait for them to let go."""
    yield
    keys, buttons = let_go_of_everything(wl.display)
    assert not keys and not buttons, f"left held on {wl.display}: keycodes {keys}, mouse buttons {buttons}"


def pose_turn(poses: list[Any]) -> float:
    """Degrees turned right over a pose sequence (minetest yaw grows to the left), unwrapped."""
    total = 0.0
    for a, b in itertools.pairwise(poses):
        d = math.degrees(b.yaw - a.yaw) % 360.0
        total -= d - 360.0 if d > 180.0 else d
    return total


def cli(*argv: str) -> int:
    from app import cli as app_cli

    return int(app_cli.main(list(argv)))


def jarvis(env: dict[str, str], *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *argv],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish_any(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """Whatever a stopped process printed, killed if it will not end."""
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


# ----- the tests, imported by each compositor's module ----------------------------------------------
def test_doctor_says_xwayland_and_why(wl: WaylandGame, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("doctor", "--model", "scripted:/dev/null", "--no-load") == 0
    out = capsys.readouterr().out
    print(out)
    assert f"wayland ({'sway' if wl.compositor.name == 'sway' else 'gnome'}), X display {wl.display}" in out
    assert (
        f"backend    xwayland: {'sway' if wl.compositor.name == 'sway' else 'gnome'} Wayland session" in out
    )
    assert "never while a native Wayland window has it" in out


def test_the_agent_plays_and_the_pose_log_shows_it(
    wl: WaylandGame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wl.reset()
    before = wl.game.pose()
    script = tmp_path / "walk.jsonl"
    script.write_text(json.dumps({"forward": 1, "camera": [0.0, 1.5]}) + "\n")
    # listening too: the panic key and the person's takeover go through XWayland's RECORD
    assert (
        cli("run", "--window", "Minetest", "--model", f"scripted:{script}", "--seconds", "2", "--json") == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    time.sleep(0.3)
    after = wl.game.pose()
    moved = math.dist(before.pos, after.pos)
    turned = pose_turn([before, after])
    name, injected = wl.compositor.name, summary["injected"]
    print(f"{name}: {injected} ticks injected, walked {moved:.2f} m, turned {turned:.1f}°")
    assert summary["injected"] >= 20 and summary["unfocused_ticks"] <= 2
    assert moved > 1.0  # forward for 2 s: minetest walks 4 m/s
    assert turned > 20  # 1.5° right per tick at 20 Hz, minus what minetest drops under load


def test_the_panic_key_releases_everything(wl: WaylandGame, tmp_path: Path) -> None:
    from Xlib import X
    from Xlib import display as xdisplay

    wl.reset()
    script = tmp_path / "hold.jsonl"
    script.write_text(json.dumps({"forward": 1, "attack": 1}) + "\n")
    run = jarvis(wl.env(tmp_path), "run", "--window", "Minetest", "--model", f"scripted:{script}",
                 "--seconds", "60", "--json")  # fmt: skip
    d = xdisplay.Display(wl.display)
    w = d.keysym_to_keycode(0x77)

    def held() -> tuple[bool, bool]:
        return bool(d.query_keymap()[w // 8] & (1 << w % 8)), bool(
            d.screen().root.query_pointer().mask & X.Button1Mask
        )

    try:
        deadline = time.monotonic() + 60
        while held() != (True, True):
            if run.poll() is not None or time.monotonic() > deadline:
                run.terminate()  # its summary says why: focus, the listener's takeovers, an error
                printed = finish_any(run)
                said = f"{printed[:2000]}\n…\n{printed[-2000:]}"
                pytest.fail(f"the agent never held W and the button {held()}: {said}")
            time.sleep(0.05)
        wl.xdotool("key", "F12")
        output = finish(run, 30)
        assert held() == (False, False), output
    finally:
        if run.poll() is None:
            run.kill()
        d.close()
    assert '"stop_reason": "panic key"' in output or "panic" in output, output[-2000:]
    time.sleep(0.3)
    assert wl.game.pose().control["up"] is False and wl.game.pose().control["dig"] is False


@pytest.mark.nondeterministic(
    "minetest drops part of a pointer move when both cores are busy, so the game turns less than labelled"
)
def test_the_persons_input_is_human_and_its_labels_match_the_turn(wl: WaylandGame, tmp_path: Path) -> None:
    from recorder.episodes import EpisodeReader

    wl.reset()
    script = tmp_path / "idle.jsonl"
    script.write_text("{}\n")
    out = tmp_path / "episodes"
    wl.game.log.poll()
    start = len(wl.game.log.poses)
    record = jarvis(wl.env(tmp_path), "record", "--window", "Minetest", "--out", str(out), "--mode",
                    "corrections", "--model", f"scripted:{script}", "--seconds", "6")  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(sum(1 for _ in a.open()) >= 10 for a in out.glob("*/actions.jsonl")):
        assert record.poll() is None and time.monotonic() < deadline, (
            record.stdout.read() if record.stdout else ""
        )
        time.sleep(0.05)
    # a person's hand is on the mouse before turning: the first position the listener sees in the
    # game is where the pointer arrived, not a move (a 1-pixel jiggle: 0.17°, inside the tolerance)
    wl.xdotool("mousemove_relative", "--", "1", "0")
    time.sleep(0.2)
    for dx in (60, -25, 40, 30):  # the person turns right, back a little, right again
        wl.xdotool("mousemove_relative", "--", str(dx), "0")
        time.sleep(0.25)
    wl.xdotool("keydown", "w", "sleep", "0.4", "keyup", "w")
    printed = finish(record)
    time.sleep(0.3)
    wl.game.log.poll()
    truth = pose_turn(wl.game.log.poses[max(start - 1, 0) :])
    folder = next(out.glob("*/"))
    lines = EpisodeReader(folder).lines
    labelled = sum(line["action"]["camera"][1] for line in lines)
    turning = [line for line in lines if line["action"]["camera"][1] != 0]
    walking = [line for line in lines if line["action"]["forward"]]
    print(f"{wl.compositor.name}: labelled {labelled:.2f}°, the game turned {truth:.2f}°")
    moves = [(i, round(line["action"]["camera"][1], 2), line["control"]) for i, line in enumerate(lines)]
    print(printed[-1200:], [m for m in moves if m[1]])
    assert truth > 10  # the game did turn: 105 px right
    assert abs(labelled - truth) <= max(1.0, 0.05 * abs(truth)), (labelled, truth)
    assert turning and all(line["control"] == "human" for line in turning)
    assert walking and all(line["control"] == "human" for line in walking)


class _Cover:
    """An X11 window in a solid colour over the game (override-redirect: no compositor tiles or moves
    it), the way a dialog or a notification sits on top."""

    def __init__(self, display: str, rect: tuple[int, int, int, int]) -> None:
        from Xlib import X
        from Xlib import display as xdisplay

        self.d = xdisplay.Display(display)
        screen = self.d.screen()
        pixel = screen.default_colormap.alloc_color(0xFFFF, 0, 0xFFFF).pixel
        left, top, width, height = rect
        self.win = screen.root.create_window(
            left + width // 4, top + height // 4, width // 2, height // 2, 0, screen.root_depth,
            X.InputOutput, background_pixel=pixel, override_redirect=True,
        )  # fmt: skip
        self.win.set_wm_name("a window over the game")
        self.win.map()
        self.d.sync()

    def close(self) -> None:
        self.win.destroy()
        self.d.close()


def _magenta(frame: np.ndarray) -> int:
    return int((np.abs(frame.astype(int) - np.array(MAGENTA)).sum(axis=2) < 60).sum())


def test_a_window_over_the_game_never_reaches_the_model_or_the_recording(
    wl: WaylandGame, tmp_path: Path
) -> None:
    from app.games.spec import GameSpec, open_game
    from app.session import Session
    from app.settings import Settings
    from model.policies.scripted import ScriptedPolicy
    from recorder.episodes import EpisodeReader, list_episodes
    from tests.sessions import _LentGame

    wl.reset()
    game = open_game(GameSpec.parse("window:Minetest"))
    cover = None
    seen: list[np.ndarray] = []

    class Watching(ScriptedPolicy):
        def act(self, frame: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            seen.append(np.asarray(frame))
            return super().act(frame, *args, **kwargs)

    try:
        connector = game.connector
        assert connector.desktop.name == "xwayland" and connector.capture_kind == "window"
        cover = _Cover(wl.display, connector.rect)
        watch = connector.desktop.cover_watch()
        try:  # the X server stacks it over the game: a screen grab would show it
            assert "a window over the game" in (watch.reason(connector.window_id, connector.rect) or "")
        finally:
            watch.close()
        script = tmp_path / "turn.jsonl"
        script.write_text(json.dumps({"camera": [0.0, 0.5]}) + "\n")
        policy = Watching([{"camera": [0.0, 0.5]}], loop=True)
        lent = _LentGame(GameSpec("fake"), connector, "the game under XWayland", game_name="minetest")
        session = Session(
            Settings(record=True, record_mode="agent", episodes_dir=str(tmp_path / "episodes")),
            game_factory=lambda *_a, **_k: lent,
            policy_factory=lambda *_a: policy,
            listen=False,
        )
        session.open_game("fake")
        session.load_model(f"scripted:{script}")  # a file: no model folder to build
        try:
            session.start(seconds=2.5)
            outcome = session.wait(60)
        finally:
            session.close()
    finally:
        if cover is not None:
            cover.close()
        game.close()
    assert outcome is not None and outcome.telemetry is not None
    assert outcome.telemetry.injected > 5, outcome.telemetry.summary()
    recorded = [np.asarray(f) for f in EpisodeReader(list_episodes(tmp_path / "episodes")[0]).frames()]
    assert seen and recorded
    print(f"{wl.compositor.name}: {len(seen)} frames to the model, {len(recorded)} recorded, no cover")
    assert max(_magenta(f) for f in seen) == 0
    assert max(_magenta(f) for f in recorded) == 0
    assert all(f.std() > 5 for f in recorded)  # the game's picture, not a blank


def test_a_native_wayland_window_is_refused_with_how_to_run_it_under_xwayland(
    wl: WaylandGame, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli("run", "--window", "weston-terminal", "--model", "scripted:/dev/null", "--seconds", "1")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "native Wayland" in err and "XWayland" in err


def test_the_window_opens_and_its_screenshot_shows_the_game(wl: WaylandGame, tmp_path: Path) -> None:
    from PIL import Image

    wl.reset()
    script = tmp_path / "walk.jsonl"
    script.write_text(json.dumps({"forward": 1, "camera": [0.0, 1.0]}) + "\n")
    shot, report = tmp_path / f"window_{wl.compositor.name}.png", tmp_path / "report.json"
    window = jarvis(wl.env(tmp_path), "window", "--model", f"scripted:{script}", "--game",
                    "window:Minetest", "--start", "--quit-after", "3", "--screenshot", str(shot),
                    "--report", str(report))  # fmt: skip
    output = finish(window, 180)
    data = json.loads(report.read_text())
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    Image.open(shot).save(artifacts / shot.name)
    assert data["started"] and data["errors"] == [], (data["errors"], output[-2000:])
    said = " ".join(data["notes"])
    assert "never while a native Wayland window has it" in said  # what this desktop cannot do, shown
    assert "overlaps the game" not in said  # placed beside the game, by us or by a tiling compositor
    assert data["telemetry"]["injected"] >= 20, (data["telemetry"], data["focus"], output[-2000:])
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    h, w = pixels.shape[:2]
    assert h >= 300 and w >= 400
    assert pixels[60 : h // 2, 20 : w - 260].std() > 20  # the live game in the view
