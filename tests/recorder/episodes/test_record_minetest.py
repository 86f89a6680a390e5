"""`jarvis-play record` against a real minetest under Xvfb, with xdotool playing the person.

xdotool sends real XTEST input that jarvis-play did not make, exactly as a person's keyboard and mouse
would arrive. The recorded episode must hold one frame per line, about 20 of each per second, the
person's key presses and mouse moves in the right ticks with the right signs, and — in corrections
mode — the agent's own injected input labelled agent and the person's labelled human.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recorder.episodes import EpisodeReader
from tests.game_fixtures import xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.game]


def start_record(display: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DISPLAY": display, "HF_HUB_OFFLINE": "1"}
    env.pop("PYNPUT_BACKEND", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "record",
            "--window",
            "Minetest",
            "--out",
            str(out),
            "--degrees-per-count",
            "0.15",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_lines(out: Path, n: int, process: subprocess.Popen[str], timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for actions in out.glob("*/actions.jsonl"):
            if sum(1 for _ in actions.open()) >= n:
                return actions.parent
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.05)
    raise AssertionError(f"no episode with {n} lines under {out}")


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


def episode(folder: Path) -> tuple[list[dict[str, Any]], int]:
    from recorder.episodes.reader import EpisodeReader

    reader = EpisodeReader(folder)
    frames = sum(1 for _ in reader.frames())
    return reader.lines, frames


def test_teleop_records_the_persons_keys_and_moves_in_the_right_ticks(
    game: Any, xvfb: str, tmp_path: Path
) -> None:
    out = tmp_path / "episodes"
    process = start_record(xvfb, out, "--mode", "teleop", "--seconds", "5", "--instruction", "walk north")
    folder = wait_lines(out, 10, process)
    xdotool(xvfb, "keydown", "w")
    time.sleep(1.0)
    xdotool(xvfb, "keyup", "w")
    time.sleep(0.5)
    xdotool(xvfb, "mousemove_relative", "--", "30", "0")  # 30 counts right = 4.5° at 0.15°/count
    time.sleep(0.5)
    xdotool(xvfb, "click", "1")
    finish(process)

    lines, frames = episode(folder)
    assert frames == len(lines)
    assert 85 <= len(lines) <= 110  # 5 s at 20 ticks per second
    assert [line["tick"] for line in lines] == list(range(len(lines)))
    assert {line["control"] for line in lines} == {"human"}
    w_ticks = [i for i, line in enumerate(lines) if "key.keyboard.w" in line["keyboard"]["keys"]]
    assert 16 <= len(w_ticks) <= 26 and w_ticks == list(range(w_ticks[0], w_ticks[-1] + 1))  # one held run
    assert all(lines[i]["action"]["forward"] == 1 for i in w_ticks)
    assert sum(line["action"]["forward"] for line in lines) == len(w_ticks)
    turns = [i for i, line in enumerate(lines) if line["action"]["camera"][1] != 0]
    assert turns and all(lines[i]["action"]["camera"][1] > 0 for i in turns)  # right is +yaw
    assert sum(lines[i]["mouse"]["dx"] for i in turns) == pytest.approx(30, abs=3)
    assert all(abs(line["action"]["camera"][0]) < 0.5 for line in lines)  # no vertical motion
    clicks = [i for i, line in enumerate(lines) if line["action"]["attack"]]
    assert clicks and all(0 in lines[i]["mouse"]["buttons"] for i in clicks)
    assert w_ticks[-1] < turns[0] < clicks[0]  # in the order the person did them
    assert turns[0] - w_ticks[-1] >= 6  # ~0.5 s apart, not smeared into neighbouring ticks


def test_each_frame_is_labelled_with_the_input_that_came_after_it(
    game: Any, landmarks: Any, xvfb: str, tmp_path: Path
) -> None:
    """VPT's pairing (spec §5.1): line i is the action taken *from* frame i, so frame i must not show
    its own label's move yet. The truth is the game's own rendering in the recorded video: around each
    isolated mouse move the frames are still up to the labelled frame and change only after it. (The
    input that came before a frame is already on screen in a desktop game: as a label it would teach
    the model to repeat what it sees done.)"""
    import numpy as np

    out = tmp_path / "episodes"
    process = start_record(xvfb, out, "--mode", "teleop", "--seconds", "7")
    folder = wait_lines(out, 10, process)
    rng = np.random.default_rng(3)
    for _ in range(10):  # isolated moves: still frames on both sides of each
        xdotool(xvfb, "mousemove_relative", "--", str(int(rng.choice([-60, 60]))), "0")
        time.sleep(float(rng.uniform(0.35, 0.5)))
    finish(process)

    lines, _ = episode(folder)
    video = np.stack([f.astype(np.int16) for f in EpisodeReader(folder).frames()])
    change = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))  # change[t]: frame t -> t+1
    moves = [t for t, line in enumerate(lines) if line["action"]["camera"][1] != 0]
    moves = [t for t in moves if 1 <= t < len(change) - 3]
    assert len(moves) >= 7, moves
    still = float(np.median(change))
    before = [float(change[t - 1]) for t in moves]  # frame t-1 -> t: must not show t's move
    after = [float(max(change[t : t + 3])) for t in moves]  # the move shows within 3 frames after
    print(f"still {still:.2f}; before {np.round(before, 2).tolist()}; after {np.round(after, 2).tolist()}")
    assert all(a > 4 * max(still, 0.05) for a in after), "a labelled move never showed in the game"
    # "still": within the game's flicker, or under a tenth of the change the move itself makes (one run
    # saw 0.32 beside moves of 12.7, over the flicker bound of 0.26); one move in ten may still show early
    quiet = [b <= max(2 * max(still, 0.05), a / 10) for b, a in zip(before, after, strict=True)]
    assert sum(quiet) >= len(moves) - 1, "labels lag their frames"


def test_corrections_label_agent_and_person_apart(game: Any, xvfb: str, tmp_path: Path) -> None:
    script = tmp_path / "agent.jsonl"
    script.write_text("".join(json.dumps({"camera": [0.0, 1.0]}) + "\n" for _ in range(400)))
    out = tmp_path / "episodes"
    process = start_record(
        xvfb,
        out,
        "--mode",
        "corrections",
        "--model",
        f"scripted:{script}",
        "--seconds",
        "5",
        "--resume-after",
        "1.0",
        "--instruction",
        "turn slowly",
    )
    folder = wait_lines(out, 20, process)
    time.sleep(0.5)  # the agent has been turning the camera for over a second: none of it is human
    xdotool(xvfb, "keydown", "s")
    time.sleep(0.4)
    xdotool(xvfb, "keyup", "s")
    finish(process)

    lines, frames = episode(folder)
    assert frames == len(lines) and len(lines) >= 80
    controls = [line["control"] for line in lines]
    first_human = controls.index("human")
    assert first_human >= 25  # the agent's own injected mouse moves never counted as the person
    assert all(c == "agent" for c in controls[:first_human])
    human = [i for i, c in enumerate(controls) if c == "human"]
    assert all(lines[i]["phase"] == "correction" for i in human)
    assert any(lines[i]["action"]["back"] == 1 for i in human)  # the person's S is in the data
    assert controls[-1] == "agent"  # resumed after the quiet time
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["corrections"] and meta["corrections"][0]["start"] == first_human
