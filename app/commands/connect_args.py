"""Command-line options shared by the verbs that drive a game (run, replay, record, bench), and the
step that turns them into a ``Session``: the user's saved settings, overridden by the flags given.

Defaults live once, in ``app.settings.Settings``: a flag that is not given leaves the setting as
the settings file (or its default) has it, so the window and the command line behave alike.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from app.runtime.loop import FALLBACKS

LOG = logging.getLogger(__name__)


def add_target_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("game (one of)")
    g.add_argument(
        "--game", metavar="SPEC", help="demo, window:TITLE, pid:N, region:L,T,W,H, screen, minerl:ENV or fake"
    )
    g.add_argument("--window", metavar="TITLE", help="the game window: part of its title, e.g. Minecraft")
    g.add_argument("--pid", type=int, help="the game window by process id")
    g.add_argument("--region", metavar="X,Y,W,H", help="a fixed screen rectangle instead of a window")
    g.add_argument(
        "--env",
        metavar="SPEC",
        help="a MineRL environment in lockstep: minerl, minestudio or module:callable",
    )
    g.add_argument("--fake", action="store_true", help="no game: a test pattern (pipeline check)")
    g = parser.add_argument_group("game settings (read from the game where possible)")
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
        help="camera degrees per mouse count (default from the game's settings)",
    )
    g.add_argument("--gui-scale", type=float, help="Minecraft guiScale for cursor moves in GUI screens")
    g.add_argument(
        "--no-focus-check",
        action="store_true",
        help="inject even when the game window does not have keyboard focus (not recommended)",
    )


def add_loop_args(parser: argparse.ArgumentParser, seconds: float | None = None) -> None:
    """Loop flags default to None: "as the settings say" (see ``app.settings.Settings``)."""
    g = parser.add_argument_group("loop and safety (defaults from the settings file)")
    g.add_argument("--seconds", type=float, default=seconds, help="stop after this many seconds")
    g.add_argument("--hz", type=float, help="ticks per second (default 20, as in training)")
    g.add_argument(
        "--fallback",
        choices=FALLBACKS,
        help="what a tick does when the model is late (default hold: rest of the chunk, then the last "
        "keys and buttons held, camera still, while the last answer is fresh)",
    )
    g.add_argument("--policy-timeout", type=float, help="seconds before a policy call counts as hung (30)")
    g.add_argument(
        "--deadman",
        type=float,
        metavar="S",
        help="with --fallback hold/repeat: release every key when the model has not answered for S s "
        "(1; 0: off)",
    )
    g.add_argument("--panic-key", help="stop the agent and release everything (default F12)")
    g.add_argument("--pause-key", help="pause/resume the agent, or take back from you (default F9)")
    g.add_argument(
        "--resume-after",
        type=float,
        help="seconds of your silence before the agent resumes (default 2; 0: only the pause key)",
    )
    g.add_argument("--no-listen", action="store_true", help="no human override or hotkeys (panic key off!)")
    g.add_argument(
        "--tasks",
        metavar="FILE",
        help="JarvisVLA's instructions.json (default: the checkpoint's, else downloaded once into the cache)",
    )
    g.add_argument("--json", action="store_true", help="print the telemetry summary as JSON")
    g = parser.add_argument_group("local model (defaults from the settings file)")
    g.add_argument(
        "--engine",
        choices=("auto", "fast", "plain"),
        help="fast: static cache + CUDA graphs; plain: transformers generate; auto: fast on CUDA, else plain",
    )
    g.add_argument(
        "--quantize",
        choices=("none", "4bit", "8bit"),
        help="the language model in 4bit/8bit (bitsandbytes, CUDA; vision tower stays bf16)",
    )


def game_spec(args: argparse.Namespace) -> Any:
    """The one game the flags name, as a ``GameSpec``."""
    from app.errors import UserError
    from app.games.spec import GameSpec

    chosen = [
        (args.game, lambda: args.game),
        (args.window, lambda: f"window:{args.window}"),
        (args.pid is not None, lambda: f"pid:{args.pid}"),
        (args.region, lambda: f"region:{args.region}"),
        (args.env, lambda: f"minerl:{args.env}"),
        (args.fake, lambda: "fake"),
    ]
    given = [text for flag, text in chosen if flag]
    if len(given) != 1:
        raise UserError(
            "say which game to play: exactly one of --game SPEC, --window TITLE, --pid, --region, "
            "--env, --fake"
        )
    return GameSpec.parse(given[0]())


def settings_from(args: argparse.Namespace) -> Any:
    """The user's saved settings with this command's flags applied on top."""
    from app import settings as settings_mod
    from app.errors import UserError
    from recorder.input import keymap

    loaded = settings_mod.load()
    for message in loaded.messages:
        print(f"jarvis-play: {message}")
    s = loaded.settings
    overrides = {
        "tick_hz": getattr(args, "hz", None),
        "fallback": getattr(args, "fallback", None),
        "policy_timeout_s": getattr(args, "policy_timeout", None),
        "deadman_s": getattr(args, "deadman", None),
        "panic_key": getattr(args, "panic_key", None),
        "pause_key": getattr(args, "pause_key", None),
        "resume_after_s": getattr(args, "resume_after", None),
        "options_file": getattr(args, "options", None),
        "degrees_per_count": getattr(args, "degrees_per_count", None),
        "gui_scale": getattr(args, "gui_scale", None),
        "engine": getattr(args, "engine", None),
        "quantize": getattr(args, "quantize", None),
        "tasks_file": getattr(args, "tasks", None),
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(s, name, value)
    if getattr(args, "no_focus_check", False):
        s.require_focus = False
    for name in ("panic_key", "pause_key"):
        try:
            keymap.binding_name(getattr(s, name))
        except ValueError as exc:
            raise UserError(f"--{name.replace('_', '-')}: {exc}") from exc
    for item in getattr(args, "bind", None) or []:
        env_key, sep, key = item.partition("=")
        if not sep or env_key not in keymap.DEFAULT_BINDINGS:
            raise UserError(
                f"--bind {item!r}: want ACTION=KEY with ACTION one of {', '.join(keymap.DEFAULT_BINDINGS)}"
            )
        try:
            keymap.binding_name(key)
        except ValueError as exc:
            raise UserError(f"--bind {exc}") from exc
        s.key_bindings[env_key] = key
    return s


def open_session(args: argparse.Namespace, settings: Any = None, model: str | None = None) -> Any:
    """A ``Session`` with the flags' game open (and ``model`` loaded, when given), its safety net
    installed. Use it as a context manager so every way out closes the game and releases input."""
    from app.errors import UserError
    from app.session import Session
    from model.spec import ModelSpecError

    settings = settings or settings_from(args)
    spec = game_spec(args)
    session = Session(settings, listen=not getattr(args, "no_listen", False))
    for note in session.notes:  # e.g. the task library could not be downloaded (offline)
        print(f"jarvis-play: {note}")
    session.install_safety()
    try:
        session.open_game(spec, progress=print)
        if model is not None:
            session.load_model(model, progress=lambda m: LOG.info("%s", m))
    except UserError:
        session.close()
        raise
    except ModelSpecError as exc:
        session.close()
        raise UserError(str(exc)) from exc
    except (OSError, ValueError) as exc:
        session.close()
        what = (
            f"the model {model!r}" if model is not None and session.game is not None else f"the game {spec}"
        )
        raise UserError(f"could not load {what}: {exc}") from exc
    except BaseException:
        session.close()
        raise
    return session
