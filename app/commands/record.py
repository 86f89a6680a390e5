"""``jarvis-play record``: record episodes without the GUI.

    jarvis-play record --window Minecraft --out ~/jarvis-episodes --instruction "chop a tree"
    jarvis-play record --window Minetest --out eps --seconds 120 --degrees-per-count 0.2
    jarvis-play record --window Minecraft --out eps --mode corrections --model vllm:http://gpu:8000 \\
        --instruction "mine iron ore"
    jarvis-play record --fake --out /tmp/eps --seconds 5          # pipeline check, no game

Modes: ``teleop`` (you play; nothing is injected), ``agent`` (the agent plays), ``corrections`` (the
agent plays; take over any time by just playing, and each takeover is tagged with the seconds before
it). In every mode the save key (default F8) writes the last 30 s as an episode of its own. Ctrl-C
ends the recording cleanly; a crash loses at most the last second, repaired at the next start.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

from app.commands.connect_args import add_loop_args, add_target_args, open_session, settings_from
from app.commands.run import play
from app.errors import UserError
from app.runtime.recording import MODES, record_mode
from recorder.episodes import RecordMode
from recorder.input import binding_name

LOG = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser = sub.add_parser("record", help="record play (teleop, agent or corrections) as episodes, no GUI")
    parser.add_argument("--out", type=Path, required=True, help="folder of episodes (created if missing)")
    parser.add_argument(
        "--mode", type=record_mode, choices=[RecordMode(m) for m in MODES], default=RecordMode.TELEOP
    )
    parser.add_argument("--instruction", default="", help="the task, stored with every tick")
    parser.add_argument("--model", default=None, help="agent/corrections: the policy spec (as for `run`)")
    parser.add_argument("--save-key", default=None, help="save the last --ring-seconds as an episode (F8)")
    parser.add_argument("--ring-seconds", type=float, default=None, help="length of the save-key buffer (30)")
    parser.add_argument(
        "--outcome",
        choices=("success", "failure", "unknown"),
        default="unknown",
        help="outcome written to meta.json at the end",
    )
    add_target_args(parser)
    add_loop_args(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.mode != RecordMode.TELEOP and not args.model:
        raise UserError(f"--mode {args.mode} needs --model (the agent that plays)")
    settings = settings_from(args)
    settings.record, settings.record_mode = True, args.mode
    settings.episodes_dir = str(args.out)
    settings.instruction = args.instruction
    if args.save_key is not None:
        try:
            binding_name(args.save_key)
        except ValueError as exc:
            raise UserError(f"--save-key: {exc}") from exc
        settings.save_last_key = args.save_key
    if args.ring_seconds is not None:
        settings.ring_seconds = args.ring_seconds
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the episodes folder {args.out}: {exc.strerror or exc}") from exc
    try:  # an existing folder may still refuse writes (read-only disk, permissions): say so before playing
        with tempfile.TemporaryFile(dir=args.out):
            pass
    except OSError as exc:
        raise UserError(
            f"cannot write to the episodes folder {args.out}: {exc.strerror or exc}; choose another --out"
        ) from exc
    model = args.model if args.mode != RecordMode.TELEOP else None
    with open_session(args, settings, model=model) as session:
        reported: list[str] = []

        def report(message: str) -> None:
            reported.append(message)
            print(f"jarvis-play record: {message}")

        session.on_error.append(report)
        session.set_instruction(args.instruction)
        session.set_outcome(args.outcome)
        print(
            f"recording ({args.mode}) to {args.out}; {settings.save_last_key.upper()} saves the last "
            f"{settings.ring_seconds:g} s; Ctrl-C stops"
        )
        outcome = play(session, seconds=args.seconds, teleop=args.mode == RecordMode.TELEOP)
    meta = outcome.episode if outcome is not None else None
    if meta is not None:
        print(
            f"{args.out}: {meta.status}, {meta.frame_count} ticks, {meta.dropped_ticks} dropped"
            + (f"; {meta.error}" if meta.error and meta.error not in reported else "")
            + ("; stopped early by the error above" if meta.error and meta.error in reported else "")
        )
    return 0 if meta is None or meta.status == "complete" else 1
