"""The tasks JARVIS-VLA was trained on, for completing and checking what a person types.

JARVIS-VLA learned a fixed set of atomic tasks, each keyed ``<event>:<minecraft id>``
(``mine_block:oak_log``, ``craft_item:crafting_table``, ``kill_entity:zombie``) with a few phrasings
the model actually saw: JARVIS-VLA's ``instructions.json`` (``{key: {"instruct": [...]}}``, 2,605 keys,
12,534 phrasings). An instruction outside those phrasings may still work, but the model was never
taught it, so the window marks it.

Where the library comes from, first found wins: ``--tasks FILE``; an ``instructions.json`` in the
checkpoint folder; the copy in the user cache; a download of the upstream file (pinned commit, checked
by sha256) into that cache at first use. Offline, with none of these, the completer offers a short
built-in list whose phrasings are all taken verbatim from that file, and ``find`` says plainly why.
``JARVIS_PLAY_TASKS_SOURCE`` replaces the download address (any URL urllib opens, ``file://`` too);
``none`` turns downloading and the cache off (the test suite does, so nothing reaches the network).

Which phrasing the model gets for a task key: by default the first (deterministic, reproducible); or
one drawn the way the official agent draws it (``official_prompt``: ``random.choice`` over the key's
``instruct`` list, or the key in words for a key the library lacks, ``agent_wrapper.py`` in JarvisVLA).
The official agent draws anew at every model call (``create_instruction`` runs inside ``forward``);
``PhrasingPolicy`` does that around any policy, and drawing once at each start gives one per episode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from model.errors import ModelError
from recorder.files import write_atomically

LOG = logging.getLogger(__name__)

FILE_NAME = "instructions.json"
UPSTREAM_COMMIT = "036719154a42e64062f006b4792556f13430d799"  # CraftJarvis/JarvisVLA, 2025-05-28
UPSTREAM_URL = (
    f"https://raw.githubusercontent.com/CraftJarvis/JarvisVLA/{UPSTREAM_COMMIT}"
    "/jarvisvla/evaluate/assets/instructions.json"
)
UPSTREAM_SHA256 = "f36f56da1d6b0c5d5e25f11ce893274a40fa68bcdd3eb7a21d211da1eabf0105"
SOURCE_ENV = "JARVIS_PLAY_TASKS_SOURCE"  # another download address, or "none": no download, no cache
MAX_BYTES = 32 * 1024 * 1024  # the upstream file is 0.97 MB; anything far larger is not it

# Common tasks for when no library can be had, each with its first phrasings copied verbatim from
# instructions.json @UPSTREAM_COMMIT (tests/model/test_tasks.py checks every one against the file).
BUILTIN: dict[str, list[str]] = {
    "mine_block:oak_log": ["Mine the oak log.", "Chop down the oak log."],
    "mine_block:dirt": ["Mine dirt from the ground.", "Get dirt block."],
    "mine_block:stone": ["Mine stone underground.", "Break the stone block."],
    "mine_block:coal_ore": ["Mine the coal ore underground.", "Gather coal ore with a pickaxe."],
    "mine_block:iron_ore": ["Mine the iron ore underground.", "Find iron ore and break it."],
    "mine_block:diamond_ore": ["Mine the diamond ore underground.", "Find and mine the diamond ore."],
    "mine_block:grass": ["Gather grass on the ground.", "Clear the ground by mining grass."],
    "craft_item:crafting_table": ["Craft a crafting table.", "Take wooden planks to craft a crafting table."],
    "craft_item:oak_planks": ["Craft oak planks.", "Use an oak log to craft oak planks."],
    "craft_item:stick": ["Craft a stick.", "Combine wooden planks to craft sticks."],
    "craft_item:wooden_pickaxe": [
        "Craft a wooden pickaxe.",
        "Open the crafting table to craft a wooden pickaxe.",
    ],
    "craft_item:stone_pickaxe": ["Craft a stone pickaxe.", "Use the crafting table to make a stone pickaxe."],
    "craft_item:torch": ["Craft a torch.", "Use sticks and coal to craft a torch."],
    "craft_item:furnace": ["Craft a furnace.", "Use cobblestone to craft a furnace."],
    "craft_item:iron_ingot": ["Smelt an iron ingot.", "Obtain an iron ingot from the furnace."],
    "custom:interact_with_crafting_table": [
        "Open the crafting table.",
        "Right-click on the crafting table to access it.",
    ],
    "kill_entity:zombie": ["Hunt the zombie.", "Kill a zombie."],
    "kill_entity:sheep": ["Hunt a sheep.", "Kill the sheep."],
    "kill_entity:cow": ["Hunt a cow.", "Kill the cow."],
    "kill_entity:pig": ["Hunt a pig.", "Kill the pig."],
    "kill_entity:spider": ["Hunt a spider.", "Kill the spider."],
    "use_item:bread": ["Right click to eat the bread.", "Consume the bread."],
    "pickup:oak_log": ["Pick up an oak log."],
}


def normalize(text: str) -> str:
    """Case, surrounding space, runs of spaces and a final full stop do not make a new instruction."""
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!").strip()


@dataclass(frozen=True)
class Completion:
    text: str  # what goes into the instruction box
    key: str  # the task it belongs to


@dataclass
class TaskLibrary:
    tasks: dict[str, list[str]]
    source: str  # the file it came from, or "built-in"
    builtin: bool = False
    _index: dict[str, str] = field(default_factory=dict, repr=False)  # normalized phrase or key -> key

    def __post_init__(self) -> None:
        for key, phrases in self.tasks.items():
            self._index.setdefault(normalize(key), key)
            for phrase in phrases:
                self._index.setdefault(normalize(phrase), key)

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def description(self) -> str:
        if self.builtin:
            return (
                f"{len(self)} common tasks (built-in: JARVIS-VLA's instructions.json was not found or "
                "downloaded; choose one in Settings or pass --tasks FILE)"
            )
        return f"{len(self)} tasks the model was trained on ({self.source})"

    def task_of(self, instruction: str) -> str | None:
        """The task key an instruction names or phrases, or None if the model never saw it."""
        return self._index.get(normalize(instruction))

    def is_known(self, instruction: str) -> bool:
        return self.task_of(instruction) is not None

    def prompt_for(self, instruction: str, rng: random.Random | None = None) -> str:
        """The text the model gets: a task key becomes its first trained phrasing, or with ``rng`` one
        drawn the official way (``official_prompt``); anything else goes as typed."""
        text = instruction.strip()
        if text not in self.tasks:
            return text
        if rng is not None:
            return self.official_prompt(text, rng)
        return self.tasks[text][0] if self.tasks[text] else natural_text(text)

    def official_prompt(self, key: str, rng: Any = random) -> str:
        """One phrasing of ``key`` picked as JarvisVLA's agent picks it (``instruction_type="normal"``):
        ``random.choice(library.get(key, {"instruct": [natural_text]})["instruct"])``. A key with an
        empty list gets its words (upstream would raise there)."""
        phrasing: str = rng.choice(self.tasks.get(key) or [natural_text(key)])
        return phrasing

    def complete(self, prefix: str, limit: int = 20) -> list[Completion]:
        """Keys and phrasings that start with ``prefix`` (then those that contain it), keys first."""
        needle = normalize(prefix)
        if not needle:
            return []
        starts: list[Completion] = []
        contains: list[Completion] = []
        seen: set[str] = set()
        for key, phrases in self.tasks.items():
            for text in (key, *phrases):
                norm = normalize(text)
                if norm in seen:
                    continue
                bucket = starts if norm.startswith(needle) else contains if needle in norm else None
                if bucket is not None:
                    seen.add(norm)
                    bucket.append(Completion(text, key))
        ranked = sorted(starts, key=lambda c: (c.text != c.key, len(c.text))) + contains
        return ranked[:limit]

    def all_texts(self) -> list[str]:
        """Every key and phrasing once: what a completer widget is filled with."""
        out: dict[str, None] = {}
        for key, phrases in self.tasks.items():
            out[key] = None
            out.update(dict.fromkeys(phrases))
        return list(out)


def natural_text(key: str) -> str:
    """A key in words, the official agent's fallback: ``craft_item:stick`` -> ``craft item stick``."""
    return key.replace("_", " ").replace(":", " ")


class TaskFileError(ModelError, ValueError):
    """An instructions.json that cannot be used; the message says what is wrong with it."""


class TaskDownloadError(TaskFileError):
    """The library could not be downloaded (offline, refused, or not the expected file)."""


def parse(text: str, origin: str) -> dict[str, list[str]]:
    """``{key: {"instruct": [...]}}`` -> ``{key: [phrasings]}``; ``origin`` names it in errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskFileError(f"the task file {origin} is not JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise TaskFileError(f"the task file {origin} should hold a JSON object of tasks")
    tasks: dict[str, list[str]] = {}
    for key, entry in data.items():
        phrases = entry.get("instruct", []) if isinstance(entry, dict) else []
        tasks[str(key)] = [p for p in phrases if isinstance(p, str) and p.strip()]
    if not tasks:
        raise TaskFileError(f"the task file {origin} holds no tasks")
    return tasks


def load(path: Path) -> TaskLibrary:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskFileError(f"cannot read the task file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TaskFileError(f"the task file {path} is not UTF-8 text") from exc
    return TaskLibrary(parse(text, str(path)), str(path))


def builtin() -> TaskLibrary:
    return TaskLibrary({k: list(v) for k, v in BUILTIN.items()}, "built-in", builtin=True)


def cache_file() -> Path:
    """Where the downloaded library is kept (the user cache, e.g. ~/.cache/jarvis-play/)."""
    return Path(user_cache_dir("jarvis-play")) / "jarvis-vla" / FILE_NAME


def download_source() -> str | None:
    """The address to download from: ``$JARVIS_PLAY_TASKS_SOURCE`` or upstream; None when turned off."""
    source = os.environ.get(SOURCE_ENV, UPSTREAM_URL).strip()
    return None if source.lower() in ("", "none", "off") else source


def fetch(source: str = UPSTREAM_URL, dest: Path | None = None, timeout: float = 10.0) -> Path:
    """Download the library from ``source`` into ``dest`` (the user cache) and return ``dest``.

    The file is parsed before it is kept, and the pinned upstream address must give the pinned bytes
    (sha256), so a cache never holds an error page or a changed file. Written atomically.
    """
    dest = Path(dest) if dest is not None else cache_file()
    try:
        with urllib.request.urlopen(source, timeout=timeout) as response:  # http(s) or file://
            body = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise TaskDownloadError(
            f"could not download JARVIS-VLA's task library from {source} ({reason})"
        ) from exc
    if len(body) > MAX_BYTES:
        raise TaskDownloadError(f"{source} is larger than {MAX_BYTES} bytes: not an instructions.json")
    if source == UPSTREAM_URL and hashlib.sha256(body).hexdigest() != UPSTREAM_SHA256:
        raise TaskDownloadError(f"{source} did not give the expected file (sha256 differs); not cached")
    try:
        parse(body.decode("utf-8"), source)
    except UnicodeDecodeError as exc:
        raise TaskDownloadError(f"{source} did not give UTF-8 text; not cached") from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(dest, body)
    LOG.info("downloaded JARVIS-VLA's task library from %s to %s", source, dest)
    return dest


def _fallback(why: str) -> tuple[TaskLibrary, str]:
    lib = builtin()
    return lib, f"{why}; completion offers {len(lib)} built-in common tasks instead."


def find(
    tasks_file: str | None = None,
    checkpoint: str | None = None,
    *,
    source: str | None = None,
    cache: Path | None = None,
    timeout: float = 10.0,
) -> tuple[TaskLibrary, str | None]:
    """The library to use and, when the built-in list stands in for a wanted one, why.

    Order: an explicit ``tasks_file``; ``instructions.json`` in the checkpoint folder (or its
    ``assets/``); the cached download; a download from ``source`` (default ``download_source()``) into
    ``cache`` (default ``cache_file()``) at first use; the built-in list. With downloading turned off
    the built-in list comes without a note; offline, the note says so and how to give the file.
    """
    if tasks_file:
        try:
            return load(Path(tasks_file).expanduser()), None
        except TaskFileError as exc:
            return _fallback(str(exc))
    if checkpoint:
        folder = Path(checkpoint).expanduser()
        for candidate in (folder / FILE_NAME, folder / "assets" / FILE_NAME):
            if candidate.is_file():
                try:
                    return load(candidate), None
                except TaskFileError as exc:
                    return _fallback(str(exc))
    source = source if source is not None else download_source()
    if source is None:
        return builtin(), None
    cache = Path(cache) if cache is not None else cache_file()
    if cache.is_file():
        try:
            return load(cache), None
        except TaskFileError as exc:  # a damaged cache: fetch it again
            LOG.warning("the cached task library is unusable (%s); downloading it again", exc)
    try:
        return load(fetch(source, cache, timeout)), None
    except TaskDownloadError as exc:
        return _fallback(f"offline? {exc}. Pass --tasks FILE with JarvisVLA's instructions.json")
    except (TaskFileError, OSError) as exc:
        return _fallback(f"the downloaded task library is unusable ({exc})")


class PhrasingPolicy:
    """A policy whose task-key instructions become a phrasing drawn anew at every call, as the official
    agent draws one inside each ``forward`` (JarvisVLA ``agent_wrapper.py``, ``instruction_type
    ="normal"``). Other text passes through unchanged. ``drawn`` keeps the phrasings, for a report."""

    def __init__(self, policy: Any, library: TaskLibrary, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.library = library
        self.rng = rng or random.Random()
        self.drawn: list[str] = []

    def act(self, frame: Any, instruction: str) -> Any:
        key = instruction.strip()
        if key in self.library.tasks:
            instruction = self.library.official_prompt(key, self.rng)
            self.drawn.append(instruction)
        return self.policy.act(frame, instruction)

    def reset(self) -> None:
        self.policy.reset()

    def close(self) -> None:
        self.policy.close()
