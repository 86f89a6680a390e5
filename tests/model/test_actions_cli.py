"""`jarvis-play actions encode|decode` as a user runs it: a real subprocess reading stdin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from model.actions.codec import ActionCodec


def run(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "actions", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_encode_stream() -> None:
    lines = [{"forward": 1, "attack": 1, "camera": [5, -2]}, {}, {"inventory": 1}]
    result = run(["encode"], "\n".join(json.dumps(x) for x in lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert out[0]["ids"] == [151835, 151848, 151861, 151884, 151892, 151836]
    assert out[0]["text"].startswith("<|reserved_special_token_178|><|reserved_special_token_191|>")
    assert out[1]["ids"] == out[2]["ids"] == [151835, 151876, 151897, 151836]


def test_decode_stream_and_pretty() -> None:
    lines = [
        '{"ids": [151835, 151848, 151861, 151884, 151892, 151836]}',
        '{"ids": [1, 2, 3]}',
        '{"ids": [151835, 151848, 151876, 151897, 151836, 151835, 151861, 151876, 151898, 151836]}',
    ]
    result = run(["decode"], "\n".join(lines))
    out = [json.loads(x)["actions"] for x in result.stdout.splitlines()]
    assert [len(a) for a in out] == [1, 1, 2]
    assert out[0][0]["forward"] == 1 and out[0][0]["camera"][0] == pytest.approx(5.2114, abs=1e-4)
    assert len(out[1][0]) == 21 and not any(v for k, v in out[1][0].items() if k != "camera")
    pretty = run(["decode", "--pretty"], lines[0]).stdout.strip()
    assert pretty == "attack + forward, look 5.2° down, 1.8° left"


def test_bad_lines_are_reported_and_keep_alignment() -> None:
    result = run(["encode"], '{"forward": 1}\nnot json\n{"forward": "x"}\n{"back": 1}\n')
    assert result.returncode == 1
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(out) == 4 and "error" in out[1] and "error" in out[2] and out[3]["ids"][1] == 151849
    assert "line 2" in result.stderr and "line 3" in result.stderr


def test_thousands_of_lines_round_trip(tmp_path) -> None:
    import random

    rng = random.Random(1)
    codec = ActionCodec()
    envs = [
        {
            "forward": rng.randint(0, 1),
            "attack": rng.randint(0, 1),
            f"hotbar.{rng.randint(1, 9)}": 1,
            "camera": [rng.uniform(-12, 12), rng.uniform(-12, 12)],
        }
        for _ in range(5000)
    ]
    source = tmp_path / "actions.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in envs))
    encoded = subprocess.run(
        [sys.executable, "-m", "app.cli", "actions", "encode", str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    ids = [json.loads(x)["ids"] for x in encoded.stdout.splitlines()]
    assert ids == [codec.encode(e) for e in envs]
    decoded = run(["decode"], "".join(json.dumps({"ids": i}) + "\n" for i in ids))
    actions = [json.loads(x)["actions"][0] for x in decoded.stdout.splitlines()]
    assert [codec.encode(a) for a in actions] == ids
