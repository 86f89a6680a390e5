"""Recorded episodes -> the JARVIS-VLA SFT dataset (spec §4.3), as parquet through HF ``datasets``.

One record per kept tick::

    {"id": "<episode>/<tick>", "conversations": sft_conversation(instruction, action token text),
     "image_bytes": [<JPEG or PNG of the 640×360 frame>], "episode", "tick", "phase", "control"}

which is what both the official ``MultimodalChatDataCollatorforVLM`` (``image_bytes`` + the k-th
``{"type": "image"}``) and our fine-tuning read. The frame is stored at its recorded 640×360: the
training collator does its own ``smart_resize`` to 644×364, as at inference. On a tick whose line says
``isGuiOpen``, the white cursor sprite is drawn at ``mouse.x/y`` first, as VPT's loader does (spec §5.3
d) and as live play shows it to the model (``model.cursor``); the recorded video itself has none.

Splits are by episode, never by tick: neighbouring ticks are near-duplicates, so a tick-level split
would leak the validation set into training. A single episode is cut once instead, its last share
of ticks going to ``valid`` (one seam, not interleaved ticks), because the official ``train.py``
opens both splits. The output folder holds ``data/train-*.parquet``, ``data/valid-*.parquet`` and a
README whose ``configs`` block makes ``load_dataset(OUT)`` return exactly the splits ``train`` and
``valid`` (the default name inference would say ``validation``).

The parquet files carry the plain Arrow schema only (list<struct>, binary image bytes), without the
``huggingface`` features metadata that ``datasets`` writes: 4.x writes a ``List`` feature type that
datasets 3.x (JarvisVLA's era) cannot parse, while both versions infer the same features from Arrow.
"""

from __future__ import annotations

import io
import logging
import random
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.actions.codec import ActionCodec
from model.cursor import draw_at_window_position
from model.prompts import sft_conversation
from recorder.episodes import (
    FLAG_NOOP_RUN,
    EpisodeReader,
    VideoError,
    check_episode,
    find_episodes,
    is_lost,
    read_meta,
)

LOG = logging.getLogger(__name__)

USABLE_STATUSES = ("complete", "stopped", "repaired")
ROWS_PER_SHARD = 5000  # ~450 MB of JPEG frames per parquet file


@dataclass
class SftOptions:
    only_corrections: bool = False  # keep only ticks whose phase is "correction"
    with_context: bool = False  # with only_corrections: also the agent ticks in each correction's context
    # the agent's own ticks in an episode that holds corrections: "keep" them (an export keeps what was
    # recorded) or "drop" them (a fine-tune learns from the person's corrections alone, see FinetuneConfig)
    agent_play: str = "keep"
    correction_weight: int = (
        1  # repeat each correction tick this many times (the official loader has no weights)
    )
    skip_flags: tuple[str, ...] = (FLAG_NOOP_RUN,)  # drop ticks carrying any of these flags
    # every tick whose action is the null action: "drop" (VPT's data loader skips null frames, spec
    # §5.3 c) or "keep". A person pauses, reads and waits most of the time; kept, "do nothing" is the
    # answer to most frames and a fine-tune learns to wait instead of to play
    null_ticks: str = "keep"
    image_format: str = "jpeg"  # jpeg | png
    jpeg_quality: int = 95
    valid_fraction: float = 0.1
    seed: int = 0
    statuses: tuple[str, ...] = USABLE_STATUSES
    # an episode marked a failure (meta outcome): "exclude" it, "downweight" it to its corrections
    # alone (the person's fixes still teach; the agent's failing play does not), or "keep" it
    failed_episodes: str = "exclude"
    evaluation_trials: bool = False  # also use episodes an evaluation recorded as trials


@dataclass
class ExportReport:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    episodes: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def encode_image(frame: np.ndarray, fmt: str = "jpeg", quality: int = 95) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(frame).save(buf, format="PNG")
    elif fmt == "jpeg":
        Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    else:
        raise ValueError(f"image format must be jpeg or png, got {fmt!r}")
    return buf.getvalue()


def _kept_ticks(lines: list[dict[str, Any]], corrections: list[dict[str, int]], opt: SftOptions) -> list[int]:
    """How many times each tick goes into the dataset (0 = dropped)."""
    context = set()
    if opt.with_context:
        for c in corrections:
            context.update(range(c.get("context_start", c["start"]), c["start"]))
    null = ActionCodec().null_ids() if opt.null_ticks == "drop" else None
    corrected = bool(corrections) or any(line.get("phase") == "correction" for line in lines)
    only_fixes = opt.only_corrections or (opt.agent_play == "drop" and corrected)
    counts = []
    for i, line in enumerate(lines):
        correcting = line.get("phase") == "correction"
        outside = only_fixes and not correcting and i not in context
        flagged = any(flag in opt.skip_flags for flag in line.get("flags", ()))
        if outside or is_lost(line) or flagged or (null is not None and line.get("action_ids") == null):
            counts.append(0)
        else:
            counts.append(max(1, opt.correction_weight) if correcting else 1)
    return counts


def window_size(window: dict[str, Any]) -> tuple[int, int]:
    """The game window (width, height) the lines' ``mouse.x/y`` are in; VPT's 1280×720 when unknown."""
    width, height = window.get("width"), window.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return 1280, 720


def with_gui_cursor(frame: np.ndarray, line: dict[str, Any], window: tuple[int, int]) -> np.ndarray:
    """The frame as the model sees it on this tick: the cursor sprite in it while a screen is open."""
    mouse = line.get("mouse") or {}
    if not line.get("isGuiOpen") or "x" not in mouse or "y" not in mouse:
        return frame
    return draw_at_window_position(frame, float(mouse["x"]), float(mouse["y"]), window)


def episode_records(
    folder: Path, opt: SftOptions | None = None, ticks: range | None = None
) -> Iterator[dict[str, Any]]:
    """The SFT records of one episode (or of its ``ticks``), in tick order."""
    opt = opt or SftOptions()
    reader = EpisodeReader(folder)
    codec = ActionCodec()
    lines = reader.lines
    counts = _kept_ticks(lines, reader.meta.corrections, opt)
    if reader.meta.outcome == "failure" and opt.failed_episodes != "keep":
        keep_fixes = opt.failed_episodes == "downweight"
        fixes = [keep_fixes and line.get("phase") == "correction" for line in lines]
        counts = [c if fix else 0 for c, fix in zip(counts, fixes, strict=True)]
    if ticks is not None:
        counts = [c if i in ticks else 0 for i, c in enumerate(counts)]
    if not any(counts):
        return
    last = max(i for i, c in enumerate(counts) if c)
    window = window_size(reader.meta.window)
    for tick, frame in enumerate(reader.frames(limit=last + 1)):
        if not counts[tick]:
            continue
        line = lines[tick]
        instruction = line.get("instruction") or reader.meta.first_instruction
        text = codec.text(line["action_ids"])
        image = encode_image(with_gui_cursor(frame, line, window), opt.image_format, opt.jpeg_quality)
        for k in range(counts[tick]):
            yield {
                "id": f"{folder.name}/{tick:06d}" + (f"#{k}" if k else ""),
                "conversations": sft_conversation(instruction, text),
                "image_bytes": [image],
                "episode": folder.name,
                "tick": tick,
                "phase": line.get("phase", "none"),
                "control": line.get("control", ""),
            }


def split_episodes(
    folders: list[Path], valid_fraction: float, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """(train, valid) by whole episodes; at least one valid episode when there are two or more."""
    order = sorted(folders)
    random.Random(seed).shuffle(order)
    n_valid = round(len(order) * valid_fraction)
    if valid_fraction > 0 and len(order) >= 2:
        n_valid = max(1, n_valid)
    n_valid = min(n_valid, max(0, len(order) - 1))
    return sorted(order[n_valid:]), sorted(order[:n_valid])


def split_ticks(folder: Path, opt: SftOptions) -> tuple[range, range] | None:
    """(train, valid) tick ranges of a lone episode: its last ``valid_fraction`` of kept ticks (at
    least one) go to valid. None when there is nothing to split (under two kept ticks, or no valid)."""
    if opt.valid_fraction <= 0:
        return None
    reader = EpisodeReader(folder)
    counts = _kept_ticks(reader.lines, reader.meta.corrections, opt)
    kept = [i for i, c in enumerate(counts) if c]
    if len(kept) < 2:
        return None
    n_valid = min(len(kept) - 1, max(1, round(len(kept) * opt.valid_fraction)))
    cut = kept[len(kept) - n_valid]
    return range(0, cut), range(cut, len(counts))


def usable_episodes(
    roots: Iterable[Path], statuses: tuple[str, ...], evaluation_trials: bool = False
) -> tuple[list[Path], list[str]]:
    """Episodes with a wanted status that check clean; each other one is skipped with the reason,
    so one damaged episode never aborts a whole export or fine-tune. An evaluation's trials are the
    model's own play, judged: they are skipped unless ``evaluation_trials``."""
    folders, skipped = [], []
    for root in roots:
        for folder in find_episodes(Path(root)):
            try:
                meta = read_meta(folder)
                status = meta.status
            except (OSError, ValueError, TypeError) as exc:
                fix = "`jarvis-play episodes repair` rebuilds it"
                skipped.append(f"{folder.name}: meta unreadable ({exc}); {fix}")
                continue
            if meta.evaluation_trial and not evaluation_trials:
                skipped.append(f"{folder.name}: an evaluation trial (left out; --evaluation-trials keeps it)")
                continue
            if status not in statuses:
                skipped.append(f"{folder.name}: status {status!r} (run `jarvis-play episodes check` first)")
                continue
            report = check_episode(folder)
            if not report.ok:
                problem = report.problems[0] if report.problems else report.status
                skipped.append(f"{folder.name}: damaged ({problem}); `jarvis-play episodes repair` fixes it")
                continue
            folders.append(folder)
    return folders, skipped


def features() -> Any:
    """The row schema, spelt so that datasets 3.x and 4.x and later build the same Arrow types
    (``[feature]`` is a list in both; ``List`` exists only from 4.0)."""
    from datasets import Features, Value  # heavy: datasets

    return Features(
        {
            "id": Value("string"),
            "conversations": [
                {"role": Value("string"), "content": [{"type": Value("string"), "text": Value("string")}]}
            ],
            "image_bytes": [Value("binary")],
            "episode": Value("string"),
            "tick": Value("int32"),
            "phase": Value("string"),
            "control": Value("string"),
        }
    )


def write_parquet(ds: Any, path: Path) -> None:
    """The rows as plain Arrow parquet: no ``huggingface`` schema metadata (see the module docstring)."""
    import pyarrow.parquet as pq  # heavy: pyarrow

    table = ds.with_format("arrow")[:]
    pq.write_table(table.replace_schema_metadata(None), str(path))


README = """---
configs:
- config_name: default
  data_files:
{splits}
---
# JARVIS-VLA SFT data recorded with jarvis-play

Rows follow the JARVIS-VLA SFT record format: `conversations` (user: instruction + "\\nobservation: "
+ image; assistant: action tokens) and `image_bytes` (one frame per row). Splits are by episode.
{stats}
"""


def export_sft(roots: Iterable[Path], out: Path, opt: SftOptions | None = None) -> ExportReport:
    """Write the dataset under ``out`` (which must not exist or be empty). Returns row counts."""
    from datasets import Dataset  # heavy: datasets

    opt = opt or SftOptions()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder (nothing is overwritten)")
    folders, skipped = usable_episodes(roots, opt.statuses, opt.evaluation_trials)
    if not folders:
        raise ValueError("no usable episodes found" + ("".join(f"\n  {s}" for s in skipped)))
    train_eps, valid_eps = split_episodes(folders, opt.valid_fraction, opt.seed)
    train: list[tuple[Path, range | None]] = [(f, None) for f in train_eps]
    valid: list[tuple[Path, range | None]] = [(f, None) for f in valid_eps]
    cut = split_ticks(folders[0], opt) if len(folders) == 1 else None
    if cut is not None:
        train, valid = [(folders[0], cut[0])], [(folders[0], cut[1])]
    report = ExportReport(out, skipped=skipped)
    # datasets caches a loaded folder under its name and config; a per-export id in the file names
    # keeps a re-export into a same-named folder from loading the previous export's cached rows
    export_id = secrets.token_hex(4)
    (out / "data").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sft-export-") as cache:
        for split, members in (("train", train), ("valid", valid)):
            report.episodes[split] = [f.name for f, _ in members]

            def gen(members: list[tuple[Path, range | None]] = members) -> Iterator[dict[str, Any]]:
                for folder, ticks in members:
                    try:
                        yield from episode_records(folder, opt, ticks)
                    except (OSError, ValueError, KeyError, VideoError) as exc:  # one bad episode, not the run
                        LOG.warning("skipped the rest of %s: %s", folder.name, exc)
                        report.skipped.append(f"{folder.name}: unreadable part skipped ({exc})")

            ds = Dataset.from_generator(gen, features=features(), cache_dir=cache) if members else None
            report.rows[split] = len(ds) if ds is not None else 0
            if ds is None or len(ds) == 0:  # datasets cannot load a declared split without rows
                LOG.warning("no rows for the %s split; it is left out", split)
                continue
            shards = max(1, -(-len(ds) // ROWS_PER_SHARD))
            for i in range(shards):
                part = ds.shard(shards, i, contiguous=True)
                write_parquet(part, out / "data" / f"{split}-{export_id}-{i:05d}-of-{shards:05d}.parquet")
            del ds
        shutil.rmtree(cache, ignore_errors=True)
    stats = "\n".join(
        f"- {s}: {report.rows[s]} rows from {len(report.episodes[s])} episodes" for s in report.rows
    )
    splits = "\n".join(
        f"  - split: {s}\n    path: data/{s}-{export_id}-*.parquet" for s, rows in report.rows.items() if rows
    )
    (out / "README.md").write_text(README.format(splits=splits, stats=stats), encoding="utf-8")
    return report
