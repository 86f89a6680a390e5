"""The window's flows reach the loop: start, pause, take over, instruction, model switch, errors.

pytest-qt, offscreen, on the fake game (a test pattern that records every action applied) with a
scripted policy, so each flow is checked against what the loop really did.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt

from tests.app.gui.gui_fixtures import Gui, gui, ready  # noqa: F401  (gui is a fixture)


def _applied(g: Gui) -> int:
    return len(g.connector.applied)


def test_start_shows_the_game_and_drives_it(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui, autostart=False)
    assert gui.window.controls.start.isEnabled() and not gui.window.controls.pause.isEnabled()
    assert gui.connector.applied == []
    qtbot.mouseClick(gui.window.controls.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gui.window.view.frames_shown >= 10, timeout=5_000)
    assert gui.window.badge.text() == "AGENT"
    assert gui.window.view.overlay is not None and gui.window.view.overlay.badge == "AGENT"
    assert "forward" in gui.connector.presses  # the scripted policy's action reached the game
    # the key task was sent as its trained phrasing, and the overlay shows it
    assert gui.session.loop is not None and gui.session.loop.instruction == "Mine the oak log."
    qtbot.waitUntil(
        lambda: gui.window.status_panel.values["ticks_per_s"].text() not in ("–", "0.0"), timeout=3_000
    )


def test_pause_and_take_over_stop_injection(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui)
    controls = gui.window.controls
    qtbot.waitUntil(lambda: _applied(gui) > 3, timeout=5_000)
    qtbot.mouseClick(controls.pause, Qt.MouseButton.LeftButton)
    assert gui.session.mode == "paused"
    qtbot.waitUntil(lambda: gui.window.badge.text() == "PAUSED", timeout=2_000)
    assert gui.connector.held == frozenset()  # pausing released everything
    frozen = _applied(gui)
    qtbot.wait(300)
    assert _applied(gui) == frozen
    assert controls.pause.text() == "Resume"
    qtbot.mouseClick(controls.pause, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _applied(gui) > frozen + 2, timeout=3_000)

    qtbot.mouseClick(controls.take_over, Qt.MouseButton.LeftButton)
    assert gui.session.mode == "human"
    qtbot.waitUntil(lambda: gui.window.badge.text().startswith("YOU"), timeout=2_000)
    frozen = _applied(gui)
    qtbot.wait(300)
    assert _applied(gui) == frozen and gui.connector.held == frozenset()
    assert gui.session.mode == "human"  # no quiet-time resume without any human input
    # while the person holds control, Pause is not a disguised "Resume": Hand back is the way back
    assert controls.pause.text() == "Pause" and not controls.pause.isEnabled()
    assert controls.hand_back.isEnabled() and not controls.take_over.isEnabled()
    qtbot.mouseClick(controls.hand_back, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gui.session.mode == "agent" and _applied(gui) > frozen, timeout=3_000)
    assert gui.window.badge.text() == "AGENT"

    qtbot.mouseClick(controls.stop, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gui.session.mode == "stopped", timeout=3_000)
    assert gui.connector.held == frozenset()
    qtbot.waitUntil(lambda: controls.start.isEnabled(), timeout=2_000)


def test_new_instruction_reaches_the_next_tick(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui)
    policy = gui.factory.made["scripted-a"][0]
    box = gui.window.instruction
    box.edit.clear()
    qtbot.keyClicks(box.edit, "kill_entity:zombie")
    assert "common task: kill_entity:zombie (built-in list" in box.status.text()
    qtbot.keyClick(box.edit, Qt.Key.Key_Return)
    calls = policy.calls
    qtbot.waitUntil(lambda: policy.calls > calls + 1, timeout=3_000)
    assert policy.instructions[-1] == "Hunt the zombie."  # the key's first phrasing in JarvisVLA's library
    assert "sent as" in box.sent.text()
    assert gui.saved and gui.saved[-1].history[-1] == "kill_entity:zombie"
    # something outside the task list is sent as typed, and marked
    box.edit.clear()
    qtbot.keyClicks(box.edit, "dance on the roof")
    assert "may not follow" in box.status.text()
    qtbot.keyClick(box.edit, Qt.Key.Key_Return)
    calls = policy.calls
    qtbot.waitUntil(lambda: policy.calls > calls + 1, timeout=3_000)
    assert policy.instructions[-1] == "dance on the roof"
    qtbot.keyClick(box.edit, Qt.Key.Key_Up)  # history
    assert box.edit.text() == "dance on the roof"


def test_switching_model_restarts_play_on_the_new_one(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui)
    old = gui.factory.made["scripted-a"][0]
    gui.window.model_picker.set_spec("scripted-b")
    qtbot.mouseClick(gui.window.model_picker.load, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "scripted-b" in gui.factory.made and not gui.controller.jobs, timeout=5_000)
    new = gui.factory.made["scripted-b"][0]
    qtbot.waitUntil(lambda: new.calls > 2, timeout=3_000)
    assert gui.session.mode == "agent" and gui.session.model_spec == "scripted-b"
    assert old._closed.is_set()  # the old model was released
    calls = old.calls
    qtbot.wait(200)
    assert old.calls == calls
    assert gui.window.status_panel.values["model"].text() == "scripted-b"
    assert gui.saved[-1].model == "scripted-b"


def test_errors_are_sentences_in_the_window(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui)
    gui.window.model_picker.set_spec("fail")
    qtbot.mouseClick(gui.window.model_picker.load, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gui.window.banner.isVisible(), timeout=5_000)
    text = gui.window.banner.text.text()
    assert text.startswith("Could not load the model fail:") and "HF id" in text
    assert "Traceback" not in text
    assert gui.session.mode == "agent" and gui.session.model_spec == "scripted-a"  # play goes on
    gui.window.game_picker.kind.setCurrentIndex(gui.window.game_picker.kind.findData("region"))
    gui.window.game_picker.arg.setCurrentText("0,0")
    qtbot.mouseClick(gui.window.game_picker.open, Qt.MouseButton.LeftButton)
    assert "left,top,width,height" in gui.window.banner.text.text()


def test_gui_thread_stays_responsive_while_a_model_loads(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    import threading

    release = threading.Event()
    slow_factory = gui.session.policy_factory

    def slow(spec: str, settings: Any) -> Any:
        release.wait(5)
        return slow_factory(spec, settings)

    gui.session.policy_factory = slow
    ready_job = gui.controller.prepare("scripted-a", "fake")
    qtbot.wait(300)  # the event loop runs while the model "loads"
    assert ready_job.running and gui.window.progress.isVisible()
    assert "Loading model scripted-a" in gui.window.progress_text.text()
    release.set()
    qtbot.waitUntil(lambda: not gui.controller.jobs, timeout=5_000)
    assert not gui.window.progress.isVisible()


def test_settings_dialog_validates_and_saves(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    from app.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(gui.session.settings, gui.window)
    qtbot.addWidget(dialog)
    dialog.tick_hz.setValue(10)
    dialog.panic_key.setText("not-a-key")
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted  # refused: stays open with the reason
    assert "unknown key" in dialog.error.text()
    dialog.panic_key.setText("f11")
    dialog.table.item(0, 1).setText("up")  # forward -> Up arrow
    new = dialog.result_settings()
    assert new.tick_hz == 10 and new.panic_key == "f11" and new.key_bindings == {"forward": "up"}
    gui.controller.apply_settings(new)
    assert gui.saved[-1] is new
    assert "F11" in gui.window.hotkeys.text()
    assert gui.controller.panic.key().toString() == "F11"


def test_switch_to_the_tiny_model_off_the_gui_thread(qtbot: Any, gui: Gui, tiny_model_dir: Any) -> None:  # noqa: F811
    from model.policies.local import LocalPolicy

    ready(qtbot, gui)
    gui.window.model_picker.set_spec(str(tiny_model_dir))
    qtbot.mouseClick(gui.window.model_picker.load, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: gui.session.model_spec == str(tiny_model_dir) and not gui.controller.jobs, timeout=60_000
    )
    assert isinstance(gui.session.policy, LocalPolicy)
    qtbot.waitUntil(lambda: gui.session.stats.figures().model_ms is not None, timeout=20_000)
    assert gui.session.mode == "agent" and not gui.controller.errors


def test_panic_key_in_the_window_stops_everything(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui)
    gui.window.activateWindow()
    qtbot.waitUntil(gui.window.isActiveWindow, timeout=2_000)
    qtbot.keyClick(gui.window, Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: gui.session.mode == "stopped", timeout=3_000)
    assert gui.connector.held == frozenset()
    qtbot.waitUntil(lambda: "panic key" in gui.window.banner.text.text(), timeout=2_000)


def test_record_button_records_the_next_run(qtbot: Any, gui: Gui, tmp_path: Any) -> None:  # noqa: F811
    import shutil

    import pytest

    if shutil.which("ffmpeg") is None:
        pytest.skip("recording needs ffmpeg (apt-get install ffmpeg)")
    from recorder.episodes.format import list_episodes, read_meta

    gui.session.settings.episodes_dir = str(tmp_path)
    ready(qtbot, gui, autostart=False)
    gui.window.controls.record.click()
    assert gui.session.recording
    qtbot.mouseClick(gui.window.controls.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _applied(gui) >= 20, timeout=5_000)
    qtbot.mouseClick(gui.window.controls.stop, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not gui.session.running, timeout=10_000)  # the episode is closed by then
    episodes = list_episodes(tmp_path)
    assert len(episodes) == 1
    meta = read_meta(episodes[0])
    assert meta.status == "complete" and meta.frame_count >= 15 and meta.mode == "corrections"
    assert meta.first_instruction == "Mine the oak log."
