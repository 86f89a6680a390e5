"""``jarvis-play episodes list|check|repair|export``: look after episodes, turn them into training data.

    jarvis-play episodes list ~/jarvis-episodes
    jarvis-play episodes check ~/jarvis-episodes --deep     # validate all; reads only
    jarvis-play episodes repair ~/jarvis-episodes           # fix damaged ones, keeping the originals
    jarvis-play episodes export ~/jarvis-episodes --out ~/sft/run1 --valid-fraction 0.1
    jarvis-play episodes export ~/jarvis-episodes --out ~/sft/fixes --only-corrections --with-context
    jarvis-play episodes export ~/jarvis-episodes --out ~/vpt --format vpt

``check`` only reads and exits 1 when any episode is damaged. ``repair`` is explicit: it keeps every
good line in place (lost ones become placeholders flagged ``lost``), cuts only what has no partner in
the other file, and keeps each replaced file next to it as ``<name>.orig-<time>``. ``export`` writes
parquet (``OUT/data/{train,valid}-*.parquet``) that ``datasets.load_dataset(OUT)`` and the official
JARVIS-VLA training script read (``--format jarvis-sft``, the default), or the VPT contractor layout
(``--format vpt``: ``OUT/<id>.{mp4,jsonl}`` for VPT's data_loader.py, ``OUT/{mp4,jsonl}/`` for
MineStudio's converters). Either refuses an existing non-empty OUT rather than overwrite it. The
episode folders themselves stay in the native format.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.errors import UserError
from model.finetune.sft_data import SftOptions, export_sft
from recorder.episodes import (
    FLAG_CAMERA_SATURATED,
    FLAG_NOOP_RUN,
    FPS,
    check_all,
    export_vpt,
    find_episodes,
    meta_problems,
    read_meta,
    repair_all,
)


def register(sub: Any) -> None:
    parser = sub.add_parser("episodes", help="list, check/repair and export recorded episodes")
    verbs = parser.add_subparsers(dest="episodes_verb", metavar="list|check|repair|export", required=True)

    ls = verbs.add_parser("list", help="one line per episode: mode, status, length, outcome, instruction")
    ls.add_argument("dir", type=Path, help="a folder of episodes (or one episode)")
    ls.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    ls.set_defaults(func=_list)

    ck = verbs.add_parser("check", help="validate every episode; reads only (see `repair`)")
    ck.add_argument("dir", type=Path)
    ck.add_argument("--no-repair", action="store_true", help=argparse.SUPPRESS)  # check never repairs now
    ck.add_argument("--deep", action="store_true", help="decode every frame (slower, catches a cut-off end)")
    ck.set_defaults(func=_check)

    rp = verbs.add_parser(
        "repair", help="fix damaged episodes; each replaced file is kept as <name>.orig-<time>"
    )
    rp.add_argument("dir", type=Path)
    rp.set_defaults(func=_repair)

    ex = verbs.add_parser(
        "export", help="write the JARVIS-VLA SFT dataset (parquet, train/valid) or VPT-format episodes"
    )
    ex.add_argument("dir", type=Path, nargs="+", help="episode folders or folders of episodes")
    ex.add_argument("--out", type=Path, required=True, help="a new (or empty) output folder")
    ex.add_argument(
        "--format",
        choices=("jarvis-sft", "vpt"),
        default="jarvis-sft",
        help="jarvis-sft: parquet for JARVIS-VLA training (default); vpt: mp4+jsonl for VPT/MineStudio tools."
        " The options below are for jarvis-sft",
    )
    ex.add_argument(
        "--valid-fraction", type=float, default=0.1, help="share of episodes for valid (default 0.1)"
    )
    ex.add_argument("--seed", type=int, default=0, help="seed of the episode split")
    ex.add_argument("--only-corrections", action="store_true", help="keep only the ticks a person corrected")
    ex.add_argument(
        "--with-context",
        action="store_true",
        help="with --only-corrections: also the agent ticks just before",
    )
    ex.add_argument("--correction-weight", type=int, default=1, help="repeat each correction tick N times")
    ex.add_argument("--keep-noop-runs", action="store_true", help="keep ticks flagged as long no-op runs")
    ex.add_argument("--drop-saturated", action="store_true", help="drop ticks whose camera move was clipped")
    ex.add_argument("--image-format", choices=("jpeg", "png"), default="jpeg")
    ex.add_argument("--jpeg-quality", type=int, default=95)
    ex.set_defaults(func=_export)


def _list(args: argparse.Namespace) -> int:
    folders = find_episodes(args.dir)
    if not folders:
        print(f"no episodes in {args.dir}")
        return 0
    if not args.json:
        print(f"{'episode':40} {'mode':11} {'status':9} {'ticks':>6} {'min':>5} {'outcome':8} instruction")
    for folder in folders:
        try:
            meta = read_meta(folder)
            wrong = meta_problems(meta)
            if wrong:
                raise ValueError("; ".join(wrong))
        except (OSError, ValueError, TypeError) as exc:
            problem = (
                "meta.json missing" if isinstance(exc, FileNotFoundError) else f"meta.json unreadable: {exc}"
            )
            if args.json:
                print(json.dumps({"episode": folder.name, "status": "damaged", "problem": problem}))
            else:
                print(f"{folder.name:40} DAMAGED: {problem} (see `jarvis-play episodes check`)")
            continue
        if args.json:
            print(json.dumps({"episode": folder.name, **meta.to_dict()}, ensure_ascii=False))
            continue
        minutes = meta.frame_count / FPS / 60
        print(
            f"{folder.name:40} {meta.mode:11} {meta.status:9} {meta.frame_count:>6} {minutes:>5.1f} "
            f"{meta.outcome:8} {meta.first_instruction[:60]}"
        )
    return 0


def _check(args: argparse.Namespace) -> int:
    if not args.dir.exists():
        raise UserError(f"{args.dir} does not exist")
    reports = check_all(args.dir, deep=args.deep)
    for report in reports:
        print(report.summary())
    bad = [r for r in reports if not r.ok]
    print(f"{len(reports)} episodes: {len(reports) - len(bad)} ok, {len(bad)} damaged")
    if bad:
        print(
            f"nothing was changed; `jarvis-play episodes repair {args.dir}` fixes what can be fixed "
            "and keeps each replaced file as <name>.orig-<time>"
        )
    return 1 if bad else 0


def _repair(args: argparse.Namespace) -> int:
    if not args.dir.exists():
        raise UserError(f"{args.dir} does not exist")
    reports = repair_all(args.dir)
    for report in reports:
        print(report.summary())
    bad = [r for r in reports if not r.ok]
    repaired = sum(r.repaired for r in reports)
    print(f"{len(reports)} episodes: {len(reports) - len(bad)} ok ({repaired} repaired), {len(bad)} broken")
    return 1 if bad else 0


def _export(args: argparse.Namespace) -> int:
    if args.format == "vpt":
        return _export_vpt(args)

    skip: tuple[str, ...] = () if args.keep_noop_runs else (FLAG_NOOP_RUN,)
    if args.drop_saturated:
        skip += (FLAG_CAMERA_SATURATED,)
    opt = SftOptions(
        only_corrections=args.only_corrections,
        with_context=args.with_context,
        correction_weight=args.correction_weight,
        skip_flags=skip,
        image_format=args.image_format,
        jpeg_quality=args.jpeg_quality,
        valid_fraction=args.valid_fraction,
        seed=args.seed,
    )
    try:
        import datasets  # heavy: datasets

        datasets.disable_progress_bars()
        report = export_sft(args.dir, args.out, opt)
    except (FileExistsError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    for line in report.skipped:
        print(f"skipped {line}")
    for split, rows in report.rows.items():
        print(f"{split}: {rows} rows from {len(report.episodes[split])} episodes")
    print(f"wrote {report.out} (load with datasets.load_dataset({str(report.out)!r}))")
    return 0


def _export_vpt(args: argparse.Namespace) -> int:
    try:
        report = export_vpt(args.dir, args.out)
    except (FileExistsError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    for line in report.skipped:
        print(f"skipped {line}")
    for name, lines in report.lines.items():
        print(f"{name}: {lines} ticks")
    print(
        f"wrote {len(report.lines)} episodes to {report.out} "
        f"(VPT: DataLoader({str(report.out)!r}); MineStudio: --input-dir {report.out})"
    )
    return 0
