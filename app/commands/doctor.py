"""``jarvis-play doctor``: what works on this machine, and what to do about what doesn't.

Checks, in the order a first run meets them: Python and torch, CUDA and GPU memory, the display
server and the desktop backend that would play there (and why, and what is not possible there),
and the configured model (resolved, tokenizer checked, and loaded unless ``--no-load``). Exit status
0 only when nothing blocks play.
"""

from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

from app.commands.progress_line import ProgressLine
from model import fit
from model.checkpoint import CheckpointError, load_processor
from model.download_watch import Watch
from model.fetch import resolve
from model.policies.base import PolicyError
from model.policies.factory import model_path
from model.policies.remote import RemotePolicy, RemotePolicyConfig
from model.spec import ModelSpec, ModelSpecError
from model.vla import VLA
from recorder.desktop import detect

GIB = 1024**3


def register(sub: Any) -> None:
    parser = sub.add_parser("doctor", help="check Python, GPU, display, capture/injection and the model")
    parser.add_argument("--model", default="tiny", help="model to check: HF id, folder, URL or 'tiny'")
    parser.add_argument(
        "--no-load", action="store_true", help="check files and tokenizer but do not load weights"
    )
    parser.add_argument(
        "--fit-table",
        help="a fit-table.json or gpu-check.json from bench gpu-check (default: built-in H200 one)",
    )
    parser.set_defaults(func=main)


class Report:
    def __init__(self) -> None:
        self.problems = 0

    def line(self, ok: bool | None, what: str, detail: str) -> None:
        mark = {True: "ok  ", False: "FAIL", None: "note"}[ok]
        print(f"[{mark}] {what:<10} {detail}")
        if ok is False:
            self.problems += 1


def main(args: argparse.Namespace) -> int:
    report = Report()
    report.line(sys.version_info >= (3, 10), "python", f"{platform.python_version()} ({sys.executable})")
    _torch(report)
    _fit(report, args.model, getattr(args, "fit_table", None))
    _display(report)
    _model(report, args.model, load=not args.no_load)
    print("all good" if not report.problems else f"{report.problems} problem(s): see FAIL lines above")
    return 1 if report.problems else 0


def _torch(report: Report) -> None:
    try:
        import torch  # heavy: torch
    except ImportError:
        report.line(False, "torch", "not installed: run `make play` (or pip install torch==2.13.0)")
        return
    report.line(True, "torch", f"{torch.__version__}, {torch.get_num_threads()} CPU threads")
    if not torch.cuda.is_available():
        report.line(
            None, "gpu", "no CUDA GPU: the model runs on CPU (fine for the tiny model, far too slow for 7B)"
        )
        return
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
        enough = total >= 20 * GIB
        hint = "" if enough else " (the 7B model needs ~17 GiB in bf16; use a 4-bit path or a server)"
        report.line(
            True if enough else None,
            "gpu",
            f"{index}: {name}, {free / GIB:.1f}/{total / GIB:.1f} GiB free{hint}",
        )


def _fit(report: Report, spec: str, table_path: str | None, free_gib: float | None = None) -> None:
    """Which precisions of the model fit beside what already runs on the GPU, and how fast they play."""
    try:
        table = fit.load_table(table_path)
        parsed = ModelSpec.parse(spec)
    except (CheckpointError, ModelSpecError) as exc:
        report.line(False, "fit", str(exc))
        return
    if parsed.remote or parsed.kind == "scripted":
        return
    free = free_gib if free_gib is not None else fit.free_gpu_gib()
    path = parsed.value if parsed.kind == "folder" else None
    params = fit.checkpoint_params_b(path) if path else None
    if free is None:
        report.line(None, "fit", f"no CUDA GPU; on one, from {table.source} (peak + {fit.MARGIN_GIB} GiB):")
        for row in fit.assess(float("inf"), params, table):
            speed = f", ~{row.actions_per_s:.0f} actions/s" if row.actions_per_s else ""
            print(f"       {row.precision:<5} needs {row.need_gib:.1f} GiB{speed} ({row.flag})")
        return
    fits = fit.assess(free, params, table)
    report.line(
        True if any(f.fits for f in fits) else None,
        "fit",
        f"{free:.1f} GiB GPU memory free ({table.source}):",
    )
    for line in fit.describe(fits):
        print(f"       {line}")


def _display(report: Report) -> None:
    """The session, the desktop backend that would play there and why, and what is not possible."""

    session = detect()
    where = session.server + (f" ({session.compositor})" if session.compositor else "")
    report.line(
        session.server != "none",
        "display",
        where + (f", X display {session.display}" if session.display else ""),
    )
    if session.ok:
        report.line(True, "backend", f"{session.backend}: {session.reason}")
    else:
        report.line(False, "backend", f"none: {session.reason}")
    for note in session.notes:
        report.line(None, "desktop", note)


def _model(report: Report, spec: str, load: bool) -> None:
    parsed = ModelSpec.parse(spec)
    if parsed.kind == "scripted":
        report.line(True, "model", f"{spec}: replays a file of actions, no weights")
        return
    if parsed.remote:
        try:
            served = RemotePolicy(spec, RemotePolicyConfig(timeout_s=5)).check()
            report.line(True, "model", f"{spec} answers, serving {served!r}")
        except PolicyError as exc:
            report.line(False, "model", str(exc))
        return

    try:
        path = resolve(model_path(spec), Watch(on_progress=ProgressLine(sys.stdout)))
        load_processor(path)
        report.line(True, "model", f"{spec}: {path}, action tokens at ids 151833..151907")
        if load:
            vla = VLA.load(str(path))
            params = sum(p.numel() for p in vla.model.parameters())
            report.line(True, "weights", f"loaded on {vla.device}, {params / 1e6:.1f} M parameters")
    except CheckpointError as exc:
        report.line(False, "model", str(exc))
