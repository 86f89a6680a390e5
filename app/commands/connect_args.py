"""Command-line options shared by the verbs that drive a game (run, replay, bench), and the code
that turns them into a connector, a policy and run settings."""

from __future__ import annotations

import argparse
import logging
from typing import Any

LOG = logging.getLogger(__name__)


def add_target_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("game")
    g.add_argument("--window", metavar="TITLE", help="the game window: part of its title, e.g. Minecraft")
    g.add_argument("--pid", type=int, help="the game window by process id")
    g.add_argument("--region", metavar="X,Y,W,H", help="a fixed screen rectangle instead of a window")
    g.add_argument(
        "--env",
        metavar="SPEC",
        help="a MineRL environment in lockstep: minerl, minestudio or module:callable",
    )
    g.add_argument("--fake", action="store_true", help="no game: a test pattern (pipeline check)")
    g.add_argument(
        "--options", metavar="PATH", help="Minecraft's options.txt (default: ~/.minecraft/options.txt)"
    )
    g.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="ACTION=KEY",
        help="rebind an env key, e.g. --bind forward=up --bind attack=mouse.left (repeatable)",
    )
    g.add_argument(
        "--degrees-per-count",
        type=float,
        help="camera degrees per mouse count (default from options.txt; 0.15 = Minecraft at 100%%)",
    )
    g.add_argument("--gui-scale", type=float, help="Minecraft guiScale for cursor moves in GUI screens")
    g.add_argument(
        "--no-focus-check",
        action="store_true",
        help="inject even when the game window does not have keyboard focus (not recommended)",
    )


def add_loop_args(parser: argparse.ArgumentParser, seconds: float | None = None) -> None:
    g = parser.add_argument_group("loop and safety")
    g.add_argument("--seconds", type=float, default=seconds, help="stop after this many seconds")
    g.add_argument("--hz", type=float, default=20.0, help="ticks per second (default 20, as in training)")
    g.add_argument(
        "--fallback",
        choices=("chunk", "repeat", "null"),
        default="chunk",
        help="what a tick does when the model is late (default: rest of the chunk, then null)",
    )
    g.add_argument(
        "--policy-timeout", type=float, default=30.0, help="seconds before a policy call counts as hung"
    )
    g.add_argument("--panic-key", default="f12", help="stop the agent and release everything (default F12)")
    g.add_argument(
        "--pause-key", default="f9", help="pause/resume the agent, or take back from you (default F9)"
    )
    g.add_argument(
        "--resume-after",
        type=float,
        default=2.0,
        help="seconds of your silence before the agent resumes (0: only the pause key)",
    )
    g.add_argument("--no-listen", action="store_true", help="no human override or hotkeys (panic key off!)")
    g.add_argument("--json", action="store_true", help="print the telemetry summary as JSON")


def run_settings(args: argparse.Namespace) -> Any:
    from app.errors import UserError
    from app.runtime.loop import LoopConfig
    from app.runtime.runner import RunSettings
    from app.runtime.takeover import ControlConfig
    from recorder.keymap import binding_name

    try:
        control = ControlConfig(
            panic_key=binding_name(args.panic_key),
            pause_key=binding_name(args.pause_key),
            resume_after_s=max(0.0, args.resume_after),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    loop = LoopConfig(
        hz=args.hz, fallback=args.fallback, seconds=args.seconds, policy_timeout_s=args.policy_timeout
    )
    return RunSettings(loop=loop, control=control, listen=not args.no_listen)


def _region(text: str) -> tuple[int, int, int, int]:
    from app.errors import UserError

    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise UserError(f"--region wants X,Y,W,H in pixels, got {text!r}") from exc
    return x, y, w, h


def build_connector(args: argparse.Namespace) -> Any:
    """The connector the arguments ask for, opened. Prints what the game settings mean for the agent."""
    from app.errors import UserError

    chosen = [bool(args.window), args.pid is not None, bool(args.region), bool(args.env), bool(args.fake)]
    if sum(chosen) != 1:
        raise UserError(
            "say which game to play: exactly one of --window TITLE, --pid, --region, --env, --fake"
        )
    if args.fake:
        from app.games.fake import FakeConnector

        return FakeConnector()
    if args.env:
        from app.games.minerl_env import MineRLConnector, make_env

        try:
            env = make_env(args.env)
        except (ImportError, ValueError, AttributeError) as exc:
            raise UserError(str(exc)) from exc
        return MineRLConnector(env).open()
    return _desktop(args)


def _desktop(args: argparse.Namespace) -> Any:
    from app.errors import UserError
    from app.games.desktop import DesktopConfig, DesktopConnector
    from app.games.mouse_law import degrees_per_count
    from app.games.spec import minecraft_options
    from recorder import display, keymap

    for check in (display.can_capture(), display.can_inject()):
        if not check.ok:
            raise UserError(check.reason)
    cfg = DesktopConfig(
        title=args.window,
        pid=args.pid,
        region=_region(args.region) if args.region else None,
        require_focus=not args.no_focus_check,
    )
    title = (args.window or "").lower()
    is_minetest = any(n in title for n in ("minetest", "luanti"))
    opts = None
    if args.options or not is_minetest:
        opts = minecraft_options.load(args.options)
        if args.options and opts is None:
            raise UserError(f"no options file at {args.options}")
    connector = DesktopConnector(cfg)
    try:
        connector.open()
    except LookupError as exc:
        raise UserError(f"{exc}. Is the game running? (jarvis-play demo-game starts one)") from exc
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if opts is not None:
        print(f"Minecraft settings from {opts.path}:")
        findings = opts.findings(window_height=connector.rect[3])
        for f in findings:
            print(f"  [{f.severity}] {f.text}")
        if not findings:
            print("  all as in training")
        cfg.bindings = opts.bindings()
        cfg.degrees_per_count = degrees_per_count(opts.mouse_sensitivity)
        cfg.gui_scale = float(opts.gui_scale or max(1, round(connector.rect[3] / 360)))
        cfg.invert_y = opts.invert_y
    elif is_minetest:
        print(
            "minetest/luanti: assuming mouse_sensitivity 0.15 (the demo game's setting, 0.15° per count); "
            "pass --degrees-per-count for another value"
        )
    elif not is_minetest:
        print("no Minecraft options.txt found: assuming training settings (sensitivity 100%, guiScale 2)")
    if args.degrees_per_count:
        cfg.degrees_per_count = args.degrees_per_count
    if args.gui_scale:
        cfg.gui_scale = args.gui_scale
    for item in args.bind:
        env_key, sep, key = item.partition("=")
        try:
            if not sep or env_key not in keymap.DEFAULT_BINDINGS:
                raise ValueError(
                    f"{item!r}: want ACTION=KEY with ACTION one of {', '.join(keymap.DEFAULT_BINDINGS)}"
                )
            cfg.bindings[env_key] = keymap.binding_name(key)
        except ValueError as exc:
            raise UserError(f"--bind {exc}") from exc
    connector.reconfigure()
    return connector


def build_policy(spec: str, args: argparse.Namespace | None = None) -> Any:
    """``scripted:ACTIONS.jsonl`` replays a file in a loop; anything else goes to the model factory."""
    from app.errors import UserError

    if spec.startswith("scripted:"):
        from model.policies.scripted import ScriptedPolicy

        try:
            return ScriptedPolicy.from_jsonl(spec.split(":", 1)[1], loop=True)
        except (OSError, ValueError) as exc:
            raise UserError(str(exc)) from exc
    try:
        from model.policies.factory import make_policy
    except ImportError as exc:
        raise UserError(f"no model support in this install ({exc}); try --model scripted:FILE.jsonl") from exc
    try:
        return make_policy(spec)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load the model {spec!r}: {exc}") from exc
