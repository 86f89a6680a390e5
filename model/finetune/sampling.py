"""Which training samples a step sees: each kind of action about equally often.

A person's play is lopsided: one button held for seconds gives a hundred identical labels, while the
mouse moves that matter come in short, uneven bursts spread over many camera bins. Drawn as recorded,
a fine-tune learns the commonest action and calls it done. Drawn so that each kind ('attack', 'look
down', 'forward+jump'...) comes up about equally often, the model has to look at the frame to tell the
kinds apart. Rare kinds are capped (``MAX_BOOST``) so that one stray key press is not replayed a
hundred times.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from model.actions.codec import ActionCodec
from model.actions.tokens import ids_from_text
from model.finetune.kinds import action_kind

MAX_BOOST = 10.0  # a kind is drawn at most this many times more often than as recorded


def record_kind(record: dict[str, Any], codec: ActionCodec | None = None) -> str:
    """The kind of a record's labelled action (its assistant turn)."""
    codec = codec or ActionCodec()
    answer = record["conversations"][-1]["content"][0]["text"]
    return action_kind(codec.decode(ids_from_text(answer))[0])


def kind_weights(records: list[dict[str, Any]]) -> list[float]:
    """A sampling weight per record: 1 / (its kind's count), boosted at most ``MAX_BOOST``× over the
    commonest kind's records."""
    codec = ActionCodec()
    kinds = [record_kind(r, codec) for r in records]
    counts = Counter(kinds)
    top = max(counts.values())
    return [min(top / counts[k], MAX_BOOST) / top for k in kinds]
