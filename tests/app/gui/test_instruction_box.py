"""The instruction box: completion from JarvisVLA's whole library; text outside it allowed and marked."""

from __future__ import annotations

from typing import Any

from app.gui.instruction_box import InstructionBox
from model import tasks
from tests.conftest import shared_path


def test_completion_offers_the_whole_library_and_marks_text_outside_it(qtbot: Any) -> None:
    lib = tasks.load(shared_path("fixtures", "jarvis-vla", "instructions.json"))
    box = InstructionBox()
    qtbot.addWidget(box)
    box.set_library(lib)
    offered = box._model.stringList()
    assert len(offered) == len(lib.all_texts()) and "craft_item:crafting_table" in offered
    assert "Could you craft a crafting table for me?" in offered  # a phrasing beyond the built-in list
    known, sentence = box.verdict("kill_entity:zombie")
    assert known is True and "trained task: kill_entity:zombie" in sentence and "phrasings" in sentence
    box.edit.setText("juggle three pigs")
    assert "not one of the 2605 tasks" in box.status.text() and "sent as typed" in box.status.text()
    sent: list[str] = []
    box.submitted.connect(sent.append)
    box._submit()
    assert sent == ["juggle three pigs"]  # outside the library, still allowed


def test_builtin_list_says_it_is_the_built_in_one(qtbot: Any) -> None:
    box = InstructionBox()
    qtbot.addWidget(box)
    box.set_library(tasks.builtin())
    known, sentence = box.verdict("Mine the oak log.")
    assert known is True and "built-in list" in sentence
    assert "built-in" in box.status.text()  # the empty box shows the library's description
