"""Which recorded ticks a fine-tune trains on and which it holds out to measure itself.

Held-out ticks come from whole episodes, never from ticks between training ones: neighbouring ticks
are near-duplicates, so a tick-level split would measure memory, not skill. A lone episode (a person's
first recording) is cut once instead, its last share of ticks held out, so that even the first
fine-tune reports figures rather than a dash. The held-out ticks are filtered as the training ones are
(pauses dropped, failed episodes excluded), so the figures describe what the run learnt to do.

In an episode where the person took over, the agent's own ticks are what the old model did (a base
that does not know the task scatters them over dozens of kinds), not answers the adapter should give.
They are left out of training (``agent_play``, human-gated DAgger's rule), and where they are kept they
are still never scored: beside the person's they would say "did not learn" of an adapter that does what
the person showed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.finetune.config import FinetuneConfig
from model.finetune.errors import FinetuneError
from model.finetune.sft_data import SftOptions, episode_records, split_episodes, split_ticks, usable_episodes

Record = dict[str, Any]


@dataclass
class TrainingData:
    train: list[Record]
    valid: list[Record]
    info: dict[str, Any] = field(default_factory=dict)  # episodes used, skipped (with why), counts


def options_for(config: FinetuneConfig, training: bool) -> SftOptions:
    """The record options of a run: correction weights apply to training ticks only."""
    return SftOptions(
        only_corrections=config.only_corrections,
        agent_play=config.agent_play,
        correction_weight=config.correction_weight if training else 1,
        valid_fraction=config.valid_fraction,
        seed=config.seed,
        failed_episodes=config.failed_episodes,
        null_ticks=config.null_ticks,
    )


def load_records(config: FinetuneConfig) -> TrainingData:
    statuses = options_for(config, True).statuses
    folders, skipped = usable_episodes([Path(p) for p in config.episodes], statuses, config.evaluation_trials)
    if not folders:
        raise FinetuneError(
            f"no usable episodes under {', '.join(config.episodes) or '(nothing given)'}; "
            "record some with `jarvis-play record` or check them with `jarvis-play episodes check`"
        )
    train_opt, valid_opt = options_for(config, True), options_for(config, False)
    train_folders, valid_folders = split_episodes(folders, config.valid_fraction, config.seed)
    cut = split_ticks(folders[0], valid_opt) if len(folders) == 1 else None
    if cut is not None:
        train = list(episode_records(folders[0], train_opt, cut[0]))
        valid = list(episode_records(folders[0], valid_opt, cut[1]))
        held_out = [f"{folders[0].name} (its last {config.valid_fraction:.0%} of ticks)"]
    else:
        train = [r for f in train_folders for r in episode_records(f, train_opt)]
        valid = [r for f in valid_folders for r in episode_records(f, valid_opt)]
        held_out = [f.name for f in valid_folders]
    corrections = [r for r in valid if r.get("phase") == "correction"]
    valid = corrections or valid
    if not train:
        raise FinetuneError(
            "the episodes hold no trainable ticks: every tick is a pause (the null action) or was "
            "skipped, or there are no corrections with --only-corrections. Record some play first"
        )
    info = {
        "train": [f.name for f in train_folders] if cut is None else [folders[0].name],
        "valid": held_out,
        "skipped": skipped,
        "train_samples": len(train),
        "valid_samples": len(valid),
        "valid_scored": "the person's corrections" if corrections else "every kept tick",
    }
    return TrainingData(train, valid, info)
