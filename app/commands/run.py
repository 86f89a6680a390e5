"""``jarvis-play run`` and ``replay``: the agent loop without the GUI.

    jarvis-play demo-game &                                   # a game to play (Luanti/minetest)
    jarvis-play run --model tiny --window Minetest --instruction "mine the oak log" --seconds 30
    jarvis-play run --model http://gpu-box:8000/v1 --window Minecraft --instruction "kill a zombie"
    jarvis-play run --model tiny --env minestudio --instruction "chop a tree" --seconds 60
    jarvis-play replay walk.jsonl --window Minetest          # one JSON env action per line, per tick

Hotkeys while it runs: F12 stops the agent and releases everything; F9 pauses/resumes; touching the
keyboard or mouse yourself takes over, and the agent resumes after --resume-after seconds of quiet.
With no verb at all, ``default_demo`` shows the whole pipeline in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from app.commands.connect_args import (
    add_loop_args,
    add_target_args,
    build_connector,
    build_policy,
    run_settings,
)

LOG = logging.getLogger(__name__)

DEMO_INSTRUCTION = "Mine the oak log."
DEMO_SECONDS = 8.0


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="let the model play a game window or environment, without the GUI")
    run.add_argument(
        "--model",
        default="tiny",
        help="tiny, a local folder, an HF id, an http(s) URL of an OpenAI-compatible server, "
        "or scripted:ACTIONS.jsonl",
    )
    run.add_argument("--instruction", default="", help="what the agent should do")
    add_target_args(run)
    add_loop_args(run)
    run.set_defaults(func=main_run)

    replay = sub.add_parser("replay", help="inject env actions from a JSON-lines file, one per tick")
    replay.add_argument("actions", help="file with one env action dict per line")
    add_target_args(replay)
    add_loop_args(replay)
    replay.set_defaults(func=main_replay)


def _report(result: Any, as_json: bool) -> None:
    tel = result.telemetry
    control = result.control
    if as_json:
        summary = tel.summary()
        summary["stop_reason"] = control.stop_reason
        summary["human_events"] = result.human_events
        print(json.dumps(summary))
        return
    print(tel.format())
    if control.stop_reason:
        print(f"stopped: {control.stop_reason}")
    if result.human_events:
        print(f"human input events: {result.human_events}")


def _close(connector: Any) -> None:
    try:
        connector.close()
    except Exception:
        LOG.exception("closing the connector failed")


def main_run(args: argparse.Namespace) -> int:
    from app.runtime.runner import run_agent

    settings = run_settings(args)
    policy = build_policy(args.model, args)
    connector = build_connector(args)
    try:
        print(f"playing: {args.instruction or '(no instruction)'}  — F12 stops, F9 pauses")
        result = run_agent(connector, policy, args.instruction, settings)
    finally:
        _close(connector)
    _report(result, args.json)
    return 1 if result.loop.error else 0


def main_replay(args: argparse.Namespace) -> int:
    from app.errors import UserError
    from app.runtime.runner import run_agent
    from model.policies.scripted import ScriptedPolicy

    try:
        actions = ScriptedPolicy.from_jsonl(args.actions).actions
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    settings = run_settings(args)
    connector = build_connector(args)
    try:
        if connector.realtime:
            result = run_agent(connector, None, "", settings, actions=actions)
        else:  # an environment steps once per action: a policy that hands them out in order
            result = run_agent(connector, ScriptedPolicy(actions, chunk=len(actions) or 1), "", settings)
    finally:
        _close(connector)
    _report(result, args.json)
    return 1 if result.loop.error else 0


def _demo_policy() -> tuple[Any, str]:
    """The tiny model when the model package can build it; a scripted stroll otherwise."""
    try:
        from model.policies.factory import make_policy

        return make_policy("tiny"), "tiny model (random weights: expect aimless play)"
    except Exception as exc:  # no torch, no factory yet: still show the pipeline
        from model.actions.env import null_action
        from model.policies.scripted import ScriptedPolicy

        walk = [dict(null_action(), forward=1, camera=[0.0, 2.0]) for _ in range(40)]
        walk += [dict(null_action(), attack=1, camera=[1.0, 0.0]) for _ in range(20)]
        return ScriptedPolicy(walk, loop=True), f"a scripted walk (the model is unavailable: {exc})"


def default_demo(args: argparse.Namespace) -> int:
    """``jarvis-play`` with no verb, before the GUI exists: a short headless run of the whole pipeline.

    On a desktop with minetest installed it starts the demo game and lets the tiny model play it for a
    few seconds; anywhere else it plays a fake game. Either way it prints the loop's telemetry.
    """
    from app.games.demo_game import DemoGame, find_binary
    from app.games.fake import FakeConnector
    from app.runtime.loop import LoopConfig
    from app.runtime.runner import RunSettings, run_agent
    from app.runtime.takeover import ControlConfig
    from recorder import display

    policy, what = _demo_policy()
    settings = RunSettings(LoopConfig(seconds=DEMO_SECONDS), ControlConfig())
    game = None
    connector: Any
    if find_binary() and display.can_inject().ok and os.environ.get("DISPLAY"):
        from app.games.desktop import DesktopConfig, DesktopConnector

        print("starting the demo game (minetest) ...")
        game = DemoGame().start()
        assert game.proc is not None
        connector = DesktopConnector(DesktopConfig(pid=game.proc.pid)).open()
        where = f"minetest window {game.window_id:#x}"
    else:
        connector = FakeConnector()
        settings.listen = False
        reason = "minetest is not installed" if not find_binary() else display.can_inject().reason
        where = f"a fake game ({reason})"
    print(f"jarvis-play demo: {what} playing {where} for {DEMO_SECONDS:g} s; F12 stops, F9 pauses.")
    print(
        "(the window opens with `jarvis-play` once the GUI is installed; see `jarvis-play --help` for verbs)"
    )
    try:
        result = run_agent(connector, policy, DEMO_INSTRUCTION, settings)
    finally:
        _close(connector)
        if game is not None:
            game.close()
    _report(result, False)
    return 0
