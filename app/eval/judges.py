"""Who decides whether a trial succeeded: the game where it can tell, the person where it cannot.

A judge's life per trial: ``prepare`` (put the world back, or wait for the person to), ``begin`` (the
agent starts), ``poll`` while the agent plays (a ``Verdict`` as soon as one is known), ``finish`` when
the time is up (a timeout is a failure). ``GameJudge`` reads the demo game's mod log: nodes dug and
placed, items crafted, picked up and dropped, mapped from minetest's item names onto JARVIS-VLA's
task keys by an explicit table. ``PersonJudge`` waits for two hotkeys (success, failure) and a third
that says the world is reset and the next trial may start.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# minetest_game's names -> Minecraft's, for the demo tasks (anything else: the name after the colon)
MINETEST_ITEMS: dict[str, str] = {
    "default:stone": "stone",
    "default:cobble": "cobblestone",
    "default:mossycobble": "mossy_cobblestone",
    "default:tree": "oak_log",
    "default:wood": "oak_planks",
    "default:leaves": "oak_leaves",
    "default:sapling": "oak_sapling",
    "default:dirt": "dirt",
    "default:dirt_with_grass": "grass_block",
    "default:sand": "sand",
    "default:sandstone": "sandstone",
    "default:gravel": "gravel",
    "default:clay": "clay",
    "default:snowblock": "snow_block",
    "default:ice": "ice",
    "default:glass": "glass",
    "default:obsidian": "obsidian",
    "default:brick": "bricks",
    "default:stone_with_coal": "coal_ore",
    "default:stone_with_iron": "iron_ore",
    "default:stone_with_diamond": "diamond_ore",
    "default:coal_lump": "coal",
    "default:apple": "apple",
    "default:stick": "stick",
    "default:torch": "torch",
    "default:furnace": "furnace",
    "default:chest": "chest",
    "default:ladder_wood": "ladder",
    "default:pick_wood": "wooden_pickaxe",
    "default:pick_stone": "stone_pickaxe",
    "default:axe_wood": "wooden_axe",
    "default:shovel_wood": "wooden_shovel",
    "default:sword_wood": "wooden_sword",
    "stairs:slab_cobble": "cobblestone_slab",
    "stairs:stair_cobble": "cobblestone_stairs",
    "stairs:slab_wood": "oak_slab",
    "stairs:stair_wood": "oak_stairs",
}

# the mod's event kinds -> JARVIS-VLA task kinds (placing a block is Minecraft's "used" statistic)
EVENT_TASKS: dict[str, str] = {
    "dig": "mine_block",
    "place": "use_item",
    "craft": "craft_item",
    "pickup": "pickup",
    "drop": "drop",
}
JUDGEABLE = frozenset(EVENT_TASKS.values())


def minecraft_name(minetest_name: str) -> str:
    return MINETEST_ITEMS.get(minetest_name, minetest_name.rpartition(":")[2])


def task_of_event(event: dict[str, Any]) -> str | None:
    """``{"k": "dig", "node": "default:tree"}`` -> ``mine_block:oak_log``."""
    kind = EVENT_TASKS.get(str(event.get("k")))
    name = event.get("node") or event.get("item")
    return f"{kind}:{minecraft_name(str(name))}" if kind and name else None


def game_can_judge(task: str | None) -> bool:
    return bool(task) and task.partition(":")[0] in JUDGEABLE and bool(task.partition(":")[2])


@dataclass(frozen=True)
class Verdict:
    success: bool
    seconds: float | None  # time from the trial's start to success (None: not a success)
    why: str  # "mod: dig default:stone", "success key", "time is up", ...


class Judge(Protocol):
    who: str  # "game" or "person"

    def prepare(self, trial: int) -> None: ...
    def begin(self) -> None: ...
    def poll(self) -> Verdict | None: ...
    def finish(self) -> Verdict: ...
    def cancel(self) -> None: ...


@dataclass
class StartState:
    """Where a game-judged trial starts: position, view (degrees; + pitch looks down), inventory."""

    pos: tuple[float, float, float] = (0.0, 100.0, 0.0)
    yaw: float = 0.0
    pitch: float = 0.0
    yaw_jitter: float = 0.0  # each trial turns by a uniform amount in ±this, so trials differ
    give: Sequence[tuple[str, int]] = ()
    setnodes: Sequence[tuple[int, int, int, str]] = ()  # placed before every trial (e.g. the target block)
    settle_s: float = 0.4  # minetest echoes the old view for a moment after a teleport


class GameJudge:
    """The demo game's mod decides: success when an event maps onto ``task`` (``mine_block:stone``)."""

    who = "game"

    def __init__(
        self, game: Any, task: str, start: StartState | None = None, seed: int | None = None
    ) -> None:
        if not game_can_judge(task):
            raise ValueError(
                f"the demo game cannot tell whether {task!r} succeeded (it judges "
                f"{', '.join(sorted(JUDGEABLE))} tasks); let the person judge with --judge person"
            )
        self.game = game
        self.task = task
        self.start = start or StartState()
        self._rng = random.Random(seed)
        self._mark = 0
        self._t0 = 0.0
        self.events: list[dict[str, Any]] = []

    def prepare(self, trial: int) -> None:
        s = self.start
        yaw = s.yaw + self._rng.uniform(-s.yaw_jitter, s.yaw_jitter)
        self.game.reset(s.pos, yaw, s.pitch, give=s.give)
        if s.setnodes:
            self.game.command(*(f"setnode {x} {y} {z} {name}" for x, y, z, name in s.setnodes))
        time.sleep(s.settle_s)

    def begin(self) -> None:
        log = self.game.log
        log.poll()
        self._mark = len(log.records)
        self._t0 = log.records[-1]["t"] if log.records else 0.0
        self.events = []

    def poll(self) -> Verdict | None:
        self.events = self.game.log.since(self._mark)
        for event in self.events:
            if task_of_event(event) == self.task:
                name = event.get("node") or event.get("item")
                return Verdict(True, max(0.0, event["t"] - self._t0), f"mod: {event['k']} {name}")
        return None

    def finish(self) -> Verdict:
        return Verdict(False, None, "time is up")

    def cancel(self) -> None:
        """Nothing waits on the person."""


@dataclass
class PersonJudge:
    """The person decides with global hotkeys; between trials they reset the game and press ``ready``.

    ``press`` is what the session's listener calls with a key's binding name (any thread). ``say``
    tells the person what to do; it never names the arm playing (the A/B stays blind).
    """

    success_key: str = "f6"
    failure_key: str = "f7"
    ready_key: str = "f8"
    say: Callable[[str], None] = print
    ready_timeout_s: float | None = None  # None: wait as long as it takes
    who: str = "person"
    _verdict: Verdict | None = field(default=None, init=False)
    _ready: threading.Event = field(default_factory=threading.Event, init=False)
    _playing: bool = field(default=False, init=False)
    _t0: float = field(default=0.0, init=False)
    _cancelled: bool = field(default=False, init=False)

    @property
    def keys(self) -> tuple[str, str, str]:
        return (self.success_key, self.failure_key, self.ready_key)

    def press(self, key: str) -> None:
        if key == self.ready_key and not self._playing:
            self._ready.set()
        elif key in (self.success_key, self.failure_key) and self._playing and self._verdict is None:
            ok = key == self.success_key
            self._verdict = Verdict(
                ok, time.monotonic() - self._t0 if ok else None, "success key" if ok else "failure key"
            )

    def prepare(self, trial: int) -> None:
        self._ready.clear()
        self.say(
            f"Trial {trial + 1}: reset the game for the task, then press {self.ready_key.upper()} "
            f"(during the trial: {self.success_key.upper()} success, {self.failure_key.upper()} failure)."
        )
        if not self._ready.wait(self.ready_timeout_s) or self._cancelled:
            raise TimeoutError(f"nobody pressed {self.ready_key.upper()} to start the next trial")

    def begin(self) -> None:
        self._verdict = None
        self._t0 = time.monotonic()
        self._playing = True

    def poll(self) -> Verdict | None:
        return self._verdict

    def finish(self) -> Verdict:
        self._playing = False
        return self._verdict or Verdict(False, None, "time is up")

    def cancel(self) -> None:
        self._cancelled = True
        self._ready.set()
