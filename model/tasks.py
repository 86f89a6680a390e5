"""The tasks JARVIS-VLA was trained on, for completing and checking what a person types.

JARVIS-VLA learned a fixed set of atomic tasks, each keyed ``<event>:<minecraft id>``
(``mine_block:oak_log``, ``craft_item:crafting_table``, ``kill_entity:zombie``) with a few phrasings
the model actually saw (JARVIS-VLA's ``instructions.json``: ``{key: {"instruct": [...]}}``). An
instruction outside those phrasings may still work, but the model was never taught it, so the window
marks it. Without a library file the completer offers a small built-in list and says so.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger(__name__)

FILE_NAME = "instructions.json"

# A few common tasks, phrased the way the upstream library phrases them, for when no file is found.
BUILTIN: dict[str, list[str]] = {
    "mine_block:oak_log": ["Mine the oak log.", "Chop down a tree."],
    "mine_block:dirt": ["Mine the dirt block."],
    "mine_block:stone": ["Mine the stone block."],
    "mine_block:coal_ore": ["Mine the coal ore."],
    "mine_block:iron_ore": ["Mine the iron ore."],
    "mine_block:grass": ["Mine the grass."],
    "craft_item:crafting_table": ["Craft a crafting table."],
    "craft_item:oak_planks": ["Craft oak planks."],
    "craft_item:stick": ["Craft sticks."],
    "craft_item:wooden_pickaxe": ["Craft a wooden pickaxe."],
    "craft_item:stone_pickaxe": ["Craft a stone pickaxe."],
    "craft_item:torch": ["Craft torches."],
    "craft_item:furnace": ["Craft a furnace."],
    "kill_entity:zombie": ["Kill a zombie.", "Hunt the zombie."],
    "kill_entity:sheep": ["Kill a sheep."],
    "kill_entity:cow": ["Kill a cow."],
    "kill_entity:pig": ["Kill a pig."],
    "kill_entity:spider": ["Kill a spider."],
    "use_item:bread": ["Eat the bread."],
    "pickup:oak_log": ["Pick up the oak log."],
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
            return f"{len(self)} common tasks (built-in: no instructions.json; choose one in Settings)"
        return f"{len(self)} tasks the model was trained on ({self.source})"

    def task_of(self, instruction: str) -> str | None:
        """The task key an instruction names or phrases, or None if the model never saw it."""
        return self._index.get(normalize(instruction))

    def is_known(self, instruction: str) -> bool:
        return self.task_of(instruction) is not None

    def prompt_for(self, instruction: str) -> str:
        """The text the model gets: a task key becomes its first trained phrasing; the rest is as typed."""
        text = instruction.strip()
        if self.tasks.get(text):
            return self.tasks[text][0]
        return text

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


class TaskFileError(ValueError):
    """An instructions.json that cannot be used; the message says what is wrong with it."""


def load(path: Path) -> TaskLibrary:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaskFileError(f"cannot read the task file {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise TaskFileError(f"the task file {path} is not JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise TaskFileError(f"the task file {path} should hold a JSON object of tasks")
    tasks: dict[str, list[str]] = {}
    for key, entry in data.items():
        phrases = entry.get("instruct", []) if isinstance(entry, dict) else []
        tasks[str(key)] = [p for p in phrases if isinstance(p, str) and p.strip()]
    if not tasks:
        raise TaskFileError(f"the task file {path} holds no tasks")
    return TaskLibrary(tasks, str(path))


def builtin() -> TaskLibrary:
    return TaskLibrary({k: list(v) for k, v in BUILTIN.items()}, "built-in", builtin=True)


def find(tasks_file: str | None = None, checkpoint: str | None = None) -> tuple[TaskLibrary, str | None]:
    """The library to use and, if a given file was unusable, why (the built-in list is used then).

    Order: an explicit ``tasks_file``; ``instructions.json`` in the checkpoint folder (or its
    ``assets/``); the built-in list.
    """
    if tasks_file:
        try:
            return load(Path(tasks_file).expanduser()), None
        except TaskFileError as exc:
            return builtin(), f"{exc}; using the built-in task list instead."
    if checkpoint:
        folder = Path(checkpoint).expanduser()
        for candidate in (folder / FILE_NAME, folder / "assets" / FILE_NAME):
            if candidate.is_file():
                try:
                    return load(candidate), None
                except TaskFileError as exc:
                    return builtin(), f"{exc}; using the built-in task list instead."
    return builtin(), None
