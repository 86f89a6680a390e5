"""``jarvis-play``: one command, a verb for each job.

With no verb it opens the window on the embedded defaults. Each verb lives in its own module under
``app.commands`` with a ``register(subparsers)`` that adds its parser and sets ``func``; modules import
their heavy dependencies inside the function that runs, so ``jarvis-play --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from app.errors import OWN_ERRORS

# verb modules, in the order ``--help`` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "app.commands.window",
    "app.commands.actions",
    "app.commands.model_cmd",
    "app.commands.serve",
    "app.commands.doctor",
    "app.commands.finetune",
    "app.commands.record",
    "app.commands.episodes",
    "app.commands.run",
    "app.commands.eval",
    "app.commands.demo_game",
    "app.commands.bench",
    "app.commands.calibrate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jarvis-play",
        description="Watch JARVIS-VLA play Minecraft, instruct it, take over, and teach it. "
        "Without a verb, opens the window on the embedded defaults.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # the hub client's HTTP library logs every request at INFO (a download makes dozens)
        for chatty in ("httpx2", "httpx"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    func = getattr(args, "func", None)
    if func is None:  # no verb: the window on the embedded defaults
        func = importlib.import_module("app.commands.window").main
    try:
        return int(func(args) or 0)
    except OWN_ERRORS as exc:  # a message that already says what to do: no traceback
        print(f"jarvis-play: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
