"""The recorder as a loop subscriber: each run of the loop is one episode, in any of three modes.

* ``teleop``: the person plays throughout; every tick is a human tick.
* ``agent``: agent ticks carry the action the agent applied; a takeover is recorded as human play.
* ``corrections``: as ``agent``, and each takeover is tagged as a correction with the agent play
  that led to it.

Paused ticks are not recorded. Whether or not recording is on, the last seconds stay in the ring
buffer for the save-last hotkey. The ``SessionRecorder`` is made on the loop thread at the first
tick (it checks old episodes for crash repair, which may take a moment). Every door (window,
``record``, ``run``) records through this one class, so their episodes are alike.

A person's tick is labelled with the input that came *after* its frame, as VPT's recorder pairs them
(spec §5.1: line i is the action taken from frame i): the frame captured at tick t goes with the events
stamped between its capture and the next tick's. A desktop game shows a move in the very next frame,
so the input that arrived before frame t is already in it; labelling frame t with it would teach the
model to repeat what it sees done instead of what to do. So a human tick is written one tick late,
when its interval is complete. The events that make a takeover arrive during the agent's last tick;
they open the person's first tick instead of being lost.
"""

from __future__ import annotations

import importlib.metadata
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.games.spec import OpenGame
from app.runtime.takeover import Mode
from model.spec import ModelSpec
from recorder.episodes import Actor, EpisodeMeta, RecordMode, SessionRecorder
from recorder.input import CameraLaw, InputAccumulator, InputEvent

LOG = logging.getLogger(__name__)

# what a run records; RING episodes come from the save-last key, not from a mode a person picks
MODES = tuple(m.value for m in RecordMode if m is not RecordMode.RING)


@dataclass
class RecordingSetup:
    """What an episode's meta.json says about where it came from."""

    root: Path
    mode: RecordMode = RecordMode.CORRECTIONS
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


def record_mode(text: str) -> RecordMode:
    """The mode a run records in, from the settings' or a flag's text."""
    if text not in MODES:
        raise ValueError(f"record mode {text!r}: use one of {', '.join(MODES)}")
    return RecordMode(text)


def app_version() -> str:
    """The installed jarvis-play's version, stored in every episode's meta."""
    try:
        return importlib.metadata.version("jarvis-play")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def setup_for(
    game: OpenGame,
    mode: RecordMode,
    *,
    root: Path,
    record: bool,
    model: str | None,
    ring_seconds: float,
    purpose: str | None = None,
) -> RecordingSetup:
    """What an episode of ``game`` says about where it came from: the game, its window, its key
    bindings and camera law, and the model (``model``: its spec, credentials redacted); ``purpose``:
    what it was recorded for when not the person's play (an evaluation's trial: kept out of training)."""
    connector = game.connector
    rect = connector.rect
    extra: dict[str, Any] = {}
    gui_scale = connector.config.gui_scale if connector.config is not None else None
    if gui_scale is not None:
        extra["gui_scale"] = gui_scale
    if purpose is not None:
        extra["purpose"] = purpose
    return RecordingSetup(
        root=root,
        mode=mode,
        record=record,
        law=game.law,
        game=game.game_name,
        connector=type(connector).__name__,
        window={
            "title": connector.window_title,
            "width": rect[2] if rect else None,
            "height": rect[3] if rect else None,
        },
        bindings=dict(connector.config.bindings) if connector.config is not None else {},
        model=ModelSpec.parse(model).redacted() if model else None,
        app_version=app_version(),
        ring_seconds=ring_seconds,
        extra=extra,
        origin=lambda: (float(connector.rect[0]), float(connector.rect[1])),
        law_record=game.law_record,
    )


class Recording:
    def __init__(self, setup: RecordingSetup, on_error: Callable[[str], None] | None = None) -> None:
        setup.mode = record_mode(setup.mode)
        self.setup = setup
        self.on_error = on_error
        self._events: queue.SimpleQueue[InputEvent] = queue.SimpleQueue()
        self._session: Any = None
        self._accumulator: Any = None
        self._failed = False
        self._backlog: list[InputEvent] = []  # events stamped after the latest frame's capture
        self._pending: Any = None  # a human tick's view, waiting for the input after its frame
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
        s = self.setup
        meta = EpisodeMeta(
            mode=s.mode,
            game=s.game,
            connector=s.connector,
            window=dict(s.window),
            key_bindings=dict(s.bindings),
            model_id=s.model if s.mode != RecordMode.TELEOP else None,
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
        """Loop thread, once per tick: ``view`` has ``frame``, ``action``, ``mode``, ``instruction`` and
        ``record.captured_at`` (the listener's clock when the frame was grabbed)."""
        if self._failed or view.frame is None:
            return
        try:
            if self._session is None:
                self._session = self._open()
            self._take_events(view.record.captured_at)
            pending, self._pending = self._pending, None
            if pending is not None:  # the previous frame was the person's: its interval is complete
                self._write_human(pending, self._accumulator.end_tick())
            elif view.mode != Mode.HUMAN or view.record.covered:
                self._accumulator.end_tick()  # input after an agent or paused frame labels nothing
            # else: a takeover; the events that made it stay in the accumulator and open this label
            if view.record.covered:  # the frame shows whatever covers the game: never training data
                return
            if view.mode == Mode.HUMAN:
                self._pending = view
            elif view.mode == Mode.AGENT and view.action is not None:
                self._session.on_tick(
                    view.frame,
                    control=Actor.AGENT,
                    instruction=view.instruction,
                    action=view.action,
                    milli=_milli(view.record.captured_at),
                    **self._gui(view),
                )
        except Exception as exc:  # recording must never stop play
            self._fail(exc)

    def _take_events(self, until: float | None) -> None:
        """Feed the accumulator every event stamped before ``until`` (all of them when unknown)."""
        while True:
            try:
                self._backlog.append(self._events.get_nowait())
            except queue.Empty:
                break
        if until is None:
            now, self._backlog = self._backlog, []
        else:
            now = [e for e in self._backlog if e.time < until]
            self._backlog = [e for e in self._backlog if e.time >= until]
        self._accumulator.feed_all(now)

    def _write_human(self, view: Any, tick_input: Any) -> None:
        self._session.on_tick(
            view.frame,
            control=Actor.HUMAN,
            instruction=view.instruction,
            **self._gui(view),
            tick_input=tick_input,
            correcting=self.setup.mode == RecordMode.CORRECTIONS,
            milli=_milli(view.record.captured_at),
        )

    def _fail(self, exc: Exception) -> None:
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
        pending, self._pending = self._pending, None
        if pending is not None and self._session is not None and not self._failed:
            try:  # the last human frame, with the input seen after it so far
                self._take_events(None)
                self._write_human(pending, self._accumulator.end_tick())
            except Exception as exc:
                self._fail(exc)
        session, self._session = self._session, None
        if session is not None:
            self.meta = session.close(outcome)
            if self.meta is not None:
                LOG.info("episode saved: %s (%d frames)", session.folder, self.meta.frame_count)
        return self.meta


def _milli(captured_at: float | None) -> int | None:
    """Wall-clock milliseconds of a frame grabbed at ``captured_at`` (monotonic), for ``milli``."""
    if captured_at is None:
        return None
    return int((time.time() - (time.monotonic() - captured_at)) * 1000)
