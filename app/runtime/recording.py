"""The recorder as a loop subscriber: each run of the loop is one episode, in any of three modes.

* ``teleop``: the person plays throughout; every tick is a human tick.
* ``agent``: agent ticks carry the action the agent applied; a takeover is recorded as human play.
* ``corrections``: as ``agent``, and each takeover is tagged as a correction with the agent play
  that led to it.

Paused ticks are not recorded. Whether or not recording is on, the last seconds stay in the ring
buffer for the save-last hotkey. The ``SessionRecorder`` is made on the loop thread at the first
tick (it checks old episodes for crash repair, which may take a moment). Every door (window,
``record``, ``run``) records through this one class, so their episodes are alike.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.input import CameraLaw, InputEvent

LOG = logging.getLogger(__name__)

MODES = ("teleop", "agent", "corrections")


@dataclass
class RecordingSetup:
    """What an episode's meta.json says about where it came from."""

    root: Path
    mode: str = "corrections"
    record: bool = True  # False: only the ring buffer (save-last) runs
    law: CameraLaw = field(default_factory=CameraLaw.minecraft)
    game: str = "unknown"
    connector: str = "unknown"
    window: dict[str, Any] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    app_version: str = ""
    ring_seconds: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)
    # the game window's top-left on the screen: pointer positions are stored in window pixels
    origin: Callable[[], tuple[float, float]] | None = None
    law_record: dict[str, Any] = field(default_factory=dict)  # the law and where it came from


class Recording:
    def __init__(self, setup: RecordingSetup, on_error: Callable[[str], None] | None = None) -> None:
        if setup.mode not in MODES:
            raise ValueError(f"record mode {setup.mode!r}: use one of {', '.join(MODES)}")
        self.setup = setup
        self.on_error = on_error
        self._events: queue.SimpleQueue[InputEvent] = queue.SimpleQueue()
        self._session: Any = None
        self._accumulator: Any = None
        self._failed = False
        self.meta: Any = None  # the closed episode's meta, once closed

    @property
    def record(self) -> bool:
        """Episodes are being written: False once a disk error stopped the writer (the REC tag goes off)."""
        writer = getattr(self._session, "writer", None)
        if writer is not None and writer.status == "error":
            return False
        return self.setup.record

    def feed(self, event: InputEvent) -> None:
        """A human input event (listener thread)."""
        self._events.put(event)

    def _open(self) -> Any:
        from recorder.episodes import EpisodeMeta, SessionRecorder
        from recorder.input import InputAccumulator

        s = self.setup
        meta = EpisodeMeta(
            mode=s.mode,
            game=s.game,
            connector=s.connector,
            window=dict(s.window),
            key_bindings=dict(s.bindings),
            model_id=s.model if s.mode != "teleop" else None,
            app_version=s.app_version,
            extra=dict(s.extra),
        )
        recorder_kwargs: dict[str, Any] = {"bindings": s.bindings} if s.bindings else {}
        session = SessionRecorder(
            s.root,
            meta,
            law=s.law,
            record=s.record,
            ring_seconds=s.ring_seconds,
            on_error=self.on_error,
            **recorder_kwargs,
        )
        if s.law_record:
            session.meta.camera_law = dict(s.law_record)
        if not session.start() and self.on_error is not None:
            self.on_error(f"recording could not start in {s.root}; play continues without it")
        self._accumulator = InputAccumulator(origin=s.origin)
        return session

    def on_tick(self, view: Any) -> None:
        """Loop thread, once per tick: ``view`` has ``frame``, ``action``, ``mode``, ``instruction``."""
        if self._failed or view.frame is None:
            return
        try:
            if self._session is None:
                self._session = self._open()
            events = []
            while True:
                try:
                    events.append(self._events.get_nowait())
                except queue.Empty:
                    break
            self._accumulator.feed_all(events)
            tick_input = self._accumulator.end_tick()
            if view.record.covered:  # the frame shows whatever covers the game: never training data
                return
            if view.mode == "human":
                correcting = self.setup.mode == "corrections"
                self._session.on_tick(
                    view.frame,
                    control="human",
                    instruction=view.instruction,
                    **self._gui(view),
                    tick_input=tick_input,
                    correcting=correcting,
                )
            elif view.mode == "agent" and view.action is not None:
                self._session.on_tick(
                    view.frame,
                    control="agent",
                    instruction=view.instruction,
                    action=view.action,
                    **self._gui(view),
                )
        except Exception as exc:  # recording must never stop play
            self._failed = True
            LOG.exception("recording failed")
            if self.on_error is not None:
                self.on_error(f"recording stopped, play continues: {exc}")

    @staticmethod
    def _gui(view: Any) -> dict[str, Any]:
        """The game's own GUI state and pointer for the line, where the connector reads them (a
        connector that cannot leaves the recorder's own tracking from the inventory keys in charge)."""
        cursor = getattr(view, "cursor", None)
        if cursor is None:
            return {}
        return {"is_gui_open": bool(view.gui_open), "cursor": cursor}

    @property
    def folder(self) -> Path | None:
        return self._session.folder if self._session is not None else None

    def save_last(self) -> Any:
        return self._session.save_last() if self._session is not None else None

    def close(self, outcome: str | None = None) -> Any:
        """Finish the episode; returns its meta (None when nothing was written)."""
        session, self._session = self._session, None
        if session is not None:
            self.meta = session.close(outcome)
            if self.meta is not None:
                LOG.info("episode saved: %s (%d frames)", session.folder, self.meta.frame_count)
        return self.meta
