"""``jarvis-play model make-tiny DIR``: build the tiny random test model (see ``model.tiny``)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("model", help="model utilities")
    verbs = parser.add_subparsers(dest="model_verb", metavar="make-tiny", required=True)
    tiny = verbs.add_parser("make-tiny", help="write a tiny random Qwen2-VL with JARVIS-VLA's token layout")
    tiny.add_argument("dir", nargs="?", help="output folder (default: the user cache, used by --model tiny)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=make_tiny)


def make_tiny(args: argparse.Namespace) -> int:
    from pathlib import Path

    from model.tiny import default_tiny_dir, make_tiny

    path = Path(args.dir) if args.dir else default_tiny_dir()
    if path.exists() and any(path.iterdir()) and not (path / "config.json").exists():
        from app.errors import UserError

        raise UserError(f"{path} exists and is not a model folder; choose an empty or new folder")
    make_tiny(path, seed=args.seed)
    print(f"tiny model written to {path}. Its weights are random: it plays randomly, for tests and demos.")
    return 0
