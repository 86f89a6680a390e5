"""``jarvis-play bench tables``: the README's CPU and GPU tables and ``model/fit.py``'s built-in table,
regenerated from the committed ``assets/benchmarks/*.json`` (``--check``: only say if they differ).

Run it from the checkout after committing a new result file of ``make gpu-check`` or ``bench cpu``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.gpu_check.tables import RESULTS, regenerate


def register(sub: Any) -> None:
    p = sub.add_parser("tables", help="regenerate the README's bench tables and fit.py's table from results")
    p.add_argument("--root", type=Path, default=Path("."), help="the checkout (default: here)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if they are out of date")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    changed = regenerate(args.root, check=args.check)
    if args.check and changed:
        stale = ", ".join(map(str, changed))
        print(f"out of date with {RESULTS}/: {stale} (run: jarvis-play bench tables)")
        return 1
    print(("updated: " + ", ".join(map(str, changed))) if changed else "up to date")
    return 0
