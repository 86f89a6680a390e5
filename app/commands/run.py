"""``jarvis-play run`` and ``replay``: the agent loop without the GUI.

    jarvis-play demo-game &                                   # a game to play (Luanti/minetest)
    jarvis-play run --model tiny --window Minetest --instruction "mine the oak log" --seconds 30
    jarvis-play run --model http://gpu-box:8000/v1 --window Minecraft --instruction "kill a zombie"
    jarvis-play run --model tiny --env minestudio --instruction "chop a tree" --seconds 60
    jarvis-play replay walk.jsonl --window Minetest          # one JSON env action per line, per tick

Hotkeys while it runs: F12 stops the agent and releases everything; F9 pauses/resumes; touching the
keyboard or mouse yourself takes over, and the agent resumes after --resume-after seconds of quiet.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from app.commands.connect_args import add_loop_args, add_target_args, open_session, settings_from
from app.errors import UserError
from model.policies.scripted import ScriptedPolicy

LOG = logging.getLogger(__name__)


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="let the model play a game window or environment, without the GUI")
    run.add_argument(
        "--model",
        default=None,
        help="tiny, a local folder, an HF id, an http(s) URL of an OpenAI-compatible server, "
        "or scripted:ACTIONS.jsonl (default: the settings' model, tiny on a first run)",
    )
    run.add_argument("--instruction", default=None, help="what the agent should do")
    add_target_args(run)
    add_loop_args(run)
    run.set_defaults(func=main_run)

    replay = sub.add_parser("replay", help="inject env actions from a JSON-lines file, one per tick")
    replay.add_argument("actions", help="file with one env action dict per line")
    add_target_args(replay)
    add_loop_args(replay)
    replay.set_defaults(func=main_replay)


def report(outcome: Any, as_json: bool) -> None:
    tel = outcome.telemetry
    if as_json:
        summary = tel.summary() if tel is not None else {}
        summary["stop_reason"] = outcome.reason
        summary["human_events"] = outcome.human_events
        summary["agent_events_lost"] = outcome.agent_events_lost
        print(json.dumps(summary))
        return
    if tel is not None:
        print(tel.format())
    print(f"stopped: {outcome.reason}")
    if outcome.human_events:
        print(f"human input events: {outcome.human_events}")


def play(session: Any, **start: Any) -> Any:
    """Start a run and wait for its end; Ctrl+C or a signal stops it (the safety net released input)."""
    try:
        session.start(**start)
        outcome = session.wait()
    except KeyboardInterrupt:
        session.stop("interrupted")
        outcome = session.wait(10.0)
    return outcome


def main_run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.instruction is not None:
        settings.instruction = args.instruction
    model = args.model or settings.model
    with open_session(args, settings, model=model) as session:
        session.on_error.append(lambda m: print(f"jarvis-play run: {m}"))
        session.set_instruction(settings.instruction)
        print(f"playing: {settings.instruction or '(no instruction)'}  — F12 stops, F9 pauses")
        outcome = play(session, seconds=args.seconds)
    if outcome is None:
        return 1
    report(outcome, args.json)
    return 1 if outcome.error is not None else 0


def main_replay(args: argparse.Namespace) -> int:
    try:
        actions = ScriptedPolicy.from_jsonl(args.actions).actions
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    with open_session(args) as session:
        session.on_error.append(lambda m: print(f"jarvis-play replay: {m}"))
        outcome = play(session, seconds=args.seconds, actions=actions)
    if outcome is None:
        return 1
    report(outcome, args.json)
    return 1 if outcome.error is not None else 0
