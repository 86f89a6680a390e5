"""The task library: JARVIS-VLA's instructions.json, completion, and "may not follow" marking."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

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


# ----- where the library comes from: download at first use, the user cache, offline ---------------------
def _fixture() -> Path:
    return shared_path("fixtures", "jarvis-vla", "instructions.json")


def test_builtin_phrasings_are_all_taken_from_the_library() -> None:
    real = json.loads(_fixture().read_text(encoding="utf-8"))
    for key, phrases in tasks.BUILTIN.items():
        assert key in real, key
        assert phrases and all(p in real[key]["instruct"] for p in phrases), key
    assert (
        tasks.builtin().prompt_for("craft_item:crafting_table")
        in real["craft_item:crafting_table"]["instruct"]
    )


def test_the_pinned_upstream_file_is_the_one_the_model_was_evaluated_with() -> None:
    import hashlib

    assert hashlib.sha256(_fixture().read_bytes()).hexdigest() == tasks.UPSTREAM_SHA256
    assert tasks.UPSTREAM_COMMIT in tasks.UPSTREAM_URL and tasks.UPSTREAM_URL.startswith("https://")


def test_downloaded_once_into_the_cache_then_read_from_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "instructions.json"
    lib, problem = tasks.find(source=_fixture().as_uri(), cache=cache)
    assert problem is None and not lib.builtin and lib.source == str(cache)
    assert len(lib) == 2605 and sum(len(p) for p in lib.tasks.values()) == 12534
    assert cache.read_bytes() == _fixture().read_bytes()
    gone = (tmp_path / "nowhere.json").as_uri()  # the source is unreachable now: the cache serves
    again, problem = tasks.find(source=gone, cache=cache)
    assert problem is None and len(again) == 2605
    assert not list(cache.parent.glob(".instructions-*"))  # no temporary file left behind


def test_offline_falls_back_to_the_builtin_list_and_says_so(tmp_path: Path) -> None:
    cache = tmp_path / "instructions.json"
    refused = "http://127.0.0.1:9/instructions.json"  # the discard port: connection refused at once
    lib, problem = tasks.find(source=refused, cache=cache, timeout=5)
    assert lib.builtin and problem is not None
    assert "offline" in problem and refused in problem and "--tasks" in problem and "built-in" in problem
    assert not cache.exists()
    bad = tmp_path / "bad.json"
    bad.write_text("<html>rate limited</html>")
    lib, problem = tasks.find(source=bad.as_uri(), cache=cache)
    assert lib.builtin and problem is not None and "not JSON" in problem and not cache.exists()


def test_downloading_turned_off_gives_the_builtin_list_without_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tasks.SOURCE_ENV, "none")
    assert tasks.download_source() is None
    lib, problem = tasks.find(cache=tmp_path / "never.json")
    assert lib.builtin and problem is None and not (tmp_path / "never.json").exists()
    monkeypatch.setenv(tasks.SOURCE_ENV, "file:///somewhere/instructions.json")
    assert tasks.download_source() == "file:///somewhere/instructions.json"
    monkeypatch.delenv(tasks.SOURCE_ENV)
    assert tasks.download_source() == tasks.UPSTREAM_URL


# ----- phrasings picked the official way -----------------------------------------------------------------
def _official_pick(library: dict, env_prompt: str, rng: random.Random) -> str:
    """JarvisVLA agent_wrapper.py create_instruction, instruction_type "normal", as written there."""
    natural_text = env_prompt.replace("_", " ").replace(":", " ")
    return rng.choice(library.get(env_prompt, {"instruct": [natural_text]})["instruct"])


def test_official_phrasing_draws_exactly_as_the_official_agent() -> None:
    raw = json.loads(_fixture().read_text(encoding="utf-8"))
    lib = _real()
    for key in (
        "craft_item:crafting_table",
        "kill_entity:zombie",
        "craft item crafting_table",
        "mine_block:oak_log",
    ):
        for seed in range(5):
            assert lib.official_prompt(key, random.Random(seed)) == _official_pick(
                raw, key, random.Random(seed)
            )
    picks = {lib.prompt_for("craft_item:crafting_table", random.Random(s)) for s in range(40)}
    assert len(picks) > 3 and picks <= set(raw["craft_item:crafting_table"]["instruct"])
    assert lib.official_prompt("craft_item:no_such_thing") == "craft item no such thing"
    assert lib.prompt_for("build a rocket", random.Random(0)) == "build a rocket"  # outside: as typed


def test_phrasing_policy_draws_anew_at_every_call() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def act(self, frame: object, instruction: str) -> str:
            self.seen.append(instruction)
            return instruction

    lib = _real()
    inner = Recorder()
    policy = tasks.PhrasingPolicy(inner, lib, random.Random(7))
    for _ in range(30):
        policy.act(None, "kill_entity:zombie")
    policy.act(None, "dance in the rain")
    raw = json.loads(_fixture().read_text(encoding="utf-8"))
    rng = random.Random(7)
    assert inner.seen[:30] == [_official_pick(raw, "kill_entity:zombie", rng) for _ in range(30)]
    assert len(set(inner.seen[:30])) > 2 and inner.seen[30] == "dance in the rain"
    assert policy.drawn == inner.seen[:30]
