"""The task library: JARVIS-VLA's instructions.json, completion, and "may not follow" marking."""

from __future__ import annotations

import json
from pathlib import Path

from model import tasks
from tests.conftest import shared_path


def _real() -> tasks.TaskLibrary:
    return tasks.load(shared_path("fixtures", "jarvis-vla", "instructions.json"))


def test_real_library_keys_and_phrasings() -> None:
    lib = _real()
    assert len(lib) == 2605 and not lib.builtin
    assert lib.is_known("mine_block:oak_log") and lib.is_known("kill_entity:zombie")
    phrase = lib.tasks["kill_entity:zombie"][0]
    assert lib.task_of(phrase.upper() + "  ") == "kill_entity:zombie"  # case and spacing do not matter
    assert lib.prompt_for("kill_entity:zombie") == phrase
    assert not lib.is_known("build a rocket to the moon")
    assert lib.prompt_for("build a rocket to the moon") == "build a rocket to the moon"


def test_completion_prefers_keys_that_start_with_the_text() -> None:
    lib = _real()
    found = lib.complete("mine_block:oak")
    assert found and found[0].text.startswith("mine_block:oak")
    assert "mine_block:oak_log" in [c.text for c in found]
    assert all(c.key.startswith("mine_block:") for c in found if c.text.startswith("mine_block:"))
    assert lib.complete("") == []
    texts = lib.all_texts()
    assert len(texts) == len(set(texts)) and "craft_item:crafting_table" in texts


def test_builtin_list_when_no_file(tmp_path: Path) -> None:
    lib, problem = tasks.find(None, str(tmp_path))
    assert lib.builtin and problem is None
    assert "built-in" in lib.description
    assert lib.prompt_for("mine_block:oak_log") == "Mine the oak log."


def test_found_in_the_checkpoint_folder_and_bad_files_reported(tmp_path: Path) -> None:
    library = {"pickup:apple": {"instruct": ["Pick up an apple."]}}
    (tmp_path / "instructions.json").write_text(json.dumps(library))
    lib, problem = tasks.find(None, str(tmp_path))
    assert problem is None and not lib.builtin and lib.is_known("pick up an apple")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    lib, problem = tasks.find(str(bad), None)
    assert lib.builtin and problem is not None and "JSON object" in problem
