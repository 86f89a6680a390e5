"""How good is a policy on held-out ticks: per-group action accuracy with confidence intervals.

An action is decoded greedily under the action grammar, exactly as the live policy decodes it, and
compared group by group with the recorded label (hotbar, fore/back, left/right, sprint/sneak, use,
drop, attack, jump, pitch bin, yaw bin) and as a whole. Wilson intervals keep small validation sets
honest: 9 of 10 right is "somewhere between 60% and 98%", not "90%".
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from model.actions.codec import ActionCodec
from model.actions.tokens import ids_from_text

GROUP_NAMES = ("hotbar", "fore_back", "left_right", "sprint_sneak", "use", "drop", "attack", "jump")
REPORTED = (*GROUP_NAMES, "pitch", "yaw", "action")


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Accuracy:
    correct: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPORTED, 0))
    total: int = 0

    def add(self, predicted: list[int], label: list[int]) -> None:
        self.total += 1
        for g, name in enumerate(GROUP_NAMES):
            self.correct[name] += predicted[g] == label[g]
        self.correct["pitch"] += predicted[10] == label[10]
        self.correct["yaw"] += predicted[11] == label[11]
        self.correct["action"] += predicted == label

    def rate(self, name: str = "action") -> float:
        return self.correct[name] / self.total if self.total else 0.0

    def table(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "accuracy": self.rate(name),
                "ci_low": wilson(self.correct[name], self.total)[0],
                "ci_high": wilson(self.correct[name], self.total)[1],
            }
            for name in REPORTED
        }


def label_groups(record: dict[str, Any], codec: ActionCodec) -> list[int]:
    answer = record["conversations"][-1]["content"][0]["text"]
    return codec.joint_to_groups(codec.ids_to_joints(ids_from_text(answer))[0])


def action_accuracy(vla: Any, records: Iterable[dict[str, Any]]) -> Accuracy:
    """Greedy constrained decoding on each record's prompt, compared with its recorded action."""
    from PIL import Image

    from model.image import prepare_frame
    from model.vla import Sampling

    codec = ActionCodec()
    result = Accuracy()
    greedy = Sampling(temperature=0)
    for record in records:
        user = record["conversations"][:-1]
        images = [prepare_frame(Image.open(io.BytesIO(b))) for b in record["image_bytes"]]
        generation = vla.generate(user, images, greedy, constrained=True)
        predicted = codec.joint_to_groups(codec.ids_to_joints(generation.ids)[0])
        result.add(predicted, label_groups(record, codec))
    return result


def compare(vla: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A/B: the base model (adapter disabled) against the adapter, on the same records."""
    model = vla.model
    if not hasattr(model, "disable_adapter"):
        raise ValueError("no adapter is loaded to compare against the base")
    with model.disable_adapter():
        base = action_accuracy(vla, records)
    tuned = action_accuracy(vla, records)
    return {"samples": len(records), "base": base.table(), "adapter": tuned.table()}


def format_comparison(result: dict[str, Any]) -> str:
    lines = [
        f"held-out ticks: {result['samples']}; accuracy [95% Wilson interval]",
        f"{'group':<13}{'base':>22}{'adapter':>22}",
    ]
    for name in REPORTED:
        cells = []
        for side in ("base", "adapter"):
            row = result[side][name]
            cells.append(f"{row['accuracy']:6.1%} [{row['ci_low']:.0%}–{row['ci_high']:.0%}]")
        lines.append(f"{name:<13}{cells[0]:>22}{cells[1]:>22}")
    return "\n".join(lines)
