"""Synthetic episodes for tests: each frame carries its tick number in 16 black/white blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.actions.codec import ActionCodec
from model.actions.env import null_action
from recorder.episodes.format import EpisodeMeta
from recorder.episodes.writer import EpisodeWriter

BLOCK = 40  # 16 blocks of 40 px across the 640-px top row: survives H.264 easily


def tick_frame(tick: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + tick)
    frame = rng.integers(60, 190, size=(360, 640, 3), dtype=np.uint8)  # texture for the encoder
    for bit in range(16):
        frame[:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if (tick >> bit) & 1 else 0
    return frame


def read_tick(frame: np.ndarray) -> int:
    centre = BLOCK // 2
    return sum(1 << bit for bit in range(16) if frame[centre, bit * BLOCK + centre].mean() > 128)


def line_for(
    tick: int,
    *,
    phase: str = "none",
    control: str = "human",
    instruction: str = "chop a tree",
    action: dict[str, Any] | None = None,
    flags: list[str] | None = None,
) -> dict[str, Any]:
    action = action or {**null_action(), "forward": tick % 2, "camera": [0.0, 0.0]}
    ids = ActionCodec().encode(action)
    return {
        "mouse": {"dx": 0.0, "dy": 0.0, "dwheel": 0.0, "buttons": [], "newButtons": []},
        "keyboard": {"keys": [], "newKeys": [], "chars": ""},
        "isGuiOpen": None,
        "action": ActionCodec().decode(ids)[0],
        "action_ids": ids,
        "control": control,
        "phase": phase,
        "instruction": instruction,
        "flags": flags or [],
    }


def write_episode(
    root: Path,
    n: int,
    *,
    mode: str = "teleop",
    phases: dict[int, str] | None = None,
    instruction: str = "chop a tree",
    **meta_kw: Any,
) -> Path:
    """A complete episode of ``n`` ticks (blocking submits: nothing dropped)."""
    meta = EpisodeMeta(mode=mode, instructions=[{"tick": 0, "text": instruction}], game="test", **meta_kw)
    writer = EpisodeWriter(root, meta)
    assert writer.start(), writer.error
    for i in range(n):
        phase = (phases or {}).get(i, "none")
        assert writer.submit(tick_frame(i), line_for(i, phase=phase, instruction=instruction), block=True)
    result = writer.close("success")
    assert result.status == "complete", result
    assert writer.folder is not None
    return writer.folder
