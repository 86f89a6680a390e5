"""The fine-tune's own figures can say "this did not work": an adapter with one answer scores 1/K and
gets a warning in words; held-out frames are drawn kind by kind; training draws kinds evenly; pauses
are not trained on; evaluation keeps within its share of the run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model.actions.codec import ActionCodec
from model.actions.env import null_action
from model.finetune.evaluate import KIND_ROW, Scores, stratified
from model.finetune.kinds import action_kind
from model.finetune.sampling import kind_weights, record_kind
from model.finetune.schedule import EvalSchedule
from model.prompts import sft_conversation


def act(**kw: Any) -> dict[str, Any]:
    action = null_action()
    action.update(kw)
    return action


DIG, DOWN, DOWN_FAST, WAIT = act(attack=1), act(camera=[2.6, 0.0]), act(camera=[5.2, 0.4]), null_action()


def record(action: dict[str, Any], i: int = 0) -> dict[str, Any]:
    codec = ActionCodec()
    return {"id": str(i), "conversations": sft_conversation("mine", codec.text(codec.encode(action)))}


def scores(predict: Any, labels: list[dict[str, Any]]) -> Scores:
    codec, result = ActionCodec(), Scores()
    for label in labels:
        result.add(predict(label), label, codec)
    return result


def played(root: Path, actions: list[dict[str, Any]], corrections: range = range(0)) -> None:
    """One recorded episode through the real writer, a tick per action; ``corrections``: the ticks a
    person took over in (the rest the agent played), else a person's own play."""
    from recorder.episodes.format import EpisodeMeta
    from recorder.episodes.writer import EpisodeWriter
    from tests.recorder.episodes.synth import line_for, tick_frame

    mode = "corrections" if corrections else "teleop"
    writer = EpisodeWriter(root, EpisodeMeta(mode=mode, instructions=[{"tick": 0, "text": "mine"}]))
    assert writer.start(), writer.error
    for i, action in enumerate(actions):
        who = {"phase": "correction", "control": "human"} if i in corrections else {"control": "agent"}
        line = line_for(i, action=action, instruction="mine", **(who if corrections else {}))
        assert writer.submit(tick_frame(i), line, block=True)
    assert writer.close("success").status == "complete"


LABELS = [DIG] * 10 + [DOWN] * 6 + [DOWN_FAST] * 4 + [act(forward=1, jump=1)] * 4


def test_kinds_name_buttons_and_the_cameras_way_not_its_amount() -> None:
    assert action_kind(DIG) == "attack" and action_kind(WAIT) == "nothing"
    assert action_kind(DOWN) == action_kind(DOWN_FAST) == "look down"
    assert action_kind(act(camera=[0.0, -3.0])) == "turn left"
    assert action_kind(act(forward=1, jump=1, camera=[-1.0, 0.2])) == "forward+jump+look up"


@pytest.mark.parametrize("answer", [WAIT, DIG])
def test_an_adapter_with_one_answer_scores_one_in_k_and_is_warned_about(answer: dict[str, Any]) -> None:
    result = scores(lambda _label: answer, LABELS)
    kinds = {action_kind(a) for a in LABELS}
    assert result.kind_accuracy == pytest.approx(1 / len(kinds) if answer is DIG else 0.0)
    assert result.top_answer == (action_kind(answer), 1.0)
    (warning,) = result.warnings()
    assert ("does nothing on 100%" if answer is WAIT else "answers 'attack' on 100%") in warning
    summary = result.summary()
    assert summary["null_share"] == (1.0 if answer is WAIT else 0.0) and summary["warnings"] == [warning]
    assert result.table()[KIND_ROW]["accuracy"] == summary["kind_accuracy"]


def test_leaning_to_one_answer_is_not_giving_it_whatever_it_sees() -> None:
    """Two kinds drawn evenly: right on 10 of 12 look-downs and 7 of 12 digs answers 'look down' on
    62% of frames, yet on only 5 of the 12 frames where the person dug: it tells them apart. Answering
    'look down' on 10 of those 12 is what 'whatever it sees' means."""
    labels = [DOWN] * 12 + [DIG] * 12
    answers = iter([DOWN] * 10 + [DIG] * 2 + [DIG] * 7 + [DOWN] * 5)
    leaning = scores(lambda _label: next(answers), labels)
    assert leaning.top_answer == ("look down", 15 / 24) and leaning.warnings() == []
    answers = iter([DOWN] * 12 + [DIG] * 2 + [DOWN] * 10)
    (warning,) = scores(lambda _label: next(answers), labels).warnings()
    assert "answers 'look down' on 92% of held-out frames, and on 83% of those where you did" in warning


def test_over_answering_one_kind_is_not_warned_about_when_it_is_clearly_commoner_where_it_is_right() -> None:
    """The held-out figures of a window run whose adapter mined 10 of 10 in the game: 'look down' on
    all 11 frames where the person looked down, and on 6 of 11 digs and both look-ups: 8 of 13 frames
    of other kinds, yet never a dig where the person looked down. It tells them apart (p=0.04); its
    panel said it did not. Two more of those 13 answered 'look down' (10 of 13, p=0.22) is what the
    collapsed adapters of other runs did, and that is still warned about."""
    up = act(camera=[-3.0, 0.0])
    labels = [DOWN] * 11 + [DIG] * 11 + [up] * 2
    answers = iter([DOWN] * 11 + [DIG] * 5 + [DOWN] * 6 + [DOWN] * 2)
    good = scores(lambda _label: next(answers), labels)
    assert good.misplaced_share("look down") == pytest.approx(8 / 13) and good.tells_apart("look down")
    assert good.warnings() == []
    answers = iter([DOWN] * 10 + [DIG] + [DIG] * 5 + [DOWN] * 6 + [DOWN] * 2)  # one look-down fewer: p=0.17
    (edge,) = scores(lambda _label: next(answers), labels).warnings()  # why a dozen a kind was too few
    assert "and on 62% of those where you did something else" in edge
    answers = iter([DOWN] * 11 + [DIG] * 3 + [DOWN] * 8 + [DOWN] * 2)
    (warning,) = scores(lambda _label: next(answers), labels).warnings()
    assert "and on 77% of those where you did something else" in warning


def test_the_right_kind_scores_full_marks_even_when_the_camera_bin_differs() -> None:
    result = scores(lambda label: DOWN if action_kind(label) == "look down" else label, LABELS)
    assert result.kind_accuracy == 1.0 and not result.warnings()
    table = result.table()
    assert table["camera direction"]["accuracy"] == 1.0 and table["camera direction"]["n"] == 10
    assert table["exact action"]["accuracy"] == pytest.approx(20 / 24)  # the fast look-downs' bin differs
    assert table["attack"]["n"] == 10 and table["jump"]["n"] == 4


def test_held_out_frames_are_drawn_kind_by_kind_and_the_same_every_time() -> None:
    records = [record(DIG, i) for i in range(100)] + [record(DOWN, 100 + i) for i in range(5)]
    picked = stratified(records, 10, seed=3)
    assert sorted(record_kind(r) for r in picked) == ["attack"] * 5 + ["look down"] * 5
    assert [r["id"] for r in stratified(records, 10, seed=3)] == [r["id"] for r in picked]
    assert len(stratified(records, 500)) == 105


def test_training_draws_each_kind_about_equally_but_never_replays_one_tick_endlessly() -> None:
    records = [record(DIG, i) for i in range(90)] + [record(DOWN, i) for i in range(30)] + [record(WAIT)]
    weights = np.array(kind_weights(records))
    dig, down, stray = weights[:90].sum(), weights[90:120].sum(), weights[120]
    assert dig == pytest.approx(down)  # 90 vs 30 recorded, drawn alike
    assert stray == pytest.approx(weights[0] * 3)  # a lone stray tick: at most 3x, not 90x


def test_a_persons_slips_stay_rare_in_training() -> None:
    """One minute of corrections as recorded in the window (nulls dropped, each correction counted 3
    times): digs, look-downs, and three takeovers that began with a jerk of the mouse upwards. Boosted
    10x those three ticks were 6.6% of the draws and the adapter learnt to look up at the sky."""
    person = [record(DIG, i) for i in range(558)] + [record(DOWN, i) for i in range(429)]
    slips = [record(act(camera=[-3.7, 0.0]), i) for i in range(9)]
    assert {record_kind(r) for r in slips} == {"look up"}
    weights = np.array(kind_weights([dict(r, phase="correction") for r in person + slips]))
    assert weights[-9:].sum() < 0.025  # at most 3x their 0.9%
    assert weights[:558].sum() == pytest.approx(weights[558:987].sum())  # the task's kinds, evened out


def test_the_agents_scattered_kinds_do_not_outweigh_the_persons_corrections() -> None:
    """A corrections recording: the person's look-downs and digs (each counted 3 times, as the records
    repeat them) beside a base agent's few ticks spread over many kinds. Kinds are evened out within
    each source; each source keeps its share of the records, so the agent's noise stays noise."""
    stray = [act(hotbar=k) for k in range(1, 10)] + [act(use=1), act(right=1), act(jump=1)]
    person = [dict(record(DIG, i), phase="correction") for i in range(3 * 40)]
    person += [dict(record(DOWN, i), phase="correction") for i in range(3 * 20)]
    agent = [dict(record(a, i), phase="none") for i, a in enumerate(stray)]
    weights = np.array(kind_weights(person + agent))
    assert weights.sum() == pytest.approx(1.0)
    dig, down, noise = weights[:120].sum(), weights[120:180].sum(), weights[180:].sum()
    assert dig == pytest.approx(down)  # the person's kinds, evened out
    assert noise == pytest.approx(len(agent) / len(weights))  # 12 of 192 records: about 6% of draws
    alone = np.array(kind_weights([dict(r, phase="none") for r in person + agent]))
    assert alone[180:].sum() > 2 * noise  # balanced together, the 12 stray kinds would be boosted 3x


def test_a_corrections_round_is_scored_on_the_persons_corrections(tmp_path: Path) -> None:
    from model.finetune.config import FinetuneConfig
    from model.finetune.records import load_records

    actions = [act(hotbar=3), act(use=1), DOWN, DOWN, DIG, DIG, act(right=1), act(jump=1)] * 5
    for taken_over in (range(0, 40), range(16, 40), range(0, 24)):  # where the person took over
        played(tmp_path / "rounds", actions, corrections=taken_over)
    config = FinetuneConfig(episodes=[str(tmp_path / "rounds")], out="unused", valid_fraction=0.34)
    data = load_records(config)
    assert data.info["valid_scored"] == "the person's corrections"
    assert data.valid and {r["phase"] for r in data.valid} == {"correction"}
    # the agent's own moves are not what the person would have done: by default they do not train
    assert {r["control"] for r in data.train} == {"human"}
    kept = load_records(replace(config, agent_play="keep"))
    assert {r["control"] for r in kept.train} == {"agent", "human"}
    assert {r["phase"] for r in kept.valid} == {"correction"}  # kept, they are still never scored
    teleop = tmp_path / "teleop"
    played(teleop, actions)
    plain = load_records(FinetuneConfig(episodes=[str(teleop)], out="unused"))
    assert plain.info["valid_scored"] == "every kept tick" and plain.valid


def test_pauses_are_not_trained_on_by_default(tmp_path: Path) -> None:
    from model.finetune.config import FinetuneConfig
    from model.finetune.records import load_records

    actions = [WAIT] * 12 + [DIG] * 3 + [WAIT] * 5 + [DOWN] * 4 + [WAIT] * 6
    for _ in range(2):
        played(tmp_path / "episodes", actions)
    kept = load_records(FinetuneConfig(episodes=[str(tmp_path / "episodes")], out="unused"))
    assert {record_kind(r) for r in kept.train + kept.valid} == {"attack", "look down"}
    assert kept.info["train_samples"] + kept.info["valid_samples"] == 2 * 7
    every = load_records(
        FinetuneConfig(episodes=[str(tmp_path / "episodes")], out="unused", null_ticks="keep")
    )
    assert every.info["train_samples"] + every.info["valid_samples"] == 2 * len(actions)


def test_a_lone_episode_still_holds_out_its_last_ticks(tmp_path: Path) -> None:
    from model.finetune.config import FinetuneConfig
    from model.finetune.records import load_records

    played(tmp_path / "one", [DIG, WAIT, DOWN] * 10)
    data = load_records(FinetuneConfig(episodes=[str(tmp_path / "one")], out="unused", valid_fraction=0.2))
    assert data.info["valid_samples"] == 4 and data.info["train_samples"] == 16
    assert max(r["tick"] for r in data.train) < min(r["tick"] for r in data.valid)  # one seam


def test_evaluation_keeps_within_a_fifth_of_the_run_and_the_eta_counts_it() -> None:
    schedule = EvalSchedule(steps=100, frames=10, final_frames=10)
    schedule.evaluated(0, 10.0, 10)  # the baseline: 10 s per evaluation
    for _ in range(3):
        schedule.stepped(1.0)  # 1 s per step: 100 s of training
    spacing = schedule.spacing()
    evals = 1 + len(range(spacing, 100, spacing)) + 1
    assert evals * 10.0 <= 0.2 * (100 + evals * 10.0)
    assert schedule.eta_s(3) == pytest.approx(97 * 1.0 + schedule.remaining_evals(3) * 10.0)
    fast_eval = EvalSchedule(steps=100, frames=10, final_frames=10)
    fast_eval.evaluated(0, 0.5, 10)
    fast_eval.stepped(1.0)
    assert fast_eval.spacing() < spacing  # cheap evaluations come more often
    fixed = EvalSchedule(steps=100, every=10)
    assert fixed.spacing() == 10 and fixed.due(10) and not fixed.due(5) and fixed.due(100)


def test_the_final_evaluation_decodes_more_frames_as_far_as_the_fifth_of_the_run_allows() -> None:
    """The final figures are the verdict, so they get the most frames; the spacing pays for them first,
    the ETA counts them, and what is left of the budget at the end caps them."""
    roomy = EvalSchedule(steps=100, frames=10, final_frames=40)
    roomy.evaluated(0, 1.0, 10)  # 0.1 s a frame
    roomy.stepped(1.0)
    spacing = roomy.spacing()
    spaced = len(range(spacing, 100, spacing))
    assert 1.0 + spaced * 1.0 + 4.0 <= 0.2 * (100 + 1.0 + spaced * 1.0 + 4.0)  # baseline, spaced, final
    assert roomy.eta_s(1) == pytest.approx(99 * 1.0 + (roomy.remaining_evals(1) - 1) * 1.0 + 4.0)
    roomy.train_s = 100.0  # the training done: 25 s of evaluation allowed, 1 spent
    assert roomy.final_frames_now() == 40

    tight = EvalSchedule(steps=100, frames=10, final_frames=40)
    tight.evaluated(0, 10.0, 10)  # 1 s a frame: baseline and a 40-frame final would take 50 s of 25
    tight.stepped(1.0)
    assert tight.spacing() == 100  # nothing between the baseline and the final
    tight.train_s = 100.0
    assert tight.final_frames_now() == 15  # what the 15 s left hold
    tight.evaluated(50, 20.0, 10)  # evaluation already past its share: never fewer than the others
    assert tight.final_frames_now() == 10
    assert EvalSchedule(steps=10, frames=10, final_frames=40).final_frames_now() == 10  # nothing measured
