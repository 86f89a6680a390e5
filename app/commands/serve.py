"""``jarvis-play serve --model M``: the local model as an OpenAI-compatible endpoint.

    jarvis-play serve --model CraftJarvis/JarvisVLA-Qwen2-VL-7B --port 8000
    jarvis-play run --model http://gpu-box:8000 --window Minecraft ...   # on the game machine

Binds to 127.0.0.1 unless ``--host`` says otherwise: the endpoint has no authentication.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

LOG = logging.getLogger(__name__)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """--engine and --quantize, as run and the window's settings take them (``PolicyOptions``)."""
    from model.policies.factory import ENGINES, QUANTIZE

    parser.add_argument(
        "--engine",
        choices=ENGINES,
        help="fast: static cache + CUDA graphs (model.fast_decode); plain: transformers generate; "
        "auto (default): fast on CUDA, plain on CPU",
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZE,
        help="the language model in 4bit or 8bit (bitsandbytes, CUDA; vision tower stays bf16); default none",
    )


def register(sub: Any) -> None:
    parser = sub.add_parser("serve", help="serve the model as an OpenAI-compatible chat endpoint")
    parser.add_argument("--model", default="tiny", help="HF id, local folder, or 'tiny' (default)")
    parser.add_argument("--adapter", help="PEFT LoRA adapter folder to apply")
    add_model_args(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-name", default="jarvisvla", help="model id the server reports")
    parser.add_argument(
        "--unconstrained",
        action="store_true",
        help="sample freely as the official eval does, instead of the action grammar",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from app.errors import UserError
    from model.checkpoint import CheckpointError
    from model.policies.factory import PolicyOptions, load_vla
    from model.server import ChatServer

    options = PolicyOptions(
        adapter=args.adapter, engine=args.engine or "auto", quantize=args.quantize or "none"
    )
    try:
        vla = load_vla(args.model, options)
    except CheckpointError as exc:
        raise UserError(str(exc)) from exc
    try:
        server = ChatServer((args.host, args.port), vla, args.served_name, constrained=not args.unconstrained)
    except OSError as exc:
        raise UserError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror}; pick another --port"
        ) from exc
    host, port = server.server_address[:2]
    print(
        f"serving {args.model} as {args.served_name!r} on http://{host}:{port}/v1 (Ctrl+C stops)", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
