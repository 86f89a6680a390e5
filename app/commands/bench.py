"""``jarvis-play bench <what>``: measurements printed for people, never asserted by tests.

Each sub-verb lives in its own module listed in ``BENCH_MODULES`` with a ``register(subparsers)``;
a module that is not installed yet is skipped, so benchmarks can be added independently.
"""

from __future__ import annotations

import importlib
from typing import Any

BENCH_MODULES: tuple[str, ...] = (
    "app.commands.bench_loop",
    "app.commands.bench_policy",
    "app.commands.bench_record",
    "app.commands.bench_finetune",
    "app.commands.bench_gpu",
    "app.commands.bench_cpu",
    "app.commands.bench_tables",
)


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="measure the loop's overhead or a policy's speed")
    verbs = parser.add_subparsers(dest="bench_verb", metavar="WHAT", required=True)
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(verbs)
