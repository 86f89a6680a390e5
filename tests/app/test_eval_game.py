"""The judge of in-game evaluation in a real minetest: the mod's events and its reset.

Checked with real key presses (xdotool-free: the session replays env actions through the desktop
connector). A fine-tune measured by what it does, through ``record``, ``finetune`` and ``eval`` as a
person runs them, is tests/app/test_learning_loop.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.game_fixtures import SPAWN

pytestmark = [pytest.mark.xvfb, pytest.mark.game, pytest.mark.slow]

TASK = "mine_block:stone"


@pytest.fixture
def connector(game: Any, xvfb: str):  # type: ignore[no-untyped-def]
    from app.games.desktop import DesktopConfig, DesktopConnector

    c = DesktopConnector(DesktopConfig(pid=game.proc.pid), display=xvfb).open()
    yield c
    c.close()


def lent_session(game: Any, connector: Any, tmp_path: Path, model: str | None = None, **kw: Any) -> Any:
    """A session on the running demo game (the fixture owns it), recording agent episodes."""
    from app.games.spec import GameSpec, OpenGame
    from app.session import Session
    from app.settings import Settings

    class Lent(OpenGame):
        def close(self) -> None:
            """The fixture owns the game."""

        def focus(self) -> None:
            game.focus()

    opened = Lent(GameSpec("demo"), connector, "minetest", process=game, game_name="minetest")
    settings = Settings(
        record=True,
        record_mode="agent",
        episodes_dir=str(tmp_path / "episodes"),
        tick_hz=20.0,
        fallback="repeat",  # a late model holds its last action: digging needs the button held
        temperature=0.0,  # greedy, as the fine-tune's held-out accuracy decodes: an arm is one policy
        tasks_file=kw.pop("tasks_file", ""),
    )
    session = Session(settings, game_factory=lambda *_a, **_k: opened, listen=kw.pop("listen", False), **kw)
    session.open_game("demo")
    if model is not None:
        session.load_model(model)
    return session


def test_mod_reports_digs_and_places_and_reset_restores_them(
    game: Any, connector: Any, tmp_path: Path
) -> None:
    from app.eval.judges import task_of_event
    from model.actions.env import null_action

    mark = game.reset(SPAWN, 0.0, 90.0)  # looking straight down at (0, 99, 0)
    time.sleep(0.4)
    dig = null_action()
    dig["attack"] = 1
    session = lent_session(game, connector, tmp_path)
    try:
        session.start(actions=[dig] * 30)
        assert session.wait(30) is not None
    finally:
        session.close()
    events = game.log.since(mark)
    assert any(e["k"] == "dig" and e["at"] == [0, 99, 0] for e in events), events
    assert TASK in {task_of_event(e) for e in events}
    mark = game.reset(SPAWN, 0.0, 90.0)
    reset = [r for r in game.log.records if r.get("k") == "reset"][-1]
    assert reset["restored"] >= 1
    game.command("id 0")  # one more server step: the node is back
    assert game.log.since(mark) == []
    # digging again works on the restored node: the world really is as it was
    session = lent_session(game, connector, tmp_path)
    try:
        time.sleep(0.4)
        session.start(actions=[dig] * 30)
        assert session.wait(30) is not None
    finally:
        session.close()
    assert any(e["k"] == "dig" and e["at"] == [0, 99, 0] for e in game.log.since(mark))


def test_mod_reports_drops_and_places_with_item_names(game: Any, connector: Any, tmp_path: Path) -> None:
    from app.eval.judges import task_of_event
    from model.actions.env import null_action

    drop, place, slot = null_action(), null_action(), null_action()
    drop["drop"] = 1
    place["use"] = 1
    slot["hotbar.4"] = 1  # as a model pressing number keys leaves it for the next trial
    session = lent_session(game, connector, tmp_path)
    try:
        session.start(actions=[slot, null_action()])
        assert session.wait(30) is not None
    finally:
        session.close()
    # the floor 2-3 nodes ahead; the dirt goes into the hand, whichever slot the last trial left selected
    mark = game.reset(SPAWN, 0.0, 35.0, give=[("default:dirt", 5)])
    time.sleep(0.4)
    session = lent_session(game, connector, tmp_path)
    try:
        session.start(actions=[place, place, place, null_action(), drop, null_action()])  # Q drops the stack
        assert session.wait(30) is not None
    finally:
        session.close()
    time.sleep(0.3)
    tasks = {task_of_event(e) for e in game.log.since(mark)}
    print(game.log.since(mark))
    assert {"drop:dirt", "use_item:dirt"} <= tasks
    mark = game.reset(SPAWN, 0.0, 60.0)  # the placed dirt goes, the dropped item is removed
    assert [r for r in game.log.records if r.get("k") == "reset"][-1]["restored"] >= 1
