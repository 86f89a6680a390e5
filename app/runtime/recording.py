"""The recorder as a loop subscriber: each agent run is one ``corrections`` episode.

Agent ticks are recorded with the action the agent applied, human ticks (after a takeover) with the
person's input folded per tick, so each takeover becomes a correction with the agent play that led
to it. Paused ticks are not recorded. Whether or not recording is on, the last seconds stay in the
ring buffer for the save-last hotkey. The ``SessionRecorder`` is made on the loop thread at the first
tick (it checks old episodes for crash repair, which may take a moment).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recorder.camera_law import CameraLaw
from recorder.input_events import InputEvent

LOG = logging.getLogger(__name__)


class Recording:
    def __init__(
        self,
        root: Path,
        *,
        record: bool,
        law: CameraLaw,
        game: str = "unknown",
        model: str | None = None,
        on_error: Callable[[str], None] | None = None,
        ring_seconds: float = 30.0,
    ) -> None:
        self.root = root
        self.record = record
        self.law = law
        self.game = game
        self.model = model
        self.on_error = on_error
        self.ring_seconds = ring_seconds
        self._events: queue.SimpleQueue[InputEvent] = queue.SimpleQueue()
        self._session: Any = None
        self._accumulator: Any = None
        self._failed = False

    def feed(self, event: InputEvent) -> None:
        """A human input event (listener thread)."""
        self._events.put(event)

    def _open(self) -> Any:
        from recorder.episode_format import EpisodeMeta
        from recorder.human_actions import InputAccumulator
        from recorder.session_recorder import SessionRecorder

        meta = EpisodeMeta(mode="corrections", game=self.game, connector="desktop", model_id=self.model)
        session = SessionRecorder(self.root, meta, law=self.law, record=self.record,
                                  ring_seconds=self.ring_seconds, on_error=self.on_error)
        if not session.start() and self.on_error is not None:
            self.on_error(f"recording could not start in {self.root}; play continues without it")
        self._accumulator = InputAccumulator()
        return session

    def on_tick(self, view: Any) -> None:
        """Loop thread, once per tick."""
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
            if view.mode == "human":
                self._session.on_tick(view.frame, control="human", instruction=view.instruction,
                                      tick_input=tick_input)
            elif view.mode == "agent" and view.action is not None:
                self._session.on_tick(view.frame, control="agent", instruction=view.instruction,
                                      action=view.action)
        except Exception as exc:  # recording must never stop play
            self._failed = True
            LOG.exception("recording failed")
            if self.on_error is not None:
                self.on_error(f"recording stopped, play continues: {exc}")

    @property
    def folder(self) -> Path | None:
        return self._session.folder if self._session is not None else None

    def save_last(self) -> Any:
        return self._session.save_last() if self._session is not None else None

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            meta = session.close()
            if meta is not None:
                LOG.info("episode saved: %s (%d frames)", session.folder, meta.frame_count)
