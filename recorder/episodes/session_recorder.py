"""SessionRecorder: what the play loop calls once per tick to record, in any of the four modes.

* ``teleop``: the person plays; every tick is a human tick.
* ``agent``: the agent plays; ticks carry its executed action and the VPT fields it amounts to.
* ``corrections``: an agent run in which each human takeover is tagged ``phase: correction`` and
  listed in ``meta.corrections`` with ``context_start`` a few seconds before it, so an exporter can
  take the correction plus the agent play that led to it.
* the ring buffer: whatever the mode (and even with ``record=False``), the last ``ring_seconds`` are
  kept in memory and ``save_last()`` writes them as an episode of their own (the hotkey).

Threading: ``on_tick``, ``set_outcome`` and ``close`` belong to the loop thread; ``save_last`` may
be called from any thread (a hotkey callback). Nothing here raises into the loop: a disk problem
ends up in ``error`` and the ``on_error`` callback, and play goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model.actions.env import EnvAction
from recorder.episodes.format import FPS, Actor, EpisodeMeta, RecordMode
from recorder.episodes.labels import Labeler
from recorder.episodes.ring_buffer import RingBuffer
from recorder.episodes.sweep import recover_crashed
from recorder.episodes.writer import EpisodeWriter
from recorder.input.camera_law import CameraLaw
from recorder.input.human_actions import TickInput, action_to_tick, tick_to_env
from recorder.input.keymap import DEFAULT_BINDINGS
from recorder.input.tick_state import DEFAULT_WINDOW, TickState

LOG = logging.getLogger(__name__)


class SessionRecorder:
    def __init__(
        self,
        root: Path,
        meta: EpisodeMeta,
        *,
        law: CameraLaw,
        record: bool = True,
        ring_seconds: float = 30.0,
        context_seconds: float = 3.0,
        bindings: Mapping[str, str] = DEFAULT_BINDINGS,
        noop_run_ticks: int = 2 * FPS,
        on_error: Callable[[str], None] | None = None,
        recover: bool = True,
        hotbar_slot: int = 0,
        gui_scale: float = 2.0,
    ) -> None:
        self.root = Path(root)
        self.law = law
        self.bindings = dict(bindings)
        self.on_error = on_error
        self.context_ticks = int(context_seconds * FPS)
        meta.camera_law = law.to_dict()
        meta.sensitivity = law.sensitivity if meta.sensitivity is None else meta.sensitivity
        meta.key_bindings = meta.key_bindings or dict(self.bindings)
        self.meta = meta
        self.writer = EpisodeWriter(self.root, meta, on_error=self._error) if record else None
        self.ring = RingBuffer(ring_seconds) if ring_seconds > 0 else None
        self.labeler = Labeler(noop_run_ticks=noop_run_ticks)
        self._recover = recover
        self._previous: TickInput | None = None
        self.state = TickState(
            _window_size(meta), slot=hotbar_slot, gui_scale=gui_scale, bindings=self.bindings
        )  # hotbar, GUI and cursor across agent and human ticks alike
        self._control: str = Actor.AGENT
        self.ticks = 0
        self.saves: list[threading.Thread] = []

    @property
    def error(self) -> str | None:
        return self.writer.error if self.writer is not None else None

    @property
    def folder(self) -> Path | None:
        return self.writer.folder if self.writer is not None else None

    def start(self) -> bool:
        """Repair episodes a crashed run left behind, then open this one. False if it could not."""
        if self._recover:
            try:
                recover_crashed(self.root)
            except Exception as exc:  # never block a session on an old episode
                LOG.warning("could not check old episodes in %s: %s", self.root, exc)
        return self.writer.start() if self.writer is not None else True

    def on_tick(
        self,
        frame: np.ndarray,
        *,
        control: Actor | str,
        instruction: str,
        action: EnvAction | None = None,
        tick_input: TickInput | None = None,
        is_gui_open: bool | None = None,
        is_gui_inventory: bool | None = None,
        cursor: tuple[float, float] | None = None,
        milli: int | None = None,
        correcting: bool | None = None,
    ) -> dict[str, Any]:
        """Record one tick: ``tick_input`` for human ticks, the executed ``action`` for agent ticks.

        ``correcting`` overrides the default tagging (a human tick in corrections mode is a
        correction), e.g. so that ticks where the agent is merely paused are not counted as one.
        ``is_gui_open``/``is_gui_inventory``: the game's real screen state where the caller can read
        it; otherwise it is tracked from the inventory and ESC keys (``TickState``). ``cursor``: the
        game's pointer in window pixels as the connector read it with the frame (``mouse.x/y``); it
        wins over the listener's position and over tracking the cursor from dx/dy.
        """
        if control == Actor.HUMAN:
            vpt = tick_input or TickInput()
            if cursor is not None:
                vpt.x, vpt.y = cursor
            vpt.settle(self.state, is_gui_open, is_gui_inventory)
            raw = tick_to_env(vpt, self.law, self.bindings)
        else:
            raw = action if action is not None else {}
            vpt = action_to_tick(raw, self.law, self._previous, self.bindings)
            if cursor is not None:
                vpt.x, vpt.y = cursor
            vpt.settle(self.state, is_gui_open, is_gui_inventory)
        self._previous = vpt
        label = self.labeler.label(raw)
        if correcting is None:
            correcting = self.meta.mode == RecordMode.CORRECTIONS and control == Actor.HUMAN
        line: dict[str, Any] = {
            "milli": int(time.time() * 1000) if milli is None else milli,
            **vpt.vpt_fields(),
            "action": label.action,
            "action_ids": label.ids,
            "camera_raw": label.camera_raw,
            "control": control,
            "phase": "correction" if correcting else "none",
            "instruction": instruction,
            "flags": label.flags,
            "tick": self.ticks,  # the session's tick; the writer renumbers within its episode
        }
        self.ticks += 1
        try:
            if self.writer is not None and self.writer.recording:
                tick = self.writer.submitted
                if self.writer.submit(frame, line):
                    self._track(tick, instruction, control, correcting)
            if self.ring is not None:
                self.ring.push(frame, line)
        except Exception as exc:  # a malformed frame must not stop play
            self._error(f"recording stopped, play continues: {exc}")
            if self.writer is not None:
                self.writer.close()
        return line

    def _track(self, tick: int, instruction: str, control: str, correcting: bool) -> None:
        meta = self.meta
        if not meta.instructions or meta.instructions[-1]["text"] != instruction:
            meta.instructions.append({"tick": tick, "text": instruction})
        if correcting:
            last = meta.corrections[-1] if meta.corrections else None
            if last is None or self._control != Actor.HUMAN or last["end"] != tick:
                meta.corrections.append(
                    {"context_start": max(0, tick - self.context_ticks), "start": tick, "end": tick + 1}
                )
            else:
                last["end"] = tick + 1
        self._control = control

    def save_last(self, seconds: float | None = None) -> threading.Thread | None:
        """Save the ring buffer (or its last ``seconds``) as a new episode, in the background."""
        if self.ring is None or not len(self.ring):
            return None
        meta = EpisodeMeta.from_dict(self.meta.to_dict())
        meta.extra["source_mode"] = self.meta.mode
        meta.started_at = ""
        meta.status, meta.frame_count, meta.line_count, meta.dropped_ticks = "recording", 0, 0, 0
        ring = self.ring
        if seconds is not None:
            ring = RingBuffer(seconds, jpeg_quality=self.ring.jpeg_quality)
            for item in self.ring.snapshot()[-ring.capacity :]:
                ring._items.append(item)
        thread = ring.save(self.root, meta, on_error=self._error)
        self.saves.append(thread)
        return thread

    def set_outcome(self, outcome: str) -> None:
        self.meta.outcome = outcome

    def close(self, outcome: str | None = None, timeout: float = 60.0) -> EpisodeMeta | None:
        for thread in self.saves:
            thread.join(timeout)
        if self.writer is None:
            return None
        return self.writer.close(outcome)

    def _error(self, message: str) -> None:
        if self.on_error is None:  # otherwise the callback reports it: a person reads it once
            LOG.error("%s", message)
        else:
            LOG.debug("%s", message)
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:
                LOG.exception("on_error callback failed")


def _window_size(meta: EpisodeMeta) -> tuple[int, int]:
    """The game window's size from the meta, else the contractors' 1280x720."""
    width, height = meta.window.get("width"), meta.window.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return DEFAULT_WINDOW
