"""``jarvis-play model``: the model's files.

    jarvis-play model make-tiny [DIR]                               # the tiny random test model (model.tiny)
    jarvis-play model download CraftJarvis/JarvisVLA-Qwen2-VL-7B   # checks, then ~16 GB, resumable
    jarvis-play model download CraftJarvis/JarvisVLA-Qwen2-VL-7B --quantize 4bit   # fit checked for 4-bit

``download`` checks the repository's config and tokenizer, the GPU fit for the precision and the room
on the disk before any weight moves (``model.fetch``), then shows bytes, rate and time left on one line.
Ctrl+C stops it; running it again resumes where it stopped.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app import settings as settings_mod
from app.commands.progress_line import ProgressLine
from app.errors import UserError
from model.download_watch import Watch
from model.fetch import FitAsk, fetch


def register(sub: Any) -> None:
    parser = sub.add_parser("model", help="model utilities")
    verbs = parser.add_subparsers(dest="model_verb", metavar="make-tiny|download", required=True)
    tiny = verbs.add_parser("make-tiny", help="write a tiny random Qwen2-VL with JARVIS-VLA's token layout")
    tiny.add_argument("dir", nargs="?", help="output folder (default: the user cache, used by --model tiny)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=make_tiny)
    get = verbs.add_parser(
        "download",
        help="download a hub checkpoint into the hub cache: checked first, resumable, with progress",
    )
    get.add_argument("repo", help="the hub id, e.g. CraftJarvis/JarvisVLA-Qwen2-VL-7B")
    get.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    get.add_argument(
        "--quantize",
        choices=("none", "4bit", "8bit"),
        default=None,
        help="the precision to check the GPU fit for (default: the settings' quantize)",
    )
    get.set_defaults(func=download)


def make_tiny(args: argparse.Namespace) -> int:
    from model.tiny import default_tiny_dir, make_tiny  # heavy: transformers

    path = Path(args.dir) if args.dir else default_tiny_dir()
    if path.exists() and any(path.iterdir()) and not (path / "config.json").exists():
        raise UserError(f"{path} exists and is not a model folder; choose an empty or new folder")
    make_tiny(path, seed=args.seed)
    print(f"tiny model written to {path}. Its weights are random: it plays randomly, for tests and demos.")
    return 0


def download(args: argparse.Namespace) -> int:
    quantize = args.quantize or settings_mod.load().settings.quantize
    folder = fetch(args.repo, Watch(on_progress=ProgressLine()), FitAsk(quantize=quantize), args.revision)
    print(f"{args.repo} is ready in {folder}")
    return 0
