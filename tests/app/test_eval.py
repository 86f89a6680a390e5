"""The evaluation's Qt-free logic without a game: statistics, the mod's events as task keys, the
blinded interleaved schedule, recorded outcomes, the results file, the history and its plot.

The runner plays real loops on the fake game (a test pattern) through ``Session``; a judge stands in
for the mod with a plan of verdicts, so the bookkeeping around each trial is what is tested here.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.eval import stats
from app.eval.judges import GameJudge, Verdict, game_can_judge, minecraft_name, task_of_event
from app.eval.results import Arm, RunResult, Trial, adapter_info, read_history, save
from app.eval.runner import Evaluation, schedule
from app.eval.setup import start_here


def test_fisher_exact_matches_known_tables() -> None:
    # Fisher's tea-tasting table [[3, 1], [1, 3]]: two-sided p = 34/70
    assert stats.fisher_exact(3, 4, 1, 4) == pytest.approx(34 / 70)
    # 8/10 against 0/10: twice the one-sided 45/125970 (the table is symmetric)
    assert stats.fisher_exact(8, 10, 0, 10) == pytest.approx(2 * 45 / 125970)
    assert stats.fisher_exact(5, 10, 5, 10) == pytest.approx(1.0)


def test_comparison_verdicts() -> None:
    assert stats.compare(8, 10, 1, 10).verdict == "better"
    assert stats.compare(0, 10, 9, 10).verdict == "worse"
    close = stats.compare(4, 10, 3, 10)
    assert close.verdict == "no clear difference" and close.p_value > 0.5
    assert close.test == stats.TEST_NAME


def test_events_map_onto_jarvis_task_keys() -> None:
    assert task_of_event({"k": "dig", "node": "default:tree"}) == "mine_block:oak_log"
    assert task_of_event({"k": "dig", "node": "default:stone"}) == "mine_block:stone"
    assert task_of_event({"k": "craft", "item": "default:wood", "count": 4}) == "craft_item:oak_planks"
    assert task_of_event({"k": "pickup", "item": "default:cobble"}) == "pickup:cobblestone"
    assert task_of_event({"k": "drop", "item": "default:dirt"}) == "drop:dirt"
    assert task_of_event({"k": "place", "node": "default:wood"}) == "use_item:oak_planks"
    assert task_of_event({"k": "pose"}) is None
    assert minecraft_name("flowers:rose") == "rose"
    assert game_can_judge("mine_block:stone") and not game_can_judge("kill_entity:zombie")
    assert not game_can_judge(None) and not game_can_judge("custom")


def test_schedule_interleaves_permuted_blocks() -> None:
    arms = [Arm("base"), Arm("a", "x"), Arm("b", "y")]
    order = schedule(arms, 5, random.Random(1))
    assert len(order) == 15
    for block in range(5):  # every arm once per block: no arm runs ahead of the others
        assert sorted(a.name for a in order[block * 3 : block * 3 + 3]) == ["a", "b", "base"]
    orders = {tuple(a.name for a in schedule(arms, 5, random.Random(seed))) for seed in range(6)}
    assert len(orders) > 1  # random, not a fixed rotation


class PlannedJudge:
    """Stands in for the mod: decides each trial from a plan (True: success after ~0.2 s)."""

    who = "game"

    def __init__(self, plan: list[bool]) -> None:
        self.plan = list(plan)
        self.prepared: list[int] = []
        self._now: bool | None = None
        self._polls = 0

    def prepare(self, trial: int) -> None:
        self.prepared.append(trial)

    def begin(self) -> None:
        self._now = self.plan.pop(0)
        self._polls = 0

    def poll(self) -> Verdict | None:
        self._polls += 1
        if self._now and self._polls >= 4:
            return Verdict(True, 0.2, "planned")
        return None

    def finish(self) -> Verdict:
        return Verdict(False, None, "time is up")

    def cancel(self) -> None:
        pass


def fake_session(tmp_path: Path, press: str = "", record_mode: str = "agent") -> Any:
    from app.games.fake import FakeConnector
    from tests.sessions import session_for

    class Policy:
        def act(self, frame: Any, instruction: str) -> Any:
            from model.actions.env import null_action
            from model.policies.base import PolicyStep

            action = null_action()
            if press:
                action[press] = 1
            return PolicyStep([action])

        def reset(self) -> None:
            pass

        def close(self) -> None:
            pass

    session = session_for(
        FakeConnector(),
        policy=Policy(),
        record=True,
        record_mode=record_mode,
        episodes_dir=str(tmp_path / "episodes"),
    )
    swaps: list[str | None] = []
    session.set_adapter = lambda adapter: swaps.append(adapter)  # the fake policy has no LoRA to swap
    return session, swaps


def test_runner_records_each_trial_with_its_outcome_and_stays_blind(tmp_path: Path) -> None:
    session, swaps = fake_session(tmp_path, record_mode="corrections")  # the window's record mode
    plan = [True, False, True, True, False, False]
    judge = PlannedJudge(plan)
    lines: list[str] = []
    shown: list[Trial] = []
    evaluation = Evaluation(
        session,
        judge,
        [Arm("base"), Arm("tuned", "/a")],
        trials=3,
        seconds=1.5,
        task="mine_block:stone",
        seed=5,
        on_progress=[lines.append],
        on_trial=[shown.append],
    )
    try:
        result = evaluation.run()
    finally:
        session.close()
    assert [t.success for t in result.trials] == plan
    assert judge.prepared == list(range(6))
    assert all(t.seconds == 0.2 for t in result.trials if t.success)
    assert all(t.why == "time is up" for t in result.trials if not t.success)
    assert {t.arm for t in result.trials} == {"base", "tuned"}
    assert all(t.arm == "" for t in shown) and not any("tuned" in x or "base" in x for x in lines)
    assert swaps[-1] is None and "/a" in swaps  # hot-swapped in, back to the base at the end
    metas = [json.loads(m.read_text()) for m in (tmp_path / "episodes").rglob("meta.json")]
    assert sorted(m["outcome"] for m in metas) == sorted("success" if p else "failure" for p in plan)
    # each trial is marked as one (apart from the person's play, out of training), and only while it runs
    assert [m.get("purpose") for m in metas] == ["evaluation"] * len(plan)
    assert session.purpose is None
    # the model's own play, whatever the window records the person's in (the CLI's eval says the same)
    assert {m["mode"] for m in metas} == {"agent"}


def test_every_trial_starts_on_the_first_hotbar_slot(tmp_path: Path) -> None:
    """A model pressing 5 leaves slot 5 selected: the next trial (perhaps the other arm's) must start
    on slot 1 again, as the person's recordings do, not on what the last trial left, and before the
    judge's reset gives the trial's items into the hand."""
    session, _ = fake_session(tmp_path, press="hotbar.5")
    connector = session.game.connector
    at_start: list[dict[str, Any]] = []

    class Watching(PlannedJudge):
        def prepare(self, trial: int) -> None:  # the judge's reset gives the trial's items to the hand
            at_start.append(dict(connector.applied[-1]) if connector.applied else {})
            super().prepare(trial)

    evaluation = Evaluation(session, Watching([False] * 4), [Arm("base"), Arm("tuned", "/a")], trials=2,
                            seconds=0.5, task="mine_block:stone", seed=1)  # fmt: skip
    try:
        evaluation.run()
    finally:
        session.close()
    assert len(at_start) == 4
    assert all(a.get("hotbar.1") == 1 and not a.get("hotbar.5") for a in at_start), at_start
    assert any(a.get("hotbar.5") for a in connector.applied)  # the model did press 5 in between


def test_results_file_history_rounds_and_plot(tmp_path: Path) -> None:
    from PIL import Image

    from app.eval.plot import save_history_plot

    adapter = tmp_path / "r1"
    adapter.mkdir()
    (adapter / "manifest.json").write_text(
        json.dumps({"episodes": {"train": ["a", "b", "c"], "valid": ["d"]}})
    )
    assert adapter_info(str(adapter))["episodes"] == 4 and adapter_info(None) == {"round": 0, "episodes": 0}

    def run(wins_base: int, wins_tuned: int) -> RunResult:
        r = RunResult(
            "mine_block:stone",
            "",
            "tiny",
            "game",
            5.0,
            10,
            True,
            1,
            "2026-01-02T03:04:05+00:00",
            [Arm("base"), Arm("r1", str(adapter))],
        )
        r.trials = [Trial(i, "base", i < wins_base, 1.0 if i < wins_base else None, "x") for i in range(10)]
        r.trials += [
            Trial(10 + i, "r1", i < wins_tuned, 2.0 if i < wins_tuned else None, "x") for i in range(10)
        ]
        return r

    out = tmp_path / "evals"
    first = save(run(1, 9), out)
    second = save(run(2, 8), out)
    assert first != second and first.exists() and second.exists()
    data = json.loads(first.read_text())
    base, tuned = data["summary"]
    assert (base["successes"], tuned["successes"]) == (1, 9)
    assert tuned["vs_first"]["verdict"] == "better" and tuned["vs_first"]["test"] == stats.TEST_NAME
    assert tuned["ci_low"] == pytest.approx(stats.wilson(9, 10)[0])
    assert tuned["median_seconds_to_success"] == 2.0
    history = read_history(out)
    assert [(h["arm"], h["round"], h["episodes"]) for h in history] == [("base", 0, 0), ("r1", 1, 4)] * 2
    png = save_history_plot(history, "mine_block:stone", tmp_path / "h.png")
    image = Image.open(png)
    assert image.size == (720, 420)
    # the adapter's points are drawn in its colour, high up (80-90%), the base's low down
    pixels = image.convert("RGB").load()
    colours = {pixels[x, y] for x in range(image.width) for y in range(image.height)}
    assert (220, 110, 30) in colours and (40, 110, 200) in colours


def test_one_trial_per_arm_reads_as_one() -> None:
    result = RunResult(
        "mine_block:stone", "", "tiny", "person", 20.0, 1, True, 1, "2025-01-01T00:00:00", [Arm("base")]
    )
    assert "1 trial per arm of 20 s" in result.format() and "1 trial per arm" in result.headline()
    result.trials_per_arm = 10
    assert "10 trials per arm" in result.headline()
    result.stopped_early = "cancelled"
    assert result.headline().endswith("stopped early: cancelled")


def test_the_interval_says_what_it_is_in_the_text_and_the_json(tmp_path: Path) -> None:
    """The text once said "0/2 = 0% [0%–66%]" and left the reader to guess: now it and every JSON row
    name the interval."""
    result = RunResult("mine_block:stone", "", "tiny", "game", 5.0, 2, True, 1, "2026-01-02T03:04:05+00:00",
                       [Arm("base")])  # fmt: skip
    result.trials = [Trial(0, "base", False, None, "x"), Trial(1, "base", False, None, "x")]
    assert "0/2 = 0% (95% Wilson interval 0%–66%)" in result.format()
    (row,) = result.summary()
    assert (row["ci_level"], row["ci_method"]) == (0.95, "Wilson score")
    assert (row["ci_low"], round(row["ci_high"], 2)) == (0.0, 0.66)
    path = save(result, tmp_path / "evals")
    assert json.loads(path.read_text())["summary"][0]["ci_method"] == "Wilson score"
    (line,) = read_history(tmp_path / "evals")
    assert (line["ci_level"], line["ci_method"]) == (0.95, "Wilson score")


def test_trials_started_where_the_player_stands_face_a_new_way_each_time() -> None:
    """The Evaluate panel's default: each trial turned at random from where the person stands, so that
    ten trials are ten situations; the result file keeps the start (``RunResult.start``)."""
    resets: list[tuple[float, float]] = []
    game = SimpleNamespace(
        pose=lambda: SimpleNamespace(pos=(1.0, 2.0, 3.0), yaw=math.radians(30), pitch=math.radians(-45)),
        reset=lambda pos, yaw, pitch, give=(): resets.append((yaw, pitch)),
    )
    start = start_here(game, yaw_jitter=180.0)
    start.settle_s = 0.0
    judge = GameJudge(game, "mine_block:stone", start, seed=1)
    for trial in range(10):
        judge.prepare(trial)
    assert all(pitch == pytest.approx(-45) for _yaw, pitch in resets)
    assert len({round(yaw) for yaw, _pitch in resets}) == 10
    assert max(yaw for yaw, _ in resets) - min(yaw for yaw, _ in resets) > 180
    still = GameJudge(game, "mine_block:stone", start_here(game), seed=1)
    still.start.settle_s = 0.0
    resets.clear()
    still.prepare(0)
    still.prepare(1)
    assert resets == [(pytest.approx(30), pytest.approx(-45))] * 2
