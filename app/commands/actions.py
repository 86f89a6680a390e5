"""``jarvis-play actions encode|decode``: make the opaque action tokens readable.

    echo '{"forward": 1, "camera": [5, -2]}' | jarvis-play actions encode
    echo '{"ids": [151835, 151848, 151884, 151892, 151836]}' | jarvis-play actions decode --pretty

Both read JSON lines on stdin (or from files) and write one JSON line per input line, streaming,
so they work on files of millions of lines. A bad line is reported with its line number on stderr
and yields ``{"error": ...}`` in its place, keeping output lines aligned with input lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from model.actions.codec import ActionCodec
from model.actions.env import describe, normalize

BATCH = 512  # lines quantised per numpy call when encoding


def register(sub: Any) -> None:
    parser = sub.add_parser("actions", help="encode env actions to JARVIS-VLA tokens and back")
    verbs = parser.add_subparsers(dest="actions_verb", metavar="encode|decode", required=True)
    enc = verbs.add_parser("encode", help="env action dicts (JSON lines) -> token ids and text")
    enc.add_argument("files", nargs="*", help="input files (default: stdin)")
    enc.set_defaults(func=_encode)
    dec = verbs.add_parser("decode", help='{"ids": [...]} JSON lines -> env action dicts')
    dec.add_argument("files", nargs="*", help="input files (default: stdin)")
    dec.add_argument("--pretty", action="store_true", help="print a readable line per action instead of JSON")
    dec.set_defaults(func=_decode)


def _lines(files: list[str]) -> Iterator[tuple[int, str]]:
    """Numbered lines of the input files, in order, or of stdin; one file open at a time."""
    number = 0
    if not files:
        for line in sys.stdin:
            number += 1
            yield number, line
        return
    for name in files:
        with open(name, encoding="utf-8") as stream:
            for line in stream:
                number += 1
                yield number, line


def _error(number: int, message: str, out: IO[str]) -> None:
    print(f"jarvis-play actions: line {number}: {message}", file=sys.stderr)
    out.write(json.dumps({"error": message}) + "\n")


def _encode(args: argparse.Namespace) -> int:
    codec = ActionCodec()
    out = sys.stdout
    errors = 0
    pending: list[tuple[int, dict[str, Any] | str]] = []

    def flush() -> None:
        good = [a for _, a in pending if isinstance(a, dict)]
        encoded = iter(codec.encode_batch(good))
        for number, item in pending:
            if isinstance(item, str):
                _error(number, item, out)
            else:
                ids = next(encoded)
                out.write(json.dumps({"ids": ids, "text": codec.text(ids)}) + "\n")
        pending.clear()

    for number, line in _lines(args.files):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object (an env action dict)")
            pending.append((number, normalize(raw)))
        except ValueError as exc:
            errors += 1
            pending.append((number, str(exc)))
        if len(pending) >= BATCH:
            flush()
    flush()
    return 1 if errors else 0


def _decode(args: argparse.Namespace) -> int:
    codec = ActionCodec()
    out = sys.stdout
    errors = 0
    for number, line in _lines(args.files):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            ids = raw["ids"] if isinstance(raw, dict) else raw
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise ValueError('expected {"ids": [int, ...]}')
        except (ValueError, KeyError, TypeError) as exc:
            errors += 1
            _error(number, f"{exc}" if not isinstance(exc, KeyError) else 'missing "ids"', out)
            continue
        actions = codec.decode(ids)
        if args.pretty:
            out.write(" | ".join(describe(a) for a in actions) + "\n")
        else:
            out.write(json.dumps({"actions": actions}) + "\n")
    return 1 if errors else 0
