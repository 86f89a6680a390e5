"""The label each episode line stores: the env action as the model's training labels are made.

``Labeler`` quantises a raw env action exactly as the codec does: the stored action is the codec's
decoding of its own encoding, so ``encode(stored) == encode(raw)`` and the stored camera is a bin
centre. It also raises the flags a dataset builder wants: camera beyond the ±10° bins, and long runs
of no-ops. It lives with the episodes, not the input, because what it writes is the line format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.actions.codec import ActionCodec
from model.actions.env import BUTTONS, EnvAction
from recorder.episodes.format import FLAG_CAMERA_SATURATED, FLAG_NOOP_RUN, FPS


@dataclass
class Label:
    action: EnvAction  # what the codec decodes the tokens to: the training label as an env action
    ids: list[int]
    flags: list[str]
    camera_raw: list[float]  # the unquantised camera, degrees


class Labeler:
    """Quantises actions the way the model's labels are and flags ticks a dataset may drop."""

    def __init__(self, codec: ActionCodec | None = None, noop_run_ticks: int = 2 * FPS) -> None:
        self.codec = codec or ActionCodec()
        self.noop_run_ticks = noop_run_ticks
        self._null_ids = self.codec.null_ids()
        self._noop_run = 0

    def label(self, raw: Mapping[str, Any]) -> Label:
        ids = self.codec.encode(raw)
        action = self.codec.decode(ids)[0]
        for key in BUTTONS:  # the decoder knows only the 20 VPT buttons; keep the dict complete
            action.setdefault(key, 0)
        camera_raw = [float(v) for v in raw.get("camera", (0.0, 0.0))]
        flags = []
        if max(abs(camera_raw[0]), abs(camera_raw[1])) > self.codec.camera.maxval:
            flags.append(FLAG_CAMERA_SATURATED)
        self._noop_run = self._noop_run + 1 if ids == self._null_ids else 0
        if self._noop_run >= self.noop_run_ticks:
            flags.append(FLAG_NOOP_RUN)
        return Label(action, ids, flags, camera_raw)
