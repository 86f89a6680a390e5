"""``jarvis-play serve --model M``: the local model as an OpenAI-compatible endpoint.

    jarvis-play serve --model CraftJarvis/JarvisVLA-Qwen2-VL-7B --port 8000
    jarvis-play run --model http://gpu-box:8000 --window Minecraft ...   # on the game machine
    jarvis-play serve --model M --host 0.0.0.0 --api-key "$KEY"            # reachable from the network
    jarvis-play run --model "http://gpu-box:8000?api_key=$KEY" ...         # the key goes as a Bearer token

Binds to 127.0.0.1 unless ``--host`` says otherwise. Beyond this machine an ``--api-key`` is
required (or ``--no-api-key``, said out loud): OpenAI clients send it as ``Authorization: Bearer``.
Every request is bounded (body, image pixels, text, max_tokens, time; see ``model.server.Limits``);
idle and slow connections hold no place; at most ``--max-waiting`` requests wait for the model, the
next is told when to come back (429, Retry-After).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from typing import Any

from app.errors import UserError
from model.checkpoint import CheckpointError
from model.policies.factory import model_path
from model.vla import VLA

LOG = logging.getLogger(__name__)


def register(sub: Any) -> None:
    from model.server import Limits  # heavy: uvicorn

    d = Limits()
    parser = sub.add_parser("serve", help="serve the model as an OpenAI-compatible chat endpoint")
    parser.add_argument("--model", default="tiny", help="HF id, local folder, or 'tiny' (default)")
    parser.add_argument("--adapter", help="PEFT LoRA adapter folder to apply")
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
    parser.add_argument(
        "--api-key",
        default=os.environ.get("JARVIS_PLAY_API_KEY"),
        help="require 'Authorization: Bearer KEY' (default: $JARVIS_PLAY_API_KEY); needed beyond localhost",
    )
    parser.add_argument(
        "--no-api-key", action="store_true", help="serve beyond localhost without a key (anyone can use it)"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=d.max_tokens, help=f"largest max_tokens accepted ({d.max_tokens})"
    )
    parser.add_argument(
        "--request-seconds",
        type=float,
        default=d.request_seconds,
        help=f"longest a request may wait for and use the model ({d.request_seconds:g} s); then 503",
    )
    parser.add_argument(
        "--max-waiting",
        type=int,
        default=d.max_waiting,
        help=f"requests queued for the model ({d.max_waiting}); more get 429 with Retry-After",
    )
    parser.set_defaults(func=main)


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _allow_many_sockets() -> None:
    """Raise this process's open-file limit to its hard limit: each client, idle or not, is a socket
    (for seconds at most), and the usual soft limit of 1024 is what a crowd would run into first."""
    try:
        import resource  # POSIX only
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError) as exc:
            LOG.warning("could not raise the open-file limit from %d: %s", soft, exc)


def main(args: argparse.Namespace) -> int:
    from model.server import ChatServer, Limits  # heavy: uvicorn

    if not _loopback(args.host) and not args.api_key and not args.no_api_key:
        raise UserError(
            f"--host {args.host} makes the model reachable from the network: set --api-key KEY "
            "(clients send it as 'Authorization: Bearer KEY'), or pass --no-api-key to serve it to anyone"
        )
    if args.max_tokens < 1 or args.request_seconds <= 0 or args.max_waiting < 0:
        raise UserError("--max-tokens and --request-seconds must be positive, --max-waiting not negative")
    limits = Limits(
        max_tokens=args.max_tokens, request_seconds=args.request_seconds, max_waiting=args.max_waiting
    )
    _allow_many_sockets()
    try:
        vla = VLA.load(model_path(args.model), adapter=args.adapter)
    except CheckpointError as exc:
        raise UserError(str(exc)) from exc
    try:
        server = ChatServer(
            (args.host, args.port),
            vla,
            args.served_name,
            constrained=not args.unconstrained,
            limits=limits,
            api_key=args.api_key,
        )
    except OSError as exc:
        raise UserError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror}; pick another --port"
        ) from exc
    host, port = server.server_address[:2]
    auth = "; API key required" if args.api_key else ""
    print(
        f"serving {args.model} as {args.served_name!r} on http://{host}:{port}/v1{auth} (Ctrl+C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
