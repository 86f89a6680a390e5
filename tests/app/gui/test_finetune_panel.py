"""The fine-tune panel end to end on the tiny model: train (a real child process), watch the bar and
the curves, hot-swap the new adapter into a session's running model and back, compare on held-out
episodes; and the plain refusal for a server model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import Qt

from app.finetune_job import FinetuneState
from app.gui.finetune_panel import PROGRESS_MAX, FinetunePanel
from app.session import Session
from app.settings import Settings
from model.policies.local import LocalPolicy
from model.policies.scripted import ScriptedPolicy
from tests.recorder.episodes.synth import write_episode

LEFT = Qt.MouseButton.LeftButton


@pytest.mark.slow  # trains in a child process: a minute on a CPU
def test_train_watch_swap_and_compare(
    qtbot: Any, tmp_path: Path, tiny_model_dir: Path, tiny_vla: Any
) -> None:
    from peft import PeftModel

    train_dir, held_dir, out = tmp_path / "episodes", tmp_path / "held-out", tmp_path / "adapter"
    for _ in range(3):
        write_episode(train_dir, 6)
    write_episode(held_dir, 4)
    session = Session(
        Settings(model="tiny-local", episodes_dir=str(train_dir)),
        policy_factory=lambda _spec, _s: LocalPolicy(tiny_vla),
        listen=False,
    )
    session.load_model("tiny-local")
    panel = FinetunePanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.template = dataclasses.replace(
        panel.template, batch_size=1, eval_every=1, eval_samples=1, device="cpu"
    )  # seconds on a CPU
    panel.attach(session)
    messages: list[tuple[str, str]] = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    states: list[FinetuneState] = []
    panel._state.connect(states.append)
    try:
        assert panel.episodes.item(0).text() == str(train_dir)  # the recordings folder by default
        assert panel.active.text() == "Active: the base model"
        assert panel.use_button.isEnabled() and not panel.base_button.isEnabled()
        panel.model.setText(str(tiny_model_dir))
        panel.out.setText(str(out))
        panel.steps.setValue(2)
        qtbot.mouseClick(panel.start_button, LEFT)
        qtbot.waitUntil(lambda: panel.cancel_button.isEnabled(), timeout=2_000)
        assert not panel.start_button.isEnabled()
        qtbot.waitUntil(lambda: panel.state.finished, timeout=90_000)
        assert panel.state.status == "done", panel.state
        assert any(0 < s.fraction < 1 for s in states)  # the bar moved through the run, not only at the end
        assert panel.progress.value() == PROGRESS_MAX
        assert [x for x, _ in panel.loss_curve.points] == [1.0, 2.0]
        assert [x for x, _ in panel.accuracy_curve.points] == [0.0, 1.0, 2.0]
        assert panel.eta.text() == f"done: adapter in {out}"
        assert messages[-1][1] == "info" and str(out) in messages[-1][0]
        assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()

        panel.pick_folder = lambda _parent, _title: str(out)
        qtbot.mouseClick(panel.use_button, LEFT)
        qtbot.waitUntil(lambda: panel.base_button.isEnabled(), timeout=20_000)
        assert session.adapter == str(out) and isinstance(tiny_vla.model, PeftModel)
        assert str(out) in panel.active.text()
        qtbot.mouseClick(panel.base_button, LEFT)
        qtbot.waitUntil(lambda: panel.active.text() == "Active: the base model", timeout=20_000)
        assert session.adapter is None and not isinstance(tiny_vla.model, PeftModel)

        assert panel.compare_adapter.text() == str(out)  # filled in when training finished
        panel.held_out.setText(str(held_dir))
        qtbot.mouseClick(panel.compare_button, LEFT)
        qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=60_000)
        groups = [panel.table.item(i, 0).text() for i in range(panel.table.rowCount())]
        assert "action" in groups and "attack" in groups
        action = groups.index("action")
        assert "%" in panel.table.item(action, 1).text() and "–" in panel.table.item(action, 2).text()
        assert "held-out ticks" in panel.compare_status.text()

        # pointed at training data: a clear warning (the comparison still runs)
        panel.held_out.setText(str(train_dir))
        qtbot.mouseClick(panel.compare_button, LEFT)
        assert any("trained on" in text and level == "error" for text, level in messages), messages
        qtbot.waitUntil(lambda: panel.compare_run is None, timeout=60_000)
        # no held-out folder given: the episodes the run itself kept aside (split by episode)
        panel.table.setRowCount(0)
        panel.held_out.setText("")
        qtbot.mouseClick(panel.compare_button, LEFT)
        assert "1 episodes its run held out" in panel.compare_status.text()
        qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=60_000)

        # a second Start never overwrites the finished adapter: a new folder named by time and base
        finished_at = (out / "adapter_config.json").stat().st_mtime_ns
        assert not panel.resume_button.isEnabled()  # nothing unfinished to resume
        qtbot.mouseClick(panel.start_button, LEFT)
        second = Path(panel.out.text())
        assert second != out and second.parent == out.parent and second.name.endswith(tiny_model_dir.name)
        done = lambda: panel.state.status == "done" and panel.state.out == str(second)  # noqa: E731
        qtbot.waitUntil(done, timeout=90_000)
        assert (out / "adapter_config.json").stat().st_mtime_ns == finished_at
        assert (second / "adapter_config.json").is_file()
    finally:
        if tiny_vla.adapter is not None:  # the VLA is shared by the whole test session
            tiny_vla.unload_adapter()
        session.close()


def test_swapping_is_refused_in_words_for_a_server_model(qtbot: Any, tmp_path: Path) -> None:
    session = Session(Settings(model="http://127.0.0.1:9"), listen=False)
    session.policy, session.model_spec = ScriptedPolicy([{}]), "http://127.0.0.1:9"
    panel = FinetunePanel()
    qtbot.addWidget(panel)
    panel.attach(session)
    assert "server" in panel.swap_note.text() and not panel.swap_note.isHidden()
    assert not panel.use_button.isEnabled() and not panel.base_button.isEnabled()
    assert panel.model.text() == ""  # a server URL is no base to fine-tune
    messages: list[tuple[str, str]] = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    qtbot.mouseClick(panel.start_button, LEFT)
    assert messages and messages[-1][1] == "error" and "server URL" in messages[-1][0]
    assert panel.job is None
