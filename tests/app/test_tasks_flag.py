"""``--tasks FILE`` reaches the session from ``run`` and ``record`` as from the window, and a library
that cannot be used is said out loud on the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.commands import record, run
from app.commands.connect_args import open_session, settings_from
from tests.conftest import shared_path


@pytest.fixture(autouse=True)
def _own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JARVIS_PLAY_CONFIG_DIR", str(tmp_path / "config"))


def parse(module: object, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers())  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def test_run_and_record_take_the_task_file() -> None:
    library = shared_path("fixtures", "jarvis-vla", "instructions.json")
    for module, verb in ((run, "run"), (record, "record")):
        extra = ("--out", "episodes") if verb == "record" else ()
        args = parse(module, verb, "--fake", "--tasks", str(library), *extra)
        settings = settings_from(args)
        assert settings.tasks_file == str(library)
    args = parse(run, "run", "--fake", "--no-listen", "--tasks", str(library))
    with open_session(args, settings_from(args)) as session:
        assert len(session.tasks) == 2605 and not session.tasks.builtin and session.tasks_problem is None
        assert session.set_instruction("craft_item:crafting_table") == "Craft a crafting table."


def test_an_unusable_task_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "instructions.json"
    bad.write_text("not json")
    args = parse(run, "run", "--fake", "--no-listen", "--tasks", str(bad))
    with open_session(args, settings_from(args)) as session:
        assert session.tasks.builtin
    out = capsys.readouterr().out
    assert f"the task file {bad} is not JSON" in out and "built-in common tasks" in out
