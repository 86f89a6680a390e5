"""What a person can change about a session, saved per user as JSON in the platform's config folder.

A first run needs none of it: every field has a default that plays the tiny model on the demo game.
Loading never fails: a corrupt or unreadable file is backed up next to itself and the defaults are
used, and a field with a wrong type falls back to its default; each such problem comes back as a
sentence the window shows (``LoadResult.messages``). Qt-free, so headless commands share it.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from app.runtime.loop import FALLBACKS, LoopConfig
from app.runtime.recording import MODES
from app.runtime.takeover import ControlConfig
from model.quantize import CHOICES as QUANTIZE_CHOICES
from model.quantize import FLAG_HELP as QUANTIZE_HELP
from recorder.episodes import RecordMode, default_root
from recorder.files import write_atomically

LOG = logging.getLogger(__name__)

# The loop's and the takeover's own defaults are the settings' defaults: each is defined once.
_LOOP = LoopConfig()
_CONTROL = ControlConfig()

APP_NAME = "jarvis-play"
FILE_NAME = "settings.json"
HISTORY_KEEP = 50  # instructions remembered across runs


def config_dir() -> Path:
    """The per-user config folder; ``JARVIS_PLAY_CONFIG_DIR`` overrides it (tests, portable installs)."""
    override = os.environ.get("JARVIS_PLAY_CONFIG_DIR")
    if override:
        return Path(override)

    return Path(user_config_dir(APP_NAME))


# The command-line flags that override a setting, by argument group (``add_flags``).
FLAG_GROUPS = {
    "game": "game settings (read from the game where possible)",
    "loop": "loop and safety (defaults from the settings file)",
    "model": "local model (defaults from the settings file)",
}


def _flagged(default: Any, help: str, /, *, flag: str, group: str, **argparse_kwargs: Any) -> Any:
    """A setting that a command-line flag overrides: its help (shown by ``--help``), the flag and how
    argparse reads it. The flag's default is None, which means "as the settings say"."""
    meta = {"help": help, "flag": flag, "group": group, "argparse": argparse_kwargs}
    return field(default=default, metadata=meta)


def default_episodes_dir() -> str:
    return str(default_root())


@dataclass
class Settings:
    model: str = "tiny"  # "tiny", a checkpoint folder, an HF id, or an http(s):// server URL
    game: str = "auto"  # "auto", "demo", "window:<title>", "region:l,t,w,h", "minerl:<env id>"
    tasks_file: str = _flagged(
        "",
        "JarvisVLA's instructions.json (empty: the checkpoint's, else downloaded once into the cache)",
        flag="--tasks",
        group="loop",
        metavar="FILE",
    )
    instruction: str = "Mine the oak log."
    # a task key's text: "first" trained phrasing, or one drawn the official way at each "episode" start
    task_phrasing: str = "first"
    tick_hz: float = _flagged(
        _LOOP.hz, "ticks per second (JARVIS-VLA was trained at 20)", flag="--hz", group="loop"
    )
    temperature: float = 0.7  # sampling temperature (upstream evaluate.py default)
    history_frames: int = 0  # past (frame, answer) pairs in each prompt; upstream: kill 0, mine 3, GUI 4
    fallback: str = _flagged(
        _LOOP.fallback,
        "what a tick does when the model is late: hold (the rest of its last plan, then its keys and buttons "
        "held, camera still, while its last answer is fresh), chunk (the rest of the plan, then null), "
        "repeat, null",
        flag="--fallback",
        group="loop",
        choices=FALLBACKS,
    )
    policy_timeout_s: float = _flagged(
        _LOOP.policy_timeout_s,
        "seconds before a model call counts as hung and stops the run",
        flag="--policy-timeout",
        group="loop",
    )
    deadman_s: float = _flagged(
        _LOOP.deadman_s or 0.0,
        "with fallback hold/repeat: release every key when the model has not answered for S seconds (0: off)",
        flag="--deadman",
        group="loop",
        metavar="S",
    )
    engine: str = _flagged(
        "auto",
        "fast: static cache + CUDA graphs; plain: transformers generate; auto: fast on CUDA, else plain",
        flag="--engine",
        group="model",
        choices=("auto", "fast", "plain"),
    )
    quantize: str = _flagged(
        "none",
        QUANTIZE_HELP,
        flag="--quantize",
        group="model",
        choices=QUANTIZE_CHOICES,
    )
    # the game: read from the game's own settings where possible; these only override
    mouse_sensitivity: float = 0.5  # Minecraft's mouseSensitivity when its options.txt cannot be read
    options_file: str = _flagged(
        "",
        "Minecraft's options.txt (empty: the running game's, else ~/.minecraft/options.txt)",
        flag="--options",
        group="game",
        metavar="PATH",
    )
    degrees_per_count: float = _flagged(
        0.0,
        "camera degrees per mouse count (0: from the game's settings)",
        flag="--degrees-per-count",
        group="game",
    )
    gui_scale: float = _flagged(
        0.0,
        "Minecraft guiScale for cursor moves in GUI screens (0: from options.txt or the window height)",
        flag="--gui-scale",
        group="game",
    )
    require_focus: bool = _flagged(
        True,
        "inject only while the game window has keyboard focus (turning it off is not recommended)",
        flag="--no-focus-check",
        group="game",
    )
    input_anywhere: bool = _flagged(
        False,
        "without a game window (a screen region, the whole screen), count every key and mouse event "
        "anywhere as yours, for taking over and for recording: what you type in other windows too",
        flag="--input-anywhere",
        group="game",
    )
    key_bindings: dict[str, str] = field(default_factory=dict)  # env key -> key, only where not default
    panic_key: str = _flagged(
        "f12", "stop the agent and release every key, from anywhere", flag="--panic-key", group="loop"
    )
    pause_key: str = _flagged(
        "f9", "pause/resume the agent, or take back control from you", flag="--pause-key", group="loop"
    )
    save_last_key: str = "f8"  # saves the last seconds of play as an episode
    resume_after_s: float = _flagged(
        _CONTROL.resume_after_s,
        "seconds of your silence before the agent takes back control (0: only the pause key)",
        flag="--resume-after",
        group="loop",
    )
    takeover_quiet_resume: bool = (
        _CONTROL.takeover_quiet_resume
    )  # "Take over" holds until Hand back; True: quiet time ends it too
    record: bool = False  # record every run to episodes_dir
    # teleop (you play), agent, corrections (the agent and your takeovers); never ring (the save-last key's)
    record_mode: RecordMode = field(default=RecordMode.CORRECTIONS, metadata={"choices": MODES})
    ring_seconds: float = 30.0  # what the save-last key keeps
    episodes_dir: str = ""  # empty: the platform's user data folder
    history: list[str] = field(default_factory=list)  # instructions typed before, newest last
    # the window: where it was last ("x,y,w,h" of its frame; empty: placed beside the game)
    window_geometry: str = ""
    window_panels: str = ""  # the tab in front when it closed: "live", "episodes", "finetune", ...
    window_game_view: bool = True  # the game view in the window (off: watch the game's own window)
    seen_notices: list[str] = field(default_factory=list)  # one-time notices already shown, by key

    def remember(self, instruction: str) -> None:
        """Put ``instruction`` at the end of the history, once."""
        text = instruction.strip()
        if not text:
            return
        kept = [h for h in self.history if h != text][-(HISTORY_KEEP - 1) :]
        self.history = [*kept, text]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class LoadResult:
    settings: Settings
    messages: list[str]  # problems found while loading, each one the user can read
    path: Path


def _coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` if it has the default's type (ints accepted for floats, an enum's value for its member),
    else raise TypeError."""
    if isinstance(default, enum.Enum):
        kind = type(default)
        if isinstance(value, str) and value in {m.value for m in kind}:
            return kind(value)
        raise TypeError(f"{name} should be one of {', '.join(m.value for m in kind)}, not {value!r}")
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise TypeError(f"{name} should be {type(default).__name__}, not {value!r}")
    return value


def add_flags(parser: argparse.ArgumentParser, group: str) -> None:
    """The flags of one ``FLAG_GROUPS`` group, each generated from its setting's field: name, type,
    choices and help, with the setting's default shown. Each flag's own default is None ("as the
    settings say"); a boolean setting's flag turns it to the opposite of its default."""
    g = parser.add_argument_group(FLAG_GROUPS[group])
    for f in dataclasses.fields(Settings):
        if f.metadata.get("group") != group:
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, **f.metadata["argparse"]}
        help = f.metadata["help"]
        if isinstance(f.default, bool):
            kwargs.update(action="store_const", const=not f.default)
            help = f"turns {'off' if f.default else 'on'}: {help}"
        else:
            kwargs.setdefault("type", type(f.default))
            if "choices" not in kwargs:
                kwargs.setdefault("metavar", f.metadata["flag"].lstrip("-").upper().replace("-", "_"))
            if f.default not in ("", 0.0):
                help += (
                    f" (default: {f.default:g})"
                    if isinstance(f.default, float)
                    else f" (default: {f.default})"
                )
        g.add_argument(f.metadata["flag"], help=help.replace("%", "%%"), **kwargs)


def apply_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """``settings`` with every flag ``add_flags`` parsed and the person gave set on top (in place)."""
    for f in dataclasses.fields(Settings):
        value = getattr(args, f.name, None) if "flag" in f.metadata else None
        if value is not None:
            setattr(settings, f.name, value)
    return settings


def from_dict(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    defaults = Settings()
    values: dict[str, Any] = {}
    messages: list[str] = []
    for f in dataclasses.fields(Settings):
        if f.name not in data:
            continue
        choices = f.metadata.get("choices") or f.metadata.get("argparse", {}).get("choices")
        try:
            if choices is not None and data[f.name] not in choices:
                raise TypeError(f"{f.name} should be one of {', '.join(choices)}, not {data[f.name]!r}")
            values[f.name] = _coerce(f.name, data[f.name], getattr(defaults, f.name))
        except TypeError as exc:
            messages.append(f"setting ignored, default used: {exc}")
    return Settings(**values), messages


def load(path: Path | None = None) -> LoadResult:
    path = path or config_dir() / FILE_NAME
    if not path.exists():
        return LoadResult(Settings(), [], path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the file does not hold a JSON object")
    except (OSError, ValueError) as exc:
        backup = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            path.replace(backup)
            where = f"it was moved to {backup}"
        except OSError:
            where = "it could not be moved aside"
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        message = f"Settings file {path} could not be read ({reason}); {where} and the defaults are used."
        LOG.warning("%s", message)
        return LoadResult(Settings(), [message], path)
    settings, messages = from_dict(data)
    return LoadResult(settings, messages, path)


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (``recorder.files``), so a crash mid-write never leaves a half file."""
    path = path or config_dir() / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def episodes_root(settings: Settings) -> Path:
    """The recordings folder the session writes to (Settings, else the platform's data folder)."""
    return Path(settings.episodes_dir or default_episodes_dir()).expanduser()


def adapters_root(settings: Settings) -> Path:
    """Where the window's fine-tunes write their adapters: beside the recordings folder."""
    return episodes_root(settings).parent / "adapters"


def evaluations_root(settings: Settings) -> Path:
    """Where evaluations write their results and history: beside the recordings folder."""
    return episodes_root(settings).parent / "evaluations"
