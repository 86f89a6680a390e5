"""``jarvis-play finetune``: LoRA on recorded episodes, and the before/after comparison.

    jarvis-play finetune --model tiny --episodes recordings/ --out adapters/first --steps 200
    jarvis-play finetune --model M --episodes held-out/ --compare adapters/first
    accelerate launch --multi_gpu --num_processes 2 -m app.cli finetune --model M --episodes rec/ --out a/

Training runs in this process; the window starts it as a child process (``--json-progress``) so the
GUI stays responsive and the GPU memory is returned when it exits. SIGTERM (the window's Cancel)
stops after writing a checkpoint; ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.errors import UserError
from model.checkpoint import CheckpointError
from model.finetune.config import add_flags, from_flags
from model.finetune.errors import FinetuneError
from model.finetune.evaluate import compare, format_comparison, stratified
from model.finetune.sft_data import SftOptions, episode_records, usable_episodes
from model.policies.factory import model_path
from model.vla import VLA


def register(sub: Any) -> None:
    p = sub.add_parser(
        "finetune", help="LoRA fine-tune on recorded episodes, or compare an adapter with its base"
    )
    add_flags(p)
    p.add_argument(
        "--compare", metavar="ADAPTER", help="only evaluate ADAPTER against the base on --episodes"
    )
    p.add_argument(
        "--json-progress", action="store_true", help="one JSON object per progress event on stdout"
    )
    p.set_defaults(func=main)


def _printer(json_lines: bool) -> Any:
    def show(event: dict[str, Any]) -> None:
        if json_lines:
            print(json.dumps(event, default=str), flush=True)
            return
        kind = event.get("event")
        if kind == "step":
            eta = f", ETA {event['eta_s']:.0f} s" if event.get("eta_s") is not None else ""
            print(f"step {event['step']}/{event['steps']} loss {event['loss']:.4f}{eta}", flush=True)
        elif kind == "eval":
            if "kind_accuracy" in event:
                print(f"  eval @ {event['step']}: {held_out_line(event)}", flush=True)
        elif kind == "data":
            print(
                f"{event['train_samples']} training ticks from {len(event['train'])} episodes, "
                f"{event['valid_samples']} held-out ticks from {len(event['valid'])}",
                flush=True,
            )
        else:
            print(" ".join(f"{k}={v}" for k, v in event.items()), flush=True)

    return show


def held_out_line(event: dict[str, Any]) -> str:
    """One line of held-out figures: the balanced headline, each kind, the exact action, waiting."""
    kinds = ", ".join(f"{k} {r}/{n}" for k, (r, n) in event.get("kinds", {}).items())
    return (
        f"right kind of action {event['kind_accuracy']:.0%} ({kinds}); exact action "
        f"{event['action_accuracy']:.0%} of acted frames; does nothing on {event['null_share']:.0%}; "
        f"valid loss {event['valid_loss']:.4f}"
    )


def main(args: argparse.Namespace) -> int:
    if args.compare:
        return _compare(args)
    if not args.out:
        raise UserError("--out ADAPTER_DIR is required to train (or use --compare ADAPTER)")
    config = from_flags(args)
    from model.finetune.train import train  # heavy: accelerate, peft, safetensors, torch, transformers

    show = _printer(args.json_progress)
    try:
        manifest = train(config, show)
    except (FinetuneError, CheckpointError) as exc:
        if args.json_progress:
            show({"event": "error", "message": str(exc)})
        raise UserError(str(exc)) from exc
    if manifest["cancelled"]:
        print(f"cancelled at step {manifest['steps_done']}; continue with --resume", file=sys.stderr)
        return 3
    if not args.json_progress:
        print(f"adapter written to {args.out}")
        final = next((m for m in reversed(manifest["metrics"]) if "kind_accuracy" in m), None)
        if final is None:
            print("no held-out figures: record at least two episodes, one is held out to measure on")
        else:
            print(f"held-out: {held_out_line(final)}")
            for warning in final["warnings"]:
                print(f"warning: {warning}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    options = SftOptions(correction_weight=1, null_ticks=args.null_ticks)
    folders, _ = usable_episodes([Path(p) for p in args.episodes], options.statuses)
    records = [r for f in folders for r in episode_records(f, options)]
    if not records:
        raise UserError("no usable ticks in --episodes to compare on")
    # Where the person corrected the agent, what they did is the label; the agent's own ticks are the
    # base model's play, not an answer to score against (the fine-tune's figures skip them too).
    corrections = [r for r in records if r.get("phase") == "correction"]
    scored = "the person's corrections" if corrections else "every kept tick"
    records = corrections or records
    try:
        vla = VLA.load(model_path(args.model), adapter=args.compare, device=args.device)
    except CheckpointError as exc:
        raise UserError(str(exc)) from exc
    result = {**compare(vla, stratified(records, args.eval_samples, args.seed)), "scored": scored}
    print(json.dumps(result, default=str) if args.json_progress else format_comparison(result))
    return 0
