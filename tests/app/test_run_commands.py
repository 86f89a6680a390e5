"""The run / replay / demo verbs end to end on the fake connector (no display needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from app.commands import run
from app.errors import UserError
from model.policies.scripted import ScriptedPolicy


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_run_with_a_scripted_model_on_the_fake_game(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "walk.jsonl"
    script.write_text('{"forward": 1}\n{"forward": 1, "camera": [0, 2]}\n')
    args = parse(
        "run", "--fake", "--model", f"scripted:{script}", "--seconds", "0.5", "--no-listen", "--json"
    )
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 8 <= summary["ticks"] <= 11  # 0.5 s at 20 Hz
    assert summary["injected"] == summary["ticks"]
    assert summary["actions_per_s"] > 5


def test_replay_on_the_fake_game_counts_every_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "a.jsonl"
    script.write_text('{"jump": 1}\n' * 6)
    args = parse("replay", str(script), "--fake", "--no-listen", "--json", "--hz", "100")
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ticks"] == 6 and summary["missed_ticks"] == 0


def test_user_errors_are_plain(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="exactly one of"):
        args = parse("replay", str(tmp_path / "x.jsonl"), "--no-listen")
        (tmp_path / "x.jsonl").write_text("{}\n")
        args.func(args)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:1"):
        args = parse("replay", str(bad), "--fake")
        args.func(args)
    with pytest.raises(UserError, match="unknown key"):
        args = parse("run", "--fake", "--panic-key", "hyper", "--model", "scripted:x")
        args.func(args)


def test_default_demo_without_a_display_plays_the_fake_game(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(run, "DEMO_SECONDS", 0.6)
    monkeypatch.setattr(
        run, "_demo_policy", lambda: (ScriptedPolicy([{"forward": 1}], loop=True), "scripted")
    )
    assert run.default_demo(argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert "a fake game" in out and "model actions/s" in out and "missed ticks" in out
