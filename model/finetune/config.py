"""Fine-tuning settings, each defined once: defaults follow the released JARVIS-VLA recipe where it applies
to LoRA.

Every field carries its help text, so the ``finetune`` command's flags (``add_flags``/``from_flags``),
the child command line the window starts (``to_flags``) and the window's initial values all come from
this one dataclass; a new setting appears everywhere by being added here.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
from typing import Any

# Language-model linear layers only: the vision tower and merger stay frozen, as upstream freezes them.
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def _setting(default: Any, help: str, /, **flag: Any) -> Any:
    """A field with its CLI help; ``flag`` overrides what ``add_argument`` gets (nargs, default...)."""
    return field(default=default, metadata={"help": help, "flag": flag})


# Named starting points. "quick": the tiny demo model learns a visual rule (e.g. look down at the sky,
# dig at the floor) from a few minutes of a person's play in a few minutes of CPU: its random weights
# need a rate ~40x the 7B's LoRA rate and several passes; the figures are measured on fewer frames.
# At 80 steps (about two passes over a minute of play) one recording of the learning-loop test left an
# adapter answering "attack" on 88-92% of held-out frames (look down 2/11), twice; at 160 steps the same
# recording gave look down 10/11 and 11/12 (two seeds) and two other recordings 11/11, attack 10-11/11.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"steps": 160, "lr": 8e-3, "eval_samples": 24},
}


@dataclass
class FinetuneConfig:
    preset: str = _setting(
        "",
        "start from a named set of settings: 'quick' (the tiny demo model, a few minutes of play and of "
        "CPU: " + ", ".join(f"{k} {v}" for k, v in PRESETS["quick"].items()) + "); a flag that differs "
        "from its default still wins",
        choices=("", *PRESETS),
    )
    model: str = _setting("tiny", "base model: HF id, folder or 'tiny'")
    episodes: list[str] = field(
        default_factory=list,
        metadata={"help": "episode folders or folders of episodes", "flag": {"nargs": "+", "required": True}},
    )
    # The CLI has no default output: a run must not silently write ./adapter.
    out: str = _setting("adapter", "adapter output folder (required unless --compare)", default=None)
    steps: int = _setting(0, "optimizer steps (0: one pass over the training samples)")
    batch_size: int = _setting(8, "samples per device and step, as the released script")
    grad_accum: int = _setting(1, "batches accumulated into one optimizer step")
    lr: float = _setting(2e-4, "peak learning rate (LoRA learns faster than the 5e-6 of full fine-tuning)")
    warmup_steps: int = _setting(
        0, "linear warm-up steps (0: 5% of the steps; the official 200 assumes a far longer run)"
    )
    weight_decay: float = _setting(0.0, "AdamW weight decay")
    betas: tuple[float, float] = _setting((0.9, 0.95), "AdamW betas", metavar=("B1", "B2"))
    max_grad_norm: float = _setting(1.0, "gradient norm clip")
    lora_r: int = _setting(16, "LoRA rank")
    lora_alpha: int = _setting(32, "LoRA alpha: the update is scaled by alpha / r")
    lora_dropout: float = _setting(0.05, "dropout on the LoRA input")
    max_length: int = _setting(512, "tokens per sample, the released script's max_seq_length")
    null_ticks: str = _setting(
        "drop",
        "ticks whose action is the null action (a person pausing, reading, waiting): drop them, as VPT's "
        "loader does, or keep them (kept, 'do nothing' is the answer to most frames and is what is learnt)",
        choices=("drop", "keep"),
    )
    balance: str = _setting(
        "kinds",
        "draw training samples so that each kind of action (a button, a camera direction) comes up about "
        "equally often ('kinds'), or as recorded ('none'): a person holds one button for seconds",
        choices=("kinds", "none"),
    )
    correction_weight: int = _setting(3, "times each correction tick counts")
    only_corrections: bool = _setting(False, "train on correction ticks alone")
    agent_play: str = _setting(
        "drop",
        "the agent's own ticks in an episode where you took over: drop them (learn from your corrections, "
        "as human-gated DAgger does: what you let pass is not what you would have done) or keep them",
        choices=("drop", "keep"),
    )
    failed_episodes: str = _setting(
        "exclude",
        "episodes marked a failure: exclude them, downweight (keep only their corrections) or keep",
        choices=("exclude", "downweight", "keep"),
    )
    evaluation_trials: bool = _setting(
        False, "also train on evaluation trials (episodes an evaluation recorded; left out by default)"
    )
    valid_fraction: float = _setting(0.2, "share of episodes held out for validation")
    eval_every: int = _setting(
        0, "steps between held-out evaluations (0: as many as keep evaluation within a fifth of the run)"
    )
    eval_samples: int = _setting(64, "held-out frames decoded per evaluation, drawn kind by kind")
    final_samples: int = _setting(
        256,
        "held-out frames decoded for the final figures, which the summary and its warnings rest on "
        "(never fewer than --eval-samples; fewer than this when more would take evaluation past a "
        "fifth of the run)",
    )
    checkpoint_every: int = _setting(0, "steps between checkpoints (0: ten over the run)")
    gradient_checkpointing: bool = _setting(False, "recompute activations in the backward pass: less memory")
    quantize: str = _setting(
        "none",
        "QLoRA: none, or the frozen base language model in 4bit or 8bit (bitsandbytes, CUDA); LoRA in bf16",
    )
    seed: int = _setting(0, "seed of the episode split, the shuffling and the LoRA initialisation")
    resume: bool = _setting(False, "continue from the last checkpoint in --out")
    overwrite: bool = _setting(False, "start over in an --out that holds an adapter or a run (replaced)")
    device: str | None = _setting(None, "cpu or cuda (default: what accelerate picks)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = FinetuneConfig()


def _flag(f: Field[Any]) -> str:
    return "--" + f.name.replace("_", "-")


def _default(f: Field[Any]) -> Any:
    return f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]


def setting_help(name: str) -> str:
    """The help text of one setting (the window shows it as a tooltip)."""
    return next(f.metadata["help"] for f in fields(FinetuneConfig) if f.name == name)


def add_flags(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """One flag per setting (or per setting in ``names``), its type, default and help from the field."""
    for f in fields(FinetuneConfig):
        if names is not None and f.name not in names:
            continue
        default = _default(f)
        kwargs: dict[str, Any] = {"help": f.metadata["help"].replace("%", "%%")}
        if isinstance(default, bool):
            kwargs["action"] = "store_true"
        elif isinstance(default, tuple):
            kwargs.update(nargs=len(default), type=type(default[0]), default=default)
        elif isinstance(default, list):
            kwargs["default"] = default
        else:
            kwargs.update(type=str if default is None else type(default), default=default)
        kwargs.update(f.metadata["flag"])
        shown = kwargs.get("default")
        if shown is not None and shown is not False and shown != []:
            kwargs["help"] += " (default: %(default)s)"
        parser.add_argument(_flag(f), **kwargs)


def from_flags(args: argparse.Namespace, base: FinetuneConfig | None = None) -> FinetuneConfig:
    """The settings ``add_flags`` parsed into ``args`` (others as in ``base``); with ``--preset``, the
    preset's values stand wherever a flag was left at its default."""
    preset = PRESETS.get(getattr(args, "preset", "") or "", {})
    values = {}
    for f in fields(FinetuneConfig):
        if hasattr(args, f.name):
            value = getattr(args, f.name)
            value = tuple(value) if isinstance(_default(f), tuple) else value
            values[f.name] = preset[f.name] if f.name in preset and value == _default(f) else value
    return replace(base or FinetuneConfig(), **values)


def with_preset(config: FinetuneConfig, name: str) -> FinetuneConfig:
    """``config`` with the named preset's values (what ``--preset NAME`` gives with no other flag)."""
    return replace(config, preset=name, **PRESETS.get(name, {}))


def to_flags(config: FinetuneConfig) -> list[str]:
    """The argv that ``add_flags``/``from_flags`` turn back into ``config``, every setting spelled out."""
    argv: list[str] = []
    for f in fields(FinetuneConfig):
        value = getattr(config, f.name)
        if value is None or value is False or value == "":
            continue
        if value is True:
            argv.append(_flag(f))
        elif isinstance(value, (list, tuple)):
            argv += [_flag(f), *map(str, value)]
        else:
            argv += [_flag(f), str(value)]
    return argv
