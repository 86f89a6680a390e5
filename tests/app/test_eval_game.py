"""In-game evaluation in a real minetest: the mod judges, a fine-tune is measured by what it does.

A scripted "person" demonstrates mining stone in the arena: when the view shows sky, look down; when
it shows the stone floor, hold attack. The tiny model is fine-tuned on those episodes, then ``eval``
plays the base model and the adapter as two interleaved arms of 10 trials each on
``mine_block:stone``, each trial starting at the arena's spawn looking up into the sky; the mod's dig
events decide success and its reset puts the dug stone back between trials. The base (random) model
rarely digs; the adapter does, and Fisher's test says it is better.

The mod's own events and its reset are checked first, with real key presses (xdotool-free: the
session replays env actions through the desktop connector).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.game_fixtures import SPAWN

pytestmark = [pytest.mark.xvfb, pytest.mark.game, pytest.mark.slow]

TASK = "mine_block:stone"
SKY_PITCH = -50.0


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


def demonstrate(
    game: Any, connector: Any, root: Path, prompt: str, episodes: int = 5, per_episode: int = 12
) -> Path:
    """The scripted person: sky in view -> look down; the stone floor in view -> hold attack."""
    from model.actions.env import null_action
    from recorder.episodes.format import EpisodeMeta
    from recorder.episodes.writer import EpisodeWriter
    from tests.recorder.episodes.synth import line_for

    rng = np.random.default_rng(11)
    for _ in range(episodes):
        writer = EpisodeWriter(root, EpisodeMeta(mode="teleop", instructions=[prompt], game="minetest"))
        assert writer.start(), writer.error
        for _ in range(per_episode):
            sky = bool(rng.random() < 0.5)
            pitch = rng.uniform(-70, 0) if sky else rng.uniform(30, 85)
            game.reset(SPAWN, rng.uniform(0, 360), pitch)  # as eval starts a trial: empty hands
            time.sleep(0.3)
            frame = connector.observe()
            action = null_action()
            if sky:
                action["camera"] = [6.0, 0.0]
            else:
                action["attack"] = 1
            assert writer.submit(frame, line_for(0, action=action, instruction=prompt), block=True)
        assert writer.close(outcome="success").status == "complete"
    return root


def eval_args(
    tmp_path: Path, adapters: list[str], trials: int, seconds: float, **kw: Any
) -> argparse.Namespace:
    from app.cli import build_parser

    argv = [
        "eval",
        "--task",
        TASK,
        "--trials",
        str(trials),
        "--seconds",
        str(seconds),
        "--fake",
        "--start",
        f"{SPAWN[0]},{SPAWN[1]},{SPAWN[2]},0,{SKY_PITCH}",
        "--yaw-jitter",
        "180",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "evals"),
        "--plot",
        str(tmp_path / "history.png"),
    ]
    for a in adapters:
        argv += ["--adapter", a]
    return build_parser().parse_args(argv)


@pytest.mark.nondeterministic(
    "20 trials in a real game: what the model sees depends on frame timing, so the greedy arms do not "
    "replay; once (of three full runs) the adapter won its first 4 trials and none after (4/10), cause "
    "not found (issue 22's report): under the team's load the adapter still digs in ~2.5 s of 6"
)
def test_eval_measures_a_finetune_by_what_it_does(
    game: Any, connector: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from app.commands.eval import evaluate
    from model.finetune.config import FinetuneConfig
    from model.finetune.train import train

    session = lent_session(game, connector, tmp_path, model=str(tiny_model_dir))
    try:
        prompt = session.set_instruction(TASK)
        demos = demonstrate(game, connector, tmp_path / "demos", prompt)
        events: list[dict[str, Any]] = []
        adapter = tmp_path / "round1"
        train(
            FinetuneConfig(
                model=str(tiny_model_dir),
                episodes=[str(demos)],
                out=str(adapter),
                steps=50,
                batch_size=8,
                lr=8e-3,
                valid_fraction=0.2,
                eval_every=25,
                eval_samples=24,
                device="cpu",
            ),
            events.append,
        )
        print("held-out accuracy:", [e.get("action_accuracy") for e in events if e["event"] == "eval"])
        lines: list[str] = []
        result, path = evaluate(session, eval_args(tmp_path, [str(adapter)], 10, 6.0), say=lines.append)
    finally:
        session.close()
    print("\n".join(lines))
    print(result.format())
    base, tuned = result.summary()
    assert base["trials"] == tuned["trials"] == 10
    assert base["rate"] <= 0.2, "the base model should rarely mine the stone"
    assert tuned["rate"] >= 0.8, "the demonstrations should teach it"
    assert tuned["vs_first"]["verdict"] == "better" and tuned["vs_first"]["p_value"] < 0.05
    assert all(t.seconds is not None and 0 < t.seconds <= 6.5 for t in result.trials if t.success)
    # interleaved: not all of one arm first, and no progress line named an arm
    order = [t.arm for t in result.trials]
    assert order != sorted(order) and order != sorted(order, reverse=True)
    assert not any("base" in line or "round1" in line for line in lines if line.startswith("trial"))
    saved = json.loads(path.read_text())
    assert [r["arm"] for r in saved["summary"]] == ["base", "round1"]
    history = [json.loads(x) for x in (tmp_path / "evals" / "history.jsonl").read_text().splitlines()]
    assert [(h["arm"], h["round"], h["episodes"]) for h in history] == [("base", 0, 0), ("round1", 1, 5)]
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every trial is a recorded episode with its outcome
    metas = [json.loads(m.read_text()) for m in (tmp_path / "episodes").rglob("meta.json")]
    outcomes = sorted(m["outcome"] for m in metas if m.get("mode") == "agent")
    wins = sum(t.success for t in result.trials)
    assert outcomes == sorted(["success"] * wins + ["failure"] * (20 - wins))


def test_mod_reports_drops_and_places_with_item_names(game: Any, connector: Any, tmp_path: Path) -> None:
    from app.eval.judges import task_of_event
    from model.actions.env import null_action

    mark = game.reset(SPAWN, 0.0, 35.0, give=[("default:dirt", 5)])  # the floor 2-3 nodes ahead, dirt in hand
    time.sleep(0.4)
    drop, place = null_action(), null_action()
    drop["drop"] = 1
    place["use"] = 1
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
