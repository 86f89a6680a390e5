"""``jarvis-play record``: record episodes without the GUI.

    jarvis-play record --window Minecraft --out ~/jarvis-episodes --instruction "chop a tree"
    jarvis-play record --window Minetest --out eps --seconds 120 --degrees-per-count 0.2
    jarvis-play record --window Minecraft --out eps --mode corrections --model vllm:http://gpu:8000 \\
        --instruction "mine iron ore"
    jarvis-play record --fake --out /tmp/eps --seconds 5          # pipeline check, no game

Modes: ``teleop`` (you play; nothing is injected), ``agent`` (the agent plays), ``corrections`` (the
agent plays; take over any time by just playing, and each takeover is tagged with the seconds before
it). In every mode the save key (default F8) writes the last 30 s as an episode of its own. Ctrl-C
ends the recording cleanly; a crash loses at most the last second, repaired at the next start.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import threading
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)


def register(sub: Any) -> None:
    from app.commands.connect_args import add_loop_args, add_target_args

    parser = sub.add_parser("record", help="record play (teleop, agent or corrections) as episodes, no GUI")
    parser.add_argument("--out", type=Path, required=True, help="folder of episodes (created if missing)")
    parser.add_argument("--mode", choices=("teleop", "agent", "corrections"), default="teleop")
    parser.add_argument("--instruction", default="", help="the task, stored with every tick")
    parser.add_argument("--model", default=None, help="agent/corrections: the policy spec (as for `run`)")
    parser.add_argument("--save-key", default="f8", help="save the last --ring-seconds as an episode (F8)")
    parser.add_argument("--ring-seconds", type=float, default=30.0, help="length of the save-key buffer")
    parser.add_argument("--outcome", choices=("success", "failure", "unknown"), default="unknown",
                        help="outcome written to meta.json at the end")  # fmt: skip
    add_target_args(parser)
    add_loop_args(parser)
    parser.set_defaults(func=main)


def app_version() -> str:
    try:
        return importlib.metadata.version("jarvis-play")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def _game_of(args: argparse.Namespace) -> str:
    title = (getattr(args, "window", None) or "").lower()
    if any(n in title for n in ("minetest", "luanti")):
        return "minetest"
    if getattr(args, "fake", False):
        return "fake"
    if getattr(args, "env", None):
        return f"env:{args.env}"
    return "minecraft"


def build_recorder(args: argparse.Namespace, connector: Any, on_error: Any = None) -> Any:
    """The SessionRecorder with meta describing this game, connector and model."""
    from recorder.camera_law import CameraLaw
    from recorder.episode_format import EpisodeMeta
    from recorder.keymap import DEFAULT_BINDINGS
    from recorder.session_recorder import SessionRecorder

    config = getattr(connector, "config", None)
    game = _game_of(args)
    dpc = getattr(config, "degrees_per_count", None) or getattr(args, "degrees_per_count", None)
    law = CameraLaw(dpc, game) if dpc else CameraLaw.for_game(game)
    rect = getattr(connector, "rect", None)
    meta = EpisodeMeta(
        mode=args.mode,
        instructions=[],
        game=game,
        connector=type(connector).__name__,
        window={
            "title": getattr(args, "window", None),
            "width": rect[2] if rect else None,
            "height": rect[3] if rect else None,
        },
        key_bindings=dict(getattr(config, "bindings", None) or DEFAULT_BINDINGS),
        model_id=args.model if args.mode != "teleop" else None,
        app_version=app_version(),
    )
    if config is not None and hasattr(config, "gui_scale"):
        meta.extra["gui_scale"] = config.gui_scale
    return SessionRecorder(args.out, meta, law=law, ring_seconds=args.ring_seconds, on_error=on_error)


def main(args: argparse.Namespace) -> int:
    from app.commands.connect_args import build_connector
    from app.errors import UserError
    from recorder.keymap import binding_name

    if args.mode != "teleop" and not args.model:
        raise UserError(f"--mode {args.mode} needs --model (the agent that plays)")
    try:
        save_key = binding_name(args.save_key)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    connector = build_connector(args)
    try:
        rec = build_recorder(args, connector, on_error=lambda m: print(f"jarvis-play record: {m}"))
        if not rec.start():
            raise UserError(rec.error or "could not start recording")
        print(f"recording ({args.mode}) to {rec.folder}; {args.save_key.upper()} saves the last "
              f"{args.ring_seconds:g} s; Ctrl-C stops")  # fmt: skip
        try:
            if args.mode == "teleop":
                _teleop(args, connector, rec, save_key)
            else:
                _agent(args, connector, rec, save_key)
        finally:
            meta = rec.close(args.outcome)
    finally:
        connector.close()
    if meta is not None:
        print(f"{rec.folder}: {meta.status}, {meta.frame_count} ticks, {meta.dropped_ticks} dropped"
              + (f"; {meta.error}" if meta.error else ""))  # fmt: skip
    return 0 if meta is None or meta.status == "complete" else 1


def _listener(connector: Any, on_event: Any) -> Any:
    """The human-input listener (excluding the connector's own injections), or None without a display."""
    try:
        from recorder.input_listener import InputListener

        return InputListener(getattr(connector, "ledger", None), on_event=on_event).start()
    except ImportError as exc:  # pynput without a display
        first = str(exc).strip().splitlines()[0]
        LOG.warning("no input listener (%s): recording frames without human input", first)
        return None


def _teleop(args: argparse.Namespace, connector: Any, rec: Any, save_key: str) -> None:
    """Our own 20 Hz tick: observe, fold the person's input into the tick, record. Nothing is injected."""
    from recorder.human_actions import InputAccumulator

    acc = InputAccumulator()
    saves = _SaveKey(rec, save_key)
    listener = _listener(connector, saves.on_event)
    period = 1.0 / args.hz
    start = next_tick = time.monotonic()
    try:
        while args.seconds is None or time.monotonic() - start < args.seconds:
            frame = connector.observe()
            if listener is not None:
                acc.feed_all(listener.drain())
            rec.on_tick(frame, control="human", instruction=args.instruction, tick_input=acc.end_tick())
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period:
                next_tick = time.monotonic()  # far behind: no burst of catch-up ticks
    except KeyboardInterrupt:
        pass
    finally:
        if listener is not None:
            listener.stop()


def _agent(args: argparse.Namespace, connector: Any, rec: Any, save_key: str) -> None:
    """The play loop drives the agent; a subscriber records each tick with what was executed."""
    from app.commands.connect_args import build_policy, run_settings
    from app.runtime.runner import run_agent
    from recorder.human_actions import InputAccumulator

    policy = build_policy(args.model, args)
    settings = run_settings(args)
    listen = settings.listen and connector.realtime
    settings.listen = False  # we run the listener ourselves, to see the person's events too
    proxy = _Observed(connector)
    acc = InputAccumulator()
    saves = _SaveKey(rec, save_key)
    state: dict[str, Any] = {}

    def on_start(loop: Any) -> None:
        state["loop"] = loop

        def on_event(event: Any) -> None:
            loop.control.on_input(event)
            saves.on_event(event)

        state["listener"] = _listener(connector, on_event) if listen else None

    def on_tick(tick: Any) -> None:
        listener = state.get("listener")
        if listener is not None:
            acc.feed_all(listener.drain())
        human = acc.end_tick()
        if proxy.frame is None:
            return
        loop = state["loop"]
        if tick.injected and proxy.action is not None:
            rec.on_tick(proxy.frame, control="agent", instruction=loop.instruction, action=proxy.action)
        else:  # a takeover (human mode) or a pause: what happened is what the person did
            rec.on_tick(proxy.frame, control="human", instruction=loop.instruction, tick_input=human,
                        correcting=args.mode == "corrections" and tick.mode == "human")  # fmt: skip
        proxy.action = None

    try:
        run_agent(proxy, policy, args.instruction, settings, on_tick=on_tick, on_start=on_start)
    except KeyboardInterrupt:
        pass
    finally:
        if state.get("listener") is not None:
            state["listener"].stop()


class _Observed:
    """A connector wrapper that remembers the tick's frame and the action actually executed."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.frame: Any = None
        self.action: Any = None

    def observe(self) -> Any:
        self.frame = self._inner.observe()
        return self.frame

    def apply(self, action: Any) -> None:
        self._inner.apply(action)
        self.action = action

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _SaveKey:
    """Save the ring buffer when the save key goes down (listener thread; the save runs in the background)."""

    def __init__(self, rec: Any, key: str) -> None:
        self.rec, self.key = rec, key
        self._last = 0.0
        self._lock = threading.Lock()

    def on_event(self, event: Any) -> None:
        if event.kind == "key_down" and event.key == self.key:
            with self._lock:
                if time.monotonic() - self._last < 1.0:  # autorepeat or a double press
                    return
                self._last = time.monotonic()
            if self.rec.save_last() is not None:
                print("saving the last seconds of play…")
