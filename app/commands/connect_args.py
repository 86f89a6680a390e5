"""Command-line options shared by the verbs that drive a game (run, replay, record, bench), and the
step that turns them into a ``Session``: the user's saved settings, overridden by the flags given.

Defaults live once, in ``app.settings.Settings``: a flag that is not given leaves the setting as
the settings file (or its default) has it, so the window and the command line behave alike.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from app import settings as settings_mod
from app.commands.progress_line import ProgressLine
from app.errors import UserError
from app.games.spec import GameSpec
from app.session import Session
from app.settings import add_flags, apply_flags
from model.spec import ModelSpecError
from recorder.input import keymap

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
    add_flags(parser, "game")
    g = parser.add_argument_group("key bindings")
    g.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="ACTION=KEY",
        help="rebind an env key, e.g. --bind forward=up --bind attack=mouse.left (repeatable)",
    )


def add_loop_args(parser: argparse.ArgumentParser, seconds: float | None = None) -> None:
    """The loop, safety and local-model flags: those that override a setting come from
    ``app.settings.Settings`` (``add_flags``); the rest belong to this run only."""
    add_flags(parser, "loop")
    g = parser.add_argument_group("this run")
    g.add_argument("--seconds", type=float, default=seconds, help="stop after this many seconds")
    g.add_argument("--no-listen", action="store_true", help="no human override or hotkeys (panic key off!)")
    g.add_argument("--json", action="store_true", help="print the telemetry summary as JSON")
    add_flags(parser, "model")


def game_spec(args: argparse.Namespace) -> Any:
    """The one game the flags name, as a ``GameSpec``."""
    chosen: list[tuple[object, Callable[[], str]]] = [
        (args.game, lambda: str(args.game)),
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
    loaded = settings_mod.load()
    for message in loaded.messages:
        print(f"jarvis-play: {message}")
    s = apply_flags(loaded.settings, args)
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
    settings = settings or settings_from(args)
    spec = game_spec(args)
    session = Session(settings, listen=not getattr(args, "no_listen", False))
    session.on_download.append(ProgressLine())  # a hub model's first download, on one line
    if session.tasks_problem:  # e.g. the task library could not be downloaded (offline)
        print(f"jarvis-play: {session.tasks_problem}")
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
