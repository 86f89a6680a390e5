"""How good is a policy on held-out ticks, in figures that can say "this did not work".

Each held-out frame is decoded greedily under the action grammar, exactly as the live policy decodes
it, and compared with what the person did. A person's play is lopsided (pauses, one button held for
seconds), so counting ticks rewards the commonest answer: an adapter that always waits scored 100% on
held-out ticks that were mostly pauses. So:

* the frames are drawn **stratified by the kind of action** the person took (``kinds.action_kind``),
  the same frames at every evaluation of a run;
* the headline is **kind accuracy, balanced over kinds**: did the adapter take the right kind of action
  (which buttons, which way the camera turns), averaged kind by kind. Always giving one answer scores
  1/K;
* each action group (attack, use, movement, jump, camera direction...) is scored on the frames where
  the person used it ("when you attacked, did it attack?"), and the exact action on the frames where
  the person did anything at all;
* the share of "do nothing" answers and of the single commonest answer are reported; the result
  carries a warning in words when the adapter does nothing on most frames, or gives one answer on
  most of the frames where the person did something else (whatever it sees).

Wilson intervals keep small samples honest: 9 of 10 right is "somewhere between 60% and 98%".
"""

from __future__ import annotations

import io
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from model.actions.codec import PITCH_GROUP, YAW_GROUP, ActionCodec
from model.actions.env import EnvAction
from model.actions.tokens import ids_from_text
from model.finetune.kinds import NULL, action_kind, camera_kind
from model.image import prepare_frame
from model.vla import Sampling

# codec button groups scored on the frames where the person used them (index into joint_to_groups)
GROUPS: dict[str, int] = {
    "attack": 6,
    "use": 4,
    "forward/back": 1,
    "left/right": 2,
    "jump": 7,
    "sprint/sneak": 3,
    "drop": 5,
    "hotbar": 0,
}
KIND_ROW = "right kind of action"
EXACT_ROW = "exact action"
CAMERA_ROW = "camera direction"
WARN_SHARE = 0.6  # nothing on this share of held-out frames, or one answer on this share of the
# frames of other kinds (or more), is a warning, unless the answer is clearly commoner where it is right
ALPHA = 0.05  # "clearly": Fisher's exact test at the level the in-game evaluation's verdicts use


def _table_p(a: int, row1: int, col1: int, total: int) -> float:
    """Hypergeometric probability of ``a`` successes in row 1, margins fixed."""
    return math.comb(col1, a) * math.comb(total - col1, row1 - a) / math.comb(total, row1)


def fisher_exact(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value of s1/n1 against s2/n2: the probability of a table at most as likely as the
    one seen, margins fixed."""
    total, col1 = n1 + n2, s1 + s2
    if n1 == 0 or n2 == 0:
        return 1.0
    observed = _table_p(s1, n1, col1, total)
    low, high = max(0, col1 - n2), min(n1, col1)
    p = sum(q for a in range(low, high + 1) if (q := _table_p(a, n1, col1, total)) <= observed * (1 + 1e-9))
    return min(1.0, p)


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of ``successes`` / ``total``."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Tally:
    right: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.right += ok
        self.total += 1

    @property
    def rate(self) -> float:
        return self.right / self.total if self.total else 0.0

    def row(self) -> dict[str, float]:
        low, high = wilson(self.right, self.total)
        return {"accuracy": self.rate, "ci_low": low, "ci_high": high, "n": self.total}


@dataclass
class Scores:
    """Held-out figures of one policy. ``add`` one (predicted, label) pair per frame."""

    by_kind: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    exact: Tally = field(default_factory=Tally)  # frames where the person did something
    groups: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    answers: Counter[str] = field(default_factory=Counter)  # predicted kinds
    misplaced: Counter[str] = field(default_factory=Counter)  # predicted kinds, on frames of another kind
    total: int = 0

    def add(self, predicted: EnvAction, label: EnvAction, codec: ActionCodec) -> None:
        self.total += 1
        said, wanted = action_kind(predicted), action_kind(label)
        self.answers[said] += 1
        self.misplaced[said] += said != wanted
        self.by_kind[wanted].add(said == wanted)
        p_groups = codec.joint_to_groups(codec.ids_to_joints(codec.encode(predicted))[0])
        l_groups = codec.joint_to_groups(codec.ids_to_joints(codec.encode(label))[0])
        if wanted != NULL:
            self.exact.add(p_groups == l_groups)
        for name, g in GROUPS.items():
            if l_groups[g]:
                self.groups[name].add(p_groups[g] == l_groups[g])
        if l_groups[PITCH_GROUP] != codec.null_bin or l_groups[YAW_GROUP] != codec.null_bin:
            same = camera_kind(*predicted["camera"]) == camera_kind(*label["camera"])
            self.groups[CAMERA_ROW].add(same)

    @property
    def kind_accuracy(self) -> float:
        """Right kind of action, averaged over the kinds the person took: 1/K for one fixed answer."""
        rates = [t.rate for t in self.by_kind.values() if t.total]
        return sum(rates) / len(rates) if rates else 0.0

    @property
    def null_share(self) -> float:
        return self.answers[NULL] / self.total if self.total else 0.0

    @property
    def top_answer(self) -> tuple[str, float]:
        if not self.total:
            return (NULL, 0.0)
        kind, count = self.answers.most_common(1)[0]
        return kind, count / self.total

    def warnings(self) -> list[str]:
        """What the figures say did not work, in words, with what to do about it."""
        if not self.total:
            return ["no held-out frames to measure on: record at least two episodes (one is held out)"]
        out = []
        kind, share = self.top_answer
        if kind == NULL and share >= WARN_SHARE:
            out.append(
                f"the adapter does nothing on {share:.0%} of held-out frames: it learnt to wait, not to "
                "play. Keep pauses out of training (--null-ticks drop) and record more play"
            )
        elif self.misplaced_share(kind) >= WARN_SHARE and not self.tells_apart(kind):
            out.append(
                f"the adapter answers '{kind}' on {share:.0%} of held-out frames, and on "
                f"{self.misplaced_share(kind):.0%} of those where you did something else: it has not "
                "learnt to tell situations apart. Train longer, or record more of the situations it "
                "confuses"
            )
        return out

    def tells_apart(self, kind: str) -> bool:
        """Whether ``kind`` is clearly commoner as an answer where the person did it than elsewhere.
        Over-answering one kind is not giving it whatever it sees: one adapter answered 'look down' on
        8 of the 13 frames where the person dug or looked up, but on 11 of 11 where they looked down,
        never dug where they looked down, and mined 10 of 10 in the game (p=0.04); one stuck on
        'attack' answered it on 11 of 11 and 10 of 13 (p=0.22)."""
        own = self.by_kind.get(kind)
        if own is None or not own.total:
            return False
        others = self.total - own.total
        misplaced = self.misplaced[kind]
        if own.rate <= (misplaced / others if others else 0.0):
            return False
        return fisher_exact(own.right, own.total, misplaced, others) < ALPHA

    def misplaced_share(self, kind: str) -> float:
        """The share of frames labelled another kind on which the adapter answers ``kind``: high
        when it gives that answer whatever it sees (its share of all frames is not: with two kinds
        drawn evenly, an adapter right on every frame answers each on half of them)."""
        others = self.total - self.by_kind[kind].total if kind in self.by_kind else self.total
        return self.misplaced[kind] / others if others else 0.0

    def table(self) -> dict[str, dict[str, float]]:
        """Rows of accuracy with 95% intervals and their sample size, headline first."""
        kinds = [t for t in self.by_kind.values() if t.total]
        balanced = {
            "accuracy": self.kind_accuracy,
            # the interval of the balanced mean is that of its worst-sampled kind, a cautious bound
            "ci_low": min((t.row()["ci_low"] for t in kinds), default=0.0),
            "ci_high": max((t.row()["ci_high"] for t in kinds), default=1.0),
            "n": self.total,
        }
        rows = {KIND_ROW: balanced, EXACT_ROW: self.exact.row()}
        for name in (*GROUPS, CAMERA_ROW):
            if self.groups[name].total:
                rows[name] = self.groups[name].row()
        return rows

    def summary(self) -> dict[str, Any]:
        """The figures a progress event, a manifest or the panel carries."""
        kind, share = self.top_answer
        return {
            "kind_accuracy": self.kind_accuracy,
            "action_accuracy": self.exact.rate,  # exact action, on the frames where the person acted
            "groups": {name: row["accuracy"] for name, row in self.table().items()},
            "kinds": {k: [t.right, t.total] for k, t in sorted(self.by_kind.items())},
            "null_share": self.null_share,
            "top_answer": kind,
            "top_share": share,
            "samples": self.total,
            "warnings": self.warnings(),
        }


def row_meaning(name: str, n: int) -> str:
    """What a row of ``Scores.table`` counts, in words, with the ticks it was counted on: the rows are
    measured on different ticks (a group only where the person used it), so a figure alone misleads."""
    ticks = f"{n} held-out tick{'s' if n != 1 else ''}"
    if name == KIND_ROW:
        return (
            "Took the right kind of action (which buttons, which way the camera turns), averaged kind "
            f"by kind over {ticks}: always giving one answer scores 1 in the number of kinds"
        )
    if name == EXACT_ROW:
        return f"Took exactly the action you took, on the {ticks} where you did something"
    if name == CAMERA_ROW:
        return f"Turned the camera the way you turned it, on the {ticks} where you moved it"
    return f"Used {name} as you did, on the {ticks} where you used it"


def label_action(record: dict[str, Any], codec: ActionCodec) -> EnvAction:
    """The env action a record's assistant turn holds (what the person did)."""
    answer = record["conversations"][-1]["content"][0]["text"]
    return codec.decode(ids_from_text(answer))[0]


def stratified(records: list[dict[str, Any]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Up to ``n`` records, the kinds of action taking turns (each kind shuffled by ``seed``), so a
    rare kind is measured as often as the commonest one and every evaluation sees the same frames."""
    codec = ActionCodec()
    pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        pools[action_kind(label_action(record, codec))].append(record)
    rng = random.Random(seed)
    queues = []
    for kind in sorted(pools):
        pool = list(pools[kind])
        rng.shuffle(pool)
        queues.append(pool)
    picked: list[dict[str, Any]] = []
    while len(picked) < n and any(queues):
        for pool in queues:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    return picked


def score(vla: Any, records: Iterable[dict[str, Any]]) -> Scores:
    """Each record's prompt answered as the agent answers in play, compared with its recorded action.

    In play the model samples at the official temperature (``Sampling``'s 0.7), so the figures do too,
    seeded frame by frame so that the same adapter always gets the same figures. Greedy decoding would
    measure something play never does: a look-down the person spread over several camera bins loses to
    one long press at the answer's first token, so greedy figures swung from 4/11 to 11/11 look-downs
    over three fine-tunes of one recipe, and one at 8/11 won 10 of 10 trials in the game.
    """
    codec = ActionCodec()
    result = Scores()
    for index, record in enumerate(records):
        user = record["conversations"][:-1]
        images = [prepare_frame(Image.open(io.BytesIO(b))) for b in record["image_bytes"]]
        generation = vla.generate(user, images, Sampling(seed=index), constrained=True)
        predicted = codec.decode(generation.ids)[0]
        result.add(predicted, label_action(record, codec), codec)
    return result


def compare(vla: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A/B: the base model (adapter disabled) against the adapter, on the same records."""
    model = vla.model
    if not hasattr(model, "disable_adapter"):
        raise ValueError("no adapter is loaded to compare against the base")
    with model.disable_adapter():
        base = score(vla, records)
    tuned = score(vla, records)
    table = tuned.table()
    return {
        "samples": len(records),
        "base": base.table(),
        "adapter": table,
        "meanings": {name: row_meaning(name, int(row["n"])) for name, row in table.items()},
        "base_summary": base.summary(),
        "adapter_summary": tuned.summary(),
    }


def format_comparison(result: dict[str, Any]) -> str:
    scored = f", {result['scored']}" if result.get("scored") else ""
    lines = [
        f"held-out frames: {result['samples']} (drawn kind by kind{scored}); accuracy [95% Wilson interval]"
    ]
    lines.append(f"{'':<22}{'base':>22}{'adapter':>22}")
    for name in result["adapter"]:
        cells = []
        for side in ("base", "adapter"):
            r = result[side].get(name)
            cells.append(f"{r['accuracy']:6.1%} [{r['ci_low']:.0%}–{r['ci_high']:.0%}]" if r else "–")
        lines.append(f"{name:<22}{cells[0]:>22}{cells[1]:>22}")
    for side in ("base", "adapter"):
        summary = result.get(f"{side}_summary", {})
        for warning in summary.get("warnings", []):
            lines.append(f"{side}: {warning}")
    return "\n".join(lines)
