from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.policies.scripted import ScriptedPolicy

FRAME = np.zeros((360, 640, 3), np.uint8)


def test_from_jsonl_replays_in_order_then_null(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"forward": 1}\n# a comment\n\n{"camera": [1, -2]}\n')
    policy = ScriptedPolicy.from_jsonl(path)
    assert policy.act(FRAME, "x").actions[0]["forward"] == 1
    assert policy.act(FRAME, "x").actions[0]["camera"] == [1.0, -2.0]
    assert policy.exhausted
    assert policy.act(FRAME, "x").actions[0]["forward"] == 0


def test_bad_lines_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"forward": 1}\n{"camera": "left"}\n')
    with pytest.raises(ValueError, match=":2: camera"):
        ScriptedPolicy.from_jsonl(path)
    path.write_text("[1]\n")
    with pytest.raises(ValueError, match=":1: expected a JSON object"):
        ScriptedPolicy.from_jsonl(path)


def test_chunks_and_looping() -> None:
    policy = ScriptedPolicy([{"jump": 1}, {"attack": 1}], loop=True, chunk=3)
    step = policy.act(FRAME, "")
    assert [a["jump"] for a in step.actions] == [1, 0, 1]
    step.actions[0]["jump"] = 0  # callers may mutate what they got
    assert policy.actions[0]["jump"] == 1
