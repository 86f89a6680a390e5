"""From "this task, these adapters" to a ready ``Evaluation``: the arms and the judge, for any door.

The game judges when it can (the demo game's mod and a mine/craft/pickup/drop/use task), starting
every trial where the player stands now unless told otherwise; otherwise the person does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.eval.judges import GameJudge, PersonJudge, StartState, game_can_judge
from app.eval.results import Arm
from app.eval.runner import Evaluation


def demo_game(session: Any) -> Any | None:
    """The demo game's process when the session plays one (it has the mod's log and reset)."""
    process = getattr(session.game, "process", None)
    return process if process is not None and hasattr(process, "reset") else None


def start_here(game: Any, yaw_jitter: float = 0.0) -> StartState:
    """Where the player stands and looks now; each trial turned by up to ± ``yaw_jitter`` degrees."""
    pose = game.pose()
    yaw, pitch = math.degrees(pose.yaw), math.degrees(pose.pitch)
    return StartState(pos=pose.pos, yaw=yaw, pitch=pitch, yaw_jitter=yaw_jitter)


def choose_judge(
    session: Any,
    task: str | None,
    prefer: str = "auto",
    person: PersonJudge | None = None,
    start: StartState | None = None,
    seed: int | None = None,
    yaw_jitter: float = 0.0,
) -> Any:
    """``prefer``: auto, game or person. Raises ValueError when the game is asked but cannot judge."""
    game = demo_game(session)
    can = game is not None and game_can_judge(task)
    if prefer == "game" and not can:
        why = "only the demo game can judge" if game is None else f"it cannot judge {task!r}"
        raise ValueError(f"the game cannot judge here: {why}; let the person judge")
    if can and prefer != "person":
        return GameJudge(game, str(task), start or start_here(game, yaw_jitter), seed=seed)
    return person or PersonJudge()


def arms(adapters: Sequence[str], include_base: bool = True) -> list[Arm]:
    out = [Arm("base")] if include_base else []
    names = {a.name for a in out}
    for adapter in adapters:
        path = Path(adapter).expanduser()
        name = path.name or str(path)
        while name in names:
            name += "'"
        names.add(name)
        out.append(Arm(name, str(path)))
    if not out:
        raise ValueError("nothing to evaluate: add an adapter or include the base model")
    return out


def build(
    session: Any,
    task_or_instruction: str,
    adapters: Sequence[str] = (),
    *,
    trials: int = 10,
    seconds: float = 30.0,
    include_base: bool = True,
    judge: Any = None,
    blind: bool | None = None,
    seed: int | None = None,
    yaw_jitter: float = 0.0,
) -> Evaluation:
    if trials < 1 or seconds <= 0:
        raise ValueError("trials and seconds must be positive")
    text = task_or_instruction.strip()
    task = text if text in session.tasks.tasks or game_can_judge(text) else session.tasks.task_of(text)
    chosen = arms(adapters, include_base)
    judge = judge or choose_judge(session, task, seed=seed, yaw_jitter=yaw_jitter)
    return Evaluation(
        session,
        judge,
        chosen,
        trials=trials,
        seconds=seconds,
        task=task,
        instruction=text,
        blind=(len(chosen) > 1) if blind is None else blind,
        seed=seed,
    )
