"""The on-disk episode format (schema_version 1): one folder per episode, VPT-interchangeable.

    <root>/<yyyymmdd-HHMMSS>-<mode>-<hex>/
        video.mp4      H.264, 640×360, 20 fps, exactly one frame per tick, no cursor drawn in
        actions.jsonl  one JSON object per tick; line i belongs to frame i (spec §5.1)
        meta.json      EpisodeMeta below
        .lock          flock-held while a writer is alive, so a later start can tell a crash

Each jsonl line holds the VPT contractor fields a desktop can know (spec §5.2: ``mouse.{x,y,dx,dy,
scaledX,scaledY,dwheel,buttons,newButtons}``, ``keyboard.{keys,newKeys,chars}``, ``isGuiOpen``,
``isGuiInventory``, ``hotbar``, ``tick``, ``milli``; the game state ones tracked by ``TickState``),
plus our own fields: ``action`` (the
env action as the JARVIS codec labels it), ``action_ids`` (its token ids), ``control`` (agent|human),
``phase`` (none|correction), ``instruction`` and ``flags``. New fields are added as optional so old
recordings keep loading (the owl-control habit; lines before hotbar/cursor tracking lack them, and
``jarvis-play episodes export --format vpt`` fills them in); unknown meta keys are kept in ``extra``.
The native folder is not VPT's layout: ``recorder.episodes.vpt_export`` writes that.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recorder.files import atomic_open

SCHEMA_VERSION = 1
FPS = 20
FRAME_WIDTH = 640
FRAME_HEIGHT = 360

VIDEO = "video.mp4"
ACTIONS = "actions.jsonl"
META = "meta.json"
LOCK = ".lock"


class RecordMode(str, enum.Enum):
    """Why an episode was recorded: meta.json's ``mode`` (a str, so it compares and serialises as one)."""

    TELEOP = "teleop"  # a person played
    AGENT = "agent"  # the agent played
    CORRECTIONS = "corrections"  # the agent played and a person took over at times
    RING = "ring"  # the last seconds of play, kept by the save-last key

    def __str__(self) -> str:
        return self.value


class Actor(str, enum.Enum):
    """Who chose a tick's action: each line's ``control`` field."""

    AGENT = "agent"
    HUMAN = "human"

    def __str__(self) -> str:
        return self.value


Phase = Literal["none", "correction"]
Outcome = Literal["success", "failure", "unknown"]
# recording: a writer is (or was, until it crashed) appending; complete: closed cleanly;
# stopped: closed early on a disk error, counts are consistent; repaired: truncated after a crash;
# broken: nothing usable could be recovered (the reason is in ``problems``).
Status = Literal["recording", "complete", "stopped", "repaired", "broken"]

MODES: tuple[str, ...] = tuple(m.value for m in RecordMode)
OUTCOMES: tuple[str, ...] = ("success", "failure", "unknown")
LINE_KEYS: tuple[str, ...] = (
    "tick",
    "milli",
    "mouse",
    "keyboard",
    "isGuiOpen",
    "action",
    "action_ids",
    "control",
    "phase",
    "instruction",
    "flags",
)

# what VPT's data_loader.py and MineStudio's converters read from every line (spec §5.2, §5.4 item 2,
# less yaw/pitch/position, which a desktop cannot know)
VPT_LINE_KEYS: tuple[str, ...] = (
    "mouse",
    "keyboard",
    "isGuiOpen",
    "isGuiInventory",
    "hotbar",
    "tick",
    "milli",
)
VPT_MOUSE_KEYS: tuple[str, ...] = (
    "x",
    "y",
    "dx",
    "dy",
    "scaledX",
    "scaledY",
    "dwheel",
    "buttons",
    "newButtons",
)
VPT_KEYBOARD_KEYS: tuple[str, ...] = ("keys", "newKeys", "chars")

# line flags
FLAG_CAMERA_SATURATED = "camera_saturated"  # |Δ| beyond the ±10° bins: the label is clipped
FLAG_NOOP_RUN = "noop_run"  # part of a long run of null actions (idle, AFK, menu)

PURPOSE_EVALUATION = "evaluation"  # meta "purpose" of an episode an evaluation recorded as a trial


@dataclass
class EpisodeMeta:
    """Everything needed to interpret an episode later without the app that wrote it."""

    mode: str = "teleop"
    instructions: list[dict[str, Any]] = field(default_factory=list)  # [{"tick": 0, "text": ...}]
    game: str = "unknown"  # e.g. "minecraft-1.16.5", "minetest-5.6"
    connector: str = "unknown"  # e.g. "desktop", "minerl", "fake"
    window: dict[str, Any] = field(default_factory=dict)  # {"title", "width", "height"}
    sensitivity: float | None = None  # the game's mouse sensitivity setting
    camera_law: dict[str, Any] = field(default_factory=dict)  # CameraLaw.to_dict()
    key_bindings: dict[str, str] = field(default_factory=dict)  # env button -> binding name
    model_id: str | None = None
    adapter: str | None = None
    app_version: str = ""
    started_at: str = ""  # ISO 8601, local time with offset
    ended_at: str | None = None
    fps: int = FPS
    frame_size: list[int] = field(default_factory=lambda: [FRAME_WIDTH, FRAME_HEIGHT])
    status: str = "recording"
    outcome: str = "unknown"
    frame_count: int = 0
    line_count: int = 0
    dropped_ticks: int = 0  # ticks the writer could not keep up with (never written)
    corrections: list[dict[str, int]] = field(default_factory=list)  # [{"start", "end", "context_start"}]
    error: str | None = None  # the disk error that stopped the recording, if any
    repaired: dict[str, Any] | None = None  # what a repair kept and lost
    problems: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeMeta:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extra=extra)

    @property
    def first_instruction(self) -> str:
        return str(self.instructions[0]["text"]) if self.instructions else ""

    @property
    def evaluation_trial(self) -> bool:
        """Recorded by an evaluation (meta "purpose"): not the person's play, kept out of training
        unless chosen."""
        return self.extra.get("purpose") == PURPOSE_EVALUATION


def read_meta(folder: Path) -> EpisodeMeta:
    """Raises OSError or ValueError (json.JSONDecodeError) when meta.json is missing or corrupt."""
    with open(folder / META, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError("meta.json is not a JSON object")
    return EpisodeMeta.from_dict(data)


def write_meta(folder: Path, meta: EpisodeMeta) -> None:
    """Replace meta.json atomically (``recorder.files``): a crash leaves the old or the new one."""
    with atomic_open(folder / META) as f:
        json.dump(meta.to_dict(), f, indent=2, ensure_ascii=False)
        f.write("\n")


def is_episode(folder: Path) -> bool:
    return folder.is_dir() and (folder / META).is_file()


def list_episodes(root: Path) -> list[Path]:
    """Episode folders under ``root`` (or ``root`` itself when it is one), sorted by name = start time."""
    root = Path(root)
    if is_episode(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if is_episode(p))
