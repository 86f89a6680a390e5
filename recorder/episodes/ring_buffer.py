"""The last N seconds of play in memory, saved as an ordinary episode when the hotkey is pressed.

Frames are kept as JPEG (quality 95, about 0.5 ms and 90 kB each at 640×360) rather than raw, so
30 s cost ~55 MB instead of ~415 MB; the saved episode is re-encoded to H.264 like any other.
``save`` snapshots the buffer under a lock (cheap: references only) and writes from a background
thread, so the loop keeps pushing while an earlier window is saved.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recorder.episodes.format import FPS, EpisodeMeta
from recorder.episodes.writer import EpisodeWriter

LOG = logging.getLogger(__name__)


class RingBuffer:
    def __init__(self, seconds: float = 30.0, fps: int = FPS, jpeg_quality: int = 95) -> None:
        self.capacity = max(1, round(seconds * fps))
        self.jpeg_quality = jpeg_quality
        self._items: deque[tuple[bytes, dict[str, Any]]] = deque(maxlen=self.capacity)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, frame: np.ndarray, line: dict[str, Any]) -> None:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:  # pragma: no cover - cv2 only fails on malformed arrays
            raise ValueError("could not JPEG-encode the frame")
        with self._lock:
            self._items.append((buf.tobytes(), dict(line)))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[tuple[bytes, dict[str, Any]]]:
        with self._lock:
            return list(self._items)

    def save(
        self,
        root: Path,
        meta: EpisodeMeta,
        *,
        on_done: Callable[[EpisodeMeta, Path | None], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> threading.Thread:
        """Write the current window as a new episode in the background; returns the started thread."""
        items = self.snapshot()
        meta = copy.deepcopy(meta)

        def work() -> None:
            folder, result = save_items(items, root, meta, on_error=on_error)
            if on_done is not None:
                on_done(result, folder)

        thread = threading.Thread(target=work, name="ring-save", daemon=True)
        thread.start()
        return thread


def save_items(
    items: list[tuple[bytes, dict[str, Any]]],
    root: Path,
    meta: EpisodeMeta,
    *,
    on_error: Callable[[str], None] | None = None,
) -> tuple[Path | None, EpisodeMeta]:
    """Write (jpeg, line) pairs as an episode, blocking; ticks are renumbered from 0."""
    meta.mode = "ring"
    meta.instructions = []
    meta.corrections = corrections_from_lines([line for _, line in items])
    for i, (_, line) in enumerate(items):
        text = line.get("instruction", "")
        if not meta.instructions or meta.instructions[-1]["text"] != text:
            meta.instructions.append({"tick": i, "text": text})
    writer = EpisodeWriter(root, meta, on_error=on_error)
    if not writer.start():
        return None, writer.meta
    for jpeg, line in items:
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert frame is not None, "a JPEG the ring buffer encoded itself did not decode"
        line = dict(line)
        line["source_tick"] = line.pop("tick", None)
        if not writer.submit(frame, line, block=True):
            break
    result = writer.close()
    LOG.info("saved the last %.1f s to %s", len(items) / FPS, writer.folder)
    return writer.folder, result


def corrections_from_lines(lines: list[dict[str, Any]], context_ticks: int = 3 * FPS) -> list[dict[str, int]]:
    """The correction intervals (phase == "correction") as ``{"start", "end", "context_start"}``."""
    out: list[dict[str, int]] = []
    for i, line in enumerate(lines):
        correcting = line.get("phase") == "correction"
        if correcting and (not out or out[-1]["end"] != i):
            out.append({"context_start": max(0, i - context_ticks), "start": i, "end": i + 1})
        elif correcting:
            out[-1]["end"] = i + 1
    return out
