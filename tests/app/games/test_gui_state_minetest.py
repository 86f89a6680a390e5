"""GUI screens read from the real game: minetest under Xvfb shows its pointer only while a screen is open.

The person opens the inventory with the key the demo game binds to the env's ``inventory`` (E, as in
Minecraft; minetest's own default is I), the agent opens it with its inventory action, and the pointer
moves: the frames handed to the policy carry VPT's cursor sprite exactly where the pointer is, the
observed (recorded) frames never do, and once the screen closes the policy's frames are plain again.
A recording of the same ticks stores ``isGuiOpen`` and ``mouse.x/y`` from the game, and the SFT export
draws the sprite on its GUI ticks only.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.games.desktop import DesktopConfig, DesktopConnector
from model.actions.env import null_action
from model.cursor import draw_cursor, load_sprite
from tests.game_fixtures import xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.game]


@pytest.fixture
def conn(game: Any, xvfb: str) -> Iterator[DesktopConnector]:
    c = DesktopConnector(DesktopConfig(pid=game.proc.pid), display=xvfb).open()
    try:
        yield c
    finally:
        c.observe()
        if c.gui_open:  # leave the shared game in the world for the next test
            xdotool(xvfb, "key", "Escape")
        c.close()


def _until(conn: DesktopConnector, want: Callable[[DesktopConnector], bool], what: str) -> np.ndarray:
    """Observe until the game's state says ``want`` (the game reacts within a frame or two)."""
    deadline = time.monotonic() + 5.0
    while True:
        frame = conn.observe()
        if want(conn):
            return frame
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the game never showed {what} (gui_open={conn.gui_open}, cursor={conn.cursor})"
            )
        time.sleep(0.05)


def _sprite_box(drawn: np.ndarray, plain: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pixels the sprite changed."""
    changed = np.argwhere((drawn != plain).any(axis=2))
    assert len(changed), "no sprite in the policy's frame"
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    return int(top), int(left), int(bottom), int(right)


def _shows_sprite_at(conn: DesktopConnector, frame: np.ndarray, x: int, y: int) -> None:
    seen = conn.policy_frame(frame)
    assert np.array_equal(seen, draw_cursor(frame, x, y))  # the window is 640×360: window px = frame px
    top, left, bottom, right = _sprite_box(seen, frame)
    assert (top, left) == (y, x) and bottom < y + 16 and right < x + 16  # the arrow's tip at the pointer


def test_person_and_agent_open_the_inventory_and_the_policy_sees_the_cursor(
    conn: DesktopConnector, xvfb: str
) -> None:
    assert conn.gui_source == "game cursor"
    left, top, width, height = conn.rect
    assert (width, height) == (640, 360)

    world = _until(conn, lambda c: not c.gui_open, "the world")
    assert conn.cursor == (320.0, 180.0)  # minetest keeps the pointer at the centre while steering
    assert conn.policy_frame(world) is world  # nothing drawn in the world

    # the person presses the inventory key and moves the mouse
    xdotool(xvfb, "key", "e")
    _until(conn, lambda c: c.gui_open, "its inventory after the person's E")
    xdotool(xvfb, "mousemove", str(left + 150), str(top + 250))
    frame = _until(conn, lambda c: c.cursor == (150.0, 250.0), "the pointer at (150, 250)")
    _shows_sprite_at(conn, frame, 150, 250)
    xdotool(xvfb, "mousemove", str(left + 451), str(top + 97))
    frame = _until(conn, lambda c: c.cursor == (451.0, 97.0), "the pointer at (451, 97)")
    _shows_sprite_at(conn, frame, 451, 97)
    # off the game (the screen is 1280×720, the game 640×360 at its top-left): the cursor on show is
    # not the game's, so the state read over the game holds, and the position stops at the edge
    xdotool(xvfb, "mousemove", str(left + 900), str(top + 500))
    _until(conn, lambda c: c.cursor == (639.0, 359.0), "the pointer clipped to the window's corner")
    assert conn.gui_open

    xdotool(xvfb, "key", "Escape")
    closed = _until(conn, lambda c: not c.gui_open, "the world after Escape")
    assert conn.policy_frame(closed) is closed

    # the agent's inventory action opens it; its camera then moves the cursor (GUI law, clipped)
    conn.apply(dict(null_action(), inventory=1))
    conn.apply(null_action())
    _until(conn, lambda c: c.gui_open, "its inventory after the agent's inventory action")
    start = conn.cursor
    assert start is not None
    conn.apply(dict(null_action(), camera=[0.0, 3.0]))  # 3° right: 3 / 0.15 · guiScale 2 = 40 px
    frame = _until(conn, lambda c: c.cursor != start, "the cursor moved by the agent")
    assert conn.cursor == (start[0] + 40.0, start[1])
    _shows_sprite_at(conn, frame, int(start[0]) + 40, int(start[1]))

    xdotool(xvfb, "key", "Escape")
    closed = _until(conn, lambda c: not c.gui_open, "the world after Escape")
    assert conn.policy_frame(closed) is closed


def test_recorded_lines_carry_the_games_gui_state_and_the_export_draws_the_cursor(
    conn: DesktopConnector, xvfb: str, tmp_path: Path
) -> None:
    """A teleop recording fed the connector's readings; the video stays cursor-free, the export draws it."""
    from model.finetune.sft_data import SftOptions, episode_records
    from recorder.episodes.format import EpisodeMeta, list_episodes
    from recorder.episodes.reader import EpisodeReader
    from recorder.episodes.session_recorder import SessionRecorder
    from recorder.input.camera_law import CameraLaw
    from recorder.input.human_actions import TickInput

    left, top, width, height = conn.rect
    meta = EpisodeMeta(mode="teleop", game="minetest", window={"width": width, "height": height})
    rec = SessionRecorder(tmp_path, meta, law=CameraLaw.minecraft(), ring_seconds=0, recover=False)
    assert rec.start()

    def tick() -> None:
        frame = conn.observe()
        rec.on_tick(
            frame,
            control="human",
            instruction="craft_item:crafting_table",
            tick_input=TickInput(),
            is_gui_open=conn.gui_open,
            cursor=conn.cursor,
        )

    _until(conn, lambda c: not c.gui_open, "the world")
    for _ in range(3):
        tick()
    xdotool(xvfb, "key", "e")
    _until(conn, lambda c: c.gui_open, "its inventory")
    xdotool(xvfb, "mousemove", str(left + 120), str(top + 300))  # over the dark inventory slots
    _until(conn, lambda c: c.cursor == (120.0, 300.0), "the pointer at (120, 300)")
    for _ in range(3):
        tick()
    xdotool(xvfb, "key", "Escape")
    _until(conn, lambda c: not c.gui_open, "the world after Escape")
    for _ in range(2):
        tick()
    rec.close("stopped")

    (folder,) = list_episodes(tmp_path)
    reader = EpisodeReader(folder)
    lines = reader.lines
    assert [line["isGuiOpen"] for line in lines] == [False] * 3 + [True] * 3 + [False] * 2
    assert [(line["mouse"]["x"], line["mouse"]["y"]) for line in lines[3:6]] == [(120.0, 300.0)] * 3
    assert all((line["mouse"]["x"], line["mouse"]["y"]) == (320.0, 180.0) for line in lines[:3])
    frames = list(reader.frames(limit=len(lines)))
    sprite, alpha = load_sprite()
    white = (alpha[:, :, 0] == 1.0) & (sprite == 255).all(axis=2)  # the arrow, not its black outline
    assert frames[4][300:316, 120:136][white].mean() < 150  # the video has no cursor (dark slots there)

    records = list(episode_records(folder, SftOptions(image_format="png", skip_flags=())))
    assert [r["tick"] for r in records] == list(range(8))
    for line, frame, record in zip(lines, frames, records, strict=True):
        image = np.asarray(Image.open(io.BytesIO(record["image_bytes"][0])).convert("RGB"))
        if line["isGuiOpen"]:
            assert np.array_equal(image, draw_cursor(frame, 120, 300))
            assert image[300:316, 120:136][white].min() >= 230  # the white arrow is there
        else:
            assert np.array_equal(image, frame)


def _has_sprite_at(frame: np.ndarray, x: int, y: int) -> bool:
    """The sprite's exact signature: its white arrow at 255 and its black outline at 0."""
    sprite, alpha = load_sprite()
    patch = frame[y : y + 16, x : x + 16].astype(int)
    opaque = alpha[:, :, 0] == 1.0
    return bool((patch[opaque] == sprite[opaque]).all())


def test_the_play_loop_hands_the_policy_the_cursor_while_the_inventory_is_open(
    conn: DesktopConnector, xvfb: str
) -> None:
    import threading

    from app.runtime.loop import ControlLoop, LoopConfig
    from model.policies.base import PolicyStep

    class Watching:
        """A policy that only looks: every frame it is handed, and whether the game had a screen open."""

        def __init__(self) -> None:
            self.seen: list[tuple[bool, np.ndarray]] = []

        def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
            self.seen.append((conn.gui_open, frame))
            time.sleep(0.02)
            return PolicyStep(actions=[null_action()])

        def reset(self) -> None: ...

        def close(self) -> None: ...

    policy = Watching()
    loop = ControlLoop(conn, policy, "craft_item:crafting_table", LoopConfig(hz=20, seconds=30))
    runner = threading.Thread(target=loop.run, daemon=True)
    left, top = conn.rect[:2]
    runner.start()
    try:
        time.sleep(0.5)
        xdotool(xvfb, "key", "e")
        time.sleep(0.5)
        xdotool(xvfb, "mousemove", str(left + 200), str(top + 150))
        time.sleep(1.0)
        xdotool(xvfb, "key", "Escape")
        time.sleep(1.0)
    finally:
        loop.stop()
        runner.join(10)
    assert loop.error is None and len(policy.seen) > 20
    marked = [_has_sprite_at(frame, 200, 150) for _gui, frame in policy.seen]
    assert any(marked)  # the inventory with the pointer at (200, 150): the sprite is there
    first = marked.index(True)
    last = len(marked) - 1 - marked[::-1].index(True)
    assert not any(marked[:first]) and all(marked[first : last + 1])  # the pointer stayed there
    assert not any(marked[last + 1 :]) and len(marked) - last > 5  # closed: plain frames again
    assert not policy.seen[0][0] and not policy.seen[-1][0]
