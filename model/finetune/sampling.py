"""Which training samples a step sees: each kind of action about equally often.

A person's play is lopsided: one button held for seconds gives a hundred identical labels, while the
mouse moves that matter come in short, uneven bursts spread over many camera bins. Drawn as recorded,
a fine-tune learns the commonest action and calls it done. Drawn so that each kind ('attack', 'look
down', 'forward+jump'...) comes up about equally often, the model has to look at the frame to tell the
kinds apart.

A rare kind is drawn at most ``MAX_BOOST`` times as often as recorded, because a person's rare kinds
are mostly slips: the hand that grabs the mouse to take over jerks it the wrong way first. In one
minute of corrections three such ticks ('look up', each the first tick of a takeover, with the view in
the sky) were 0.9% of the records; boosted up to 10x they were 6.6% of the draws, the adapter learnt to
look up at the sky where every takeover began, which is where an evaluation starts, and it looked up
for good (0 of 10 in the game; 56 of 60 answers 'look up' on those start frames offline). Boosted at
most 3x (2.3% of draws) the same recording gave 'look down' on 56 of 60, and unboosted 60 of 60. The
kinds a task is made of come within that range of each other (a minute of teleop: 'look down' 491,
'attack' 378), so 3x still evens them out.

Kinds are balanced within each source, never across: a corrections episode holds the person's
corrections and the agent's own play, and the agent (a base model that does not yet know the task)
scatters its few ticks over dozens of kinds. Balanced together, each of those stray kinds would be
drawn as often as the person's 'look down' and 'attack', and the adapter would learn the old agent's
noise. So each source keeps the share of draws its ticks have (a correction counted
``correction_weight`` times, as the records repeat it), and kinds are evened out inside it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from model.actions.codec import ActionCodec
from model.actions.tokens import ids_from_text
from model.finetune.kinds import action_kind

MAX_BOOST = 3.0  # a kind is drawn at most this many times more often than as recorded


def record_kind(record: dict[str, Any], codec: ActionCodec | None = None) -> str:
    """The kind of a record's labelled action (its assistant turn)."""
    codec = codec or ActionCodec()
    answer = record["conversations"][-1]["content"][0]["text"]
    return action_kind(codec.decode(ids_from_text(answer))[0])


def record_source(record: dict[str, Any]) -> str:
    """'correction' for a person's takeover tick, else 'play' (the agent's, or a person's own play)."""
    return "correction" if record.get("phase") == "correction" else "play"


def kind_weights(records: list[dict[str, Any]]) -> list[float]:
    """A sampling weight per record (they sum to 1): within each source, 1 / (its kind's count),
    boosted at most ``MAX_BOOST``× over the source's commonest kind; each source's weights sum to its
    share of the records."""
    codec = ActionCodec()
    keys = [(record_source(r), record_kind(r, codec)) for r in records]
    counts = Counter(keys)
    top: dict[str, int] = defaultdict(int)
    for (source, _kind), n in counts.items():
        top[source] = max(top[source], n)
    raw = [min(top[s] / counts[s, k], MAX_BOOST) for s, k in keys]
    total: dict[str, float] = defaultdict(float)
    for (source, _kind), w in zip(keys, raw, strict=True):
        total[source] += w
    size = Counter(source for source, _kind in keys)
    return [w / total[s] * size[s] / len(records) for (s, _k), w in zip(keys, raw, strict=True)]
