"""A VPT-format loader written from the spec alone (§5.3), the oracle for the VPT export tests.

It does what VPT's ``data_loader.py`` and MineStudio's ``process_action_openai.py`` do, step by step:
pair ``<id>.mp4`` with ``<id>.jsonl`` (or ``mp4/`` with ``jsonl/``), map keys through
KEYBOARD_BUTTON_MAPPING, camera = 0.15·[dy, dx], the stuck-attack rule, the hotbar rule, skip null
frames, draw the cursor where a GUI is open. Nothing here imports the exporter.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

KEYBOARD_BUTTON_MAPPING = {
    "key.keyboard.escape": "ESC",
    "key.keyboard.s": "back",
    "key.keyboard.q": "drop",
    "key.keyboard.w": "forward",
    **{f"key.keyboard.{i}": f"hotbar.{i}" for i in range(1, 10)},
    "key.keyboard.e": "inventory",
    "key.keyboard.space": "jump",
    "key.keyboard.a": "left",
    "key.keyboard.d": "right",
    "key.keyboard.left.shift": "sneak",
    "key.keyboard.left.control": "sprint",
    "key.keyboard.f": "swapHands",
}
CAMERA_SCALER = 360.0 / 2400.0
ORIGINAL_HEIGHT = 720
CURSOR = np.zeros((16, 16, 4), np.uint8)  # a white 16x16 sprite: an opaque square is enough to find it
CURSOR[:, :] = (255, 255, 255, 255)


def noop() -> dict[str, Any]:
    action: dict[str, Any] = {name: 0 for name in KEYBOARD_BUTTON_MAPPING.values()}
    action.update(attack=0, use=0, pickItem=0, camera=np.zeros(2))
    return action


def json_to_env(step: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    action, null = noop(), True
    for key in step["keyboard"]["keys"]:
        if key in KEYBOARD_BUTTON_MAPPING:
            action[KEYBOARD_BUTTON_MAPPING[key]] = 1
            null = False
    mouse = step["mouse"]
    action["camera"] = np.array([mouse["dy"] * CAMERA_SCALER, mouse["dx"] * CAMERA_SCALER])
    if mouse["dx"] != 0 or mouse["dy"] != 0:
        null = False
    for button, name in ((0, "attack"), (1, "use"), (2, "pickItem")):
        if button in mouse["buttons"]:
            action[name] = 1
            null = False
    return action, null


@dataclass
class Step:
    index: int  # line number in the jsonl
    action: dict[str, Any]
    null: bool
    frame: np.ndarray | None  # RGB, cursor drawn; None for null steps (the loaders skip them)
    cursor: tuple[int, int] | None  # where the cursor was drawn


def load_actions(lines: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """Every line's env action and null flag, after the stuck-attack and hotbar rules."""
    stuck, last_hotbar, out = False, 0, []
    for i, step in enumerate(lines):
        step = json.loads(json.dumps(step))
        if i == 0:
            stuck = step["mouse"]["newButtons"] == [0]
        elif stuck and 0 in step["mouse"]["newButtons"]:
            stuck = False
        if stuck:
            step["mouse"]["buttons"] = [b for b in step["mouse"]["buttons"] if b != 0]
        action, null = json_to_env(step)
        if step["hotbar"] != last_hotbar:
            action[f"hotbar.{step['hotbar'] + 1}"] = 1
        last_hotbar = step["hotbar"]
        out.append((action, null))
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return json.loads("[" + ",".join(text.splitlines()) + "]")  # the loaders' own way of reading


def load_trajectory(video: Path, jsonl: Path) -> list[Step]:
    lines = read_jsonl(jsonl)
    capture = cv2.VideoCapture(str(video))
    steps = []
    for i, (action, null) in enumerate(load_actions(lines)):
        ok, frame = capture.read()
        if not ok:
            raise AssertionError(f"{video}: no frame for line {i}")
        if null:
            steps.append(Step(i, action, True, None, None))
            continue
        cursor = None
        if lines[i]["isGuiOpen"]:
            scale = frame.shape[0] / ORIGINAL_HEIGHT
            cursor = (int(lines[i]["mouse"]["x"] * scale), int(lines[i]["mouse"]["y"] * scale))
            _composite(frame, cursor)
        steps.append(Step(i, action, False, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), cursor))
    capture.release()
    return steps


def _composite(frame: np.ndarray, at: tuple[int, int]) -> None:
    x, y = at
    h = max(0, min(frame.shape[0] - y, 16))
    w = max(0, min(frame.shape[1] - x, 16))
    if h and w:
        alpha = CURSOR[:h, :w, 3:] / 255.0
        patch = frame[y : y + h, x : x + w]
        frame[y : y + h, x : x + w] = (patch * (1 - alpha) + CURSOR[:h, :w, :3] * alpha).astype(np.uint8)


def vpt_pairs(folder: Path) -> dict[str, tuple[Path, Path]]:
    """VPT's data_loader pairing: every ``*.mp4`` with the ``.jsonl`` of the same id."""
    ids = {os.path.basename(p).split(".")[0] for p in glob.glob(os.path.join(folder, "*.mp4"))}
    return {i: (folder / f"{i}.mp4", folder / f"{i}.jsonl") for i in ids}


def minestudio_pairs(root: Path) -> dict[str, tuple[Path, Path]]:
    """MineStudio's pairing: ``root/jsonl/<name>.jsonl`` with ``root/mp4/<name>.mp4``."""
    assert (root / "jsonl").is_dir() and (root / "mp4").is_dir(), "directory (mp4 and jsonl) must exist!"
    pairs = {}
    for jsonl in (root / "jsonl").glob("*.jsonl"):
        name = jsonl.name.split(".")[-2]
        pairs[name] = (root / "mp4" / f"{name}.mp4", jsonl)
    return pairs
