"""The everyday flows of issue 14, offscreen on the fake game with a scripted model: who is in
control, recording you can trust, errors and exits, and a window that fits beside the game."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import Qt

from app.runtime.takeover import Control, ControlConfig, Mode
from recorder.input.events import InputEvent
from tests.app.gui.gui_fixtures import Gui, gui, ready  # noqa: F401  (gui is a fixture)

LEFT = Qt.MouseButton.LeftButton


def key(kind: str, name: str, t: float | None = None) -> InputEvent:
    return InputEvent(kind=kind, time=time.monotonic() if t is None else t, key=f"key.keyboard.{name}")


def _applied(g: Gui) -> int:
    return len(g.connector.applied)


def _needs_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("recording needs ffmpeg (apt-get install ffmpeg)")


# ----- who is in control ------------------------------------------------------------------------
def test_take_over_holds_until_hand_back_unless_quiet_resume_is_chosen() -> None:
    clock = [0.0]
    for quiet_resume, after in ((False, Mode.HUMAN), (True, Mode.AGENT)):
        config = ControlConfig(resume_after_s=1.0, takeover_quiet_resume=quiet_resume)
        control = Control(config, lambda: None, clock=lambda: clock[0])
        control.take_over("button")
        assert control.held
        control.on_input(key("key_down", "w", clock[0]))
        control.on_input(key("key_up", "w", clock[0]))
        clock[0] += 5.0
        assert control.update() is after
    control.resume()
    assert control.mode is Mode.AGENT and not control.held
    # touching the game (no button) still ends with the quiet time, as before
    control.on_input(key("key_down", "w", clock[0]))
    control.on_input(key("key_up", "w", clock[0]))
    assert control.mode is Mode.HUMAN and not control.held
    clock[0] += 5.0
    assert control.update() is Mode.AGENT


def test_take_over_keeps_control_and_the_badge_says_so(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    gui.session.settings.resume_after_s = 0.3
    ready(qtbot, gui)
    controls = gui.window.controls
    qtbot.mouseClick(controls.take_over, LEFT)
    gui.session._on_input(key("key_down", "w"))  # the person plays in the game
    gui.session._on_input(key("key_up", "w"))
    qtbot.wait(900)  # three times the quiet time
    assert gui.session.mode == "human"
    frozen = _applied(gui)
    qtbot.wait(200)
    assert _applied(gui) == frozen
    assert gui.window.badge.text() == "YOU · until Hand back"
    assert controls.pause.text() != "Resume" and controls.hand_back.isEnabled()
    gui.session._on_input(key("key_down", "f9"))  # the pause key hands back too
    gui.session._on_input(key("key_up", "f9"))
    qtbot.waitUntil(lambda: gui.window.badge.text() == "AGENT", timeout=2_000)
    qtbot.waitUntil(lambda: _applied(gui) > frozen, timeout=2_000)


def test_badge_says_when_the_agent_waits_for_game_focus(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui)
    gui.connector.has_focus = lambda: False  # type: ignore[method-assign]
    qtbot.waitUntil(lambda: gui.window.badge.text() == "AGENT · waiting for focus", timeout=3_000)
    assert gui.window.view.overlay is not None
    assert gui.window.view.overlay.badge == "AGENT · waiting for focus"
    assert any("click into the game" in n for n in gui.window.view.overlay.notes)
    gui.connector.has_focus = lambda: True  # type: ignore[method-assign]
    qtbot.waitUntil(lambda: gui.window.badge.text() == "AGENT", timeout=3_000)


@pytest.mark.parametrize("how", ["stop", "panic"])
def test_no_stale_agent_badge_or_figures_after_stop(qtbot: Any, gui: Gui, how: str) -> None:  # noqa: F811
    ready(qtbot, gui)
    panel = gui.window.status_panel
    qtbot.waitUntil(lambda: panel.values["ticks_per_s"].text() not in ("–", "0.0"), timeout=3_000)
    if how == "stop":
        qtbot.mouseClick(gui.window.controls.stop, LEFT)
    else:
        gui.session._on_input(key("key_down", "f12"))
    qtbot.waitUntil(lambda: gui.window.badge.text() == "STOPPED", timeout=3_000)
    qtbot.wait(600)  # a few refreshes of the figures
    assert panel.values["ticks_per_s"].text() == "–" and panel.values["model_ms"].text() == "–"
    assert "press Start" in panel.values["model_ms"].toolTip()  # a dash says why
    assert gui.window.view.overlay is not None and gui.window.view.overlay.badge == "STOPPED"


def test_our_own_windows_are_never_a_takeover(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    from app.gui.settings_dialog import SettingsDialog

    ready(qtbot, gui)
    own = gui.controller.state.own_input
    assert gui.session.ignore_input == own  # wired
    g = gui.window.frameGeometry()
    gui.controller._refresh_own_rects()
    inside = InputEvent("button_down", time.monotonic(), "key.mouse.left", x=g.x() + 5, y=g.y() + 5)
    outside = InputEvent("button_down", time.monotonic(), "key.mouse.left", x=g.right() + 50, y=g.y() + 5)
    assert own(inside) and not own(outside)
    dialog = SettingsDialog(gui.session.settings, gui.window)  # a second window of ours
    qtbot.addWidget(dialog)
    dialog.move(g.right() + 20, g.y())
    dialog.show()
    qtbot.waitExposed(dialog)
    gui.controller._refresh_own_rects()
    assert own(outside)  # now inside the dialog
    gui.session._on_input(outside)  # through the session: clicking our dialog changes nothing
    assert gui.session.mode == "agent"
    dialog.close()


# ----- recording you can trust ------------------------------------------------------------------
def test_settings_ok_never_switches_recording_off(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    from app.gui.settings_dialog import SettingsDialog

    ready(qtbot, gui, autostart=False)
    gui.window.controls.record.click()
    assert gui.session.recording
    dialog = SettingsDialog(gui.session.settings, gui.window)
    qtbot.addWidget(dialog)
    dialog.tick_hz.setValue(10)
    gui.controller.apply_settings(dialog.result_settings())
    assert gui.session.recording and gui.window.controls.record.isChecked()
    assert gui.saved[-1].record


def test_teleop_records_only_the_person(qtbot: Any, gui: Gui, tmp_path: Path) -> None:  # noqa: F811
    _needs_ffmpeg()
    from recorder.episodes.format import list_episodes, read_meta

    gui.session.settings.episodes_dir = str(tmp_path)
    ready(qtbot, gui, autostart=False)
    controls = gui.window.controls
    controls.record_mode.setCurrentIndex(controls.record_mode.findData("teleop"))
    assert gui.session.settings.record_mode == "teleop"
    controls.record.click()
    qtbot.mouseClick(controls.start, LEFT)
    qtbot.waitUntil(lambda: gui.session.mode == "human", timeout=3_000)
    assert gui.window.badge.text() == "YOU · only you play"
    assert not controls.hand_back.isEnabled() and not controls.take_over.isEnabled()
    assert gui.window.recording_strip.isVisible() and gui.window.windowTitle().startswith("● REC")
    qtbot.wait(500)
    assert gui.connector.applied == []  # nothing injected: the person plays
    qtbot.mouseClick(controls.stop, LEFT)
    qtbot.waitUntil(lambda: "Saved episode" in gui.window.banner.text.text(), timeout=15_000)
    assert not gui.window.recording_strip.isVisible()
    (episode,) = list_episodes(tmp_path)
    assert episode.name in gui.window.banner.text.text() and " s)" in gui.window.banner.text.text()
    meta = read_meta(episode)
    assert meta.mode == "teleop"
    from app.runtime.recording import app_version

    assert meta.app_version == app_version() and meta.app_version


def test_save_key_in_the_game_saves_and_is_not_a_takeover(qtbot: Any, gui: Gui, tmp_path: Path) -> None:  # noqa: F811
    _needs_ffmpeg()
    gui.session.settings.episodes_dir = str(tmp_path)
    ready(qtbot, gui)
    qtbot.waitUntil(lambda: _applied(gui) > 20, timeout=5_000)
    gui.controller.state.active = False  # the game has keyboard focus, not one of our windows
    gui.session._on_input(key("key_down", "f8"))  # pressed in the game: the window never sees it
    gui.session._on_input(key("key_up", "f8"))
    assert gui.session.mode == "agent"  # saving is not taking over
    qtbot.waitUntil(lambda: "Saved episode" in gui.window.banner.text.text(), timeout=15_000)
    assert gui.session.mode == "agent"


# ----- errors and exits -------------------------------------------------------------------------
def test_empty_instruction_is_refused_visibly(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui)
    box = gui.window.instruction
    before = gui.session.instruction
    box.edit.setText("   ")
    qtbot.keyClick(box.edit, Qt.Key.Key_Return)
    assert "Type an instruction first" in box.status.text()
    assert gui.session.instruction == before


def test_game_gone_mid_run_disables_start_until_a_game_is_chosen(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    from app.games.desktop import GameWindowGone
    from app.gui.window_state import GAME_GONE

    ready(qtbot, gui)

    def gone() -> Any:
        raise GameWindowGone("the game window 0x1 is gone")

    gui.connector.observe = gone  # type: ignore[method-assign]
    qtbot.waitUntil(lambda: gui.window.banner.text.text() == GAME_GONE, timeout=5_000)
    assert "Traceback" not in gui.window.banner.text.text()
    qtbot.waitUntil(lambda: gui.session.mode == "stopped", timeout=3_000)
    qtbot.wait(300)
    assert not gui.window.controls.start.isEnabled()
    gui.controller.start()  # even if called: refused in words
    assert not gui.session.running
    gui.window.game_picker.kind.setCurrentIndex(gui.window.game_picker.kind.findData("fake"))
    qtbot.mouseClick(gui.window.game_picker.open, LEFT)
    qtbot.waitUntil(lambda: gui.window.controls.start.isEnabled(), timeout=5_000)


def test_without_a_game_the_view_says_so(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    from app.gui.window_state import NO_GAME

    gui.controller.prepare("scripted-a", "window:no-such-game-window-jp14")  # a game that cannot open
    qtbot.waitUntil(lambda: not gui.controller.jobs, timeout=10_000)
    assert gui.session.game is None
    assert gui.window.view.placeholder == NO_GAME
    assert gui.controller.errors and not gui.window.controls.start.isEnabled()


def test_a_missing_hf_id_offline_speaks_window(qtbot: Any, gui: Gui, monkeypatch: Any) -> None:  # noqa: F811
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ready(qtbot, gui, autostart=False)
    gui.window.model_picker.set_spec("nobody-here/no-such-model-jp14")
    qtbot.mouseClick(gui.window.model_picker.load, LEFT)
    qtbot.waitUntil(lambda: bool(gui.controller.errors), timeout=20_000)
    text = gui.window.banner.text.text()
    assert "no-such-model-jp14" in text and "--model" not in text
    assert "Folder…" in text


def test_really_quit_while_recording(qtbot: Any, gui: Gui, tmp_path: Path) -> None:  # noqa: F811
    _needs_ffmpeg()
    gui.session.settings.episodes_dir = str(tmp_path)
    ready(qtbot, gui, autostart=False)
    gui.window.controls.record.click()
    qtbot.mouseClick(gui.window.controls.start, LEFT)
    qtbot.waitUntil(lambda: gui.session.recording_now, timeout=5_000)
    asked: list[str] = []
    gui.controller.confirm = lambda _parent, question: asked.append(question) or False
    gui.window.quit_action.trigger()  # File → Quit
    assert asked and asked[0].startswith("Really quit?") and "recorded" in asked[0]
    assert gui.window.isVisible() and gui.session.running  # "No": nothing stopped
    gui.controller.confirm = lambda _parent, _question: True
    gui.window.quit_action.trigger()
    qtbot.waitUntil(lambda: not gui.window.isVisible(), timeout=5_000)
    qtbot.waitUntil(lambda: not gui.session.running, timeout=10_000)


def test_help_links_the_readme_sections_that_exist(gui: Gui) -> None:  # noqa: F811
    from app.gui.main_window import README, slug

    headings = [line[3:] for line in README.read_text().splitlines() if line.startswith("## ")]
    actions = gui.window.help_actions
    assert [a.text() for a in actions] == headings
    for action in actions:
        url = action.data()
        assert url.toLocalFile() == str(README) and url.fragment() == slug(action.text())
    assert slug("Episodes and fine-tuning") == "episodes-and-fine-tuning"


def test_the_game_picker_never_lists_our_windows(gui: Gui) -> None:  # noqa: F811
    from app.gui.pickers import game_windows

    titles = [
        "Minetest 5.6.1",
        "jarvis-play",
        "● REC · jarvis-play",
        "Settings · jarvis-play",
        "Minecraft 1.16.5",
    ]
    assert game_windows(titles) == ["Minetest 5.6.1", "Minecraft 1.16.5"]


# ----- beside the game --------------------------------------------------------------------------
def test_tabs_never_widen_the_window(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    w = gui.window
    w.resize(700, 700)  # about what a 1366×768 screen leaves beside the 640×360 demo game
    qtbot.wait(50)
    assert w.width() == 700 and w.minimumSizeHint().width() <= 700
    for name in ("episodes", "finetune", "adapters", "evaluate"):
        w.show_panel(name)
        qtbot.wait(50)
        assert w.width() == 700 and w.height() == 700, (name, w.size())
        assert w.minimumSizeHint().width() <= 700 and w.minimumSizeHint().height() <= 700


def test_preview_before_start_and_the_active_adapter(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    ready(qtbot, gui, autostart=False)
    qtbot.waitUntil(lambda: gui.window.view.frames_shown > 2, timeout=3_000)  # the game, before Start
    assert not gui.session.running
    assert gui.window.status_panel.values["adapter"].text() == "none (base model)"


def test_placement_beside_the_game() -> None:
    from app.gui.placement import inside, overlap, plan

    for screen in ((0, 0, 1366, 768), (0, 0, 1920, 1080), (0, 0, 2560, 1440)):
        demo = plan(screen, (400, 300, 642, 385), own_game=True)
        assert demo.game_to == (0, 0) and not demo.overlaps
        assert inside(demo.window, screen) and not overlap(demo.window, (0, 0, 642, 385))
        game = (screen[2] - 660, 0, 660, 500)  # a foreign game on the right: it stays, we go left
        foreign = plan(screen, game)
        assert not foreign.overlaps and foreign.game_to is None
        assert inside(foreign.window, screen) and not overlap(foreign.window, game)
    # a saved position is kept when it fits and stays clear of the game; else a new one
    assert plan((0, 0, 1920, 1080), (0, 0, 642, 385), saved=(700, 50, 900, 900)).window == (700, 50, 900, 900)
    assert plan((0, 0, 1920, 1080), (0, 0, 642, 385), saved=(100, 50, 900, 900)).window != (100, 50, 900, 900)
    # a game filling the screen leaves no room: said, not hidden
    assert plan((0, 0, 1366, 768), (0, 0, 1366, 768)).overlaps


def test_position_size_and_panels_are_remembered(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    from app.gui.controller import WindowController
    from app.gui.main_window import MainWindow

    gui.window.resize(820, 640)
    gui.window.show_panel("finetune")
    qtbot.wait(50)
    frame = gui.window.frameGeometry()
    assert gui.session.settings.window_geometry == f"{frame.x()},{frame.y()},{frame.width()},{frame.height()}"
    gui.window.close()
    saved = gui.saved[-1]
    assert saved.window_panels == "finetune"
    assert saved.window_geometry == f"{frame.x()},{frame.y()},{frame.width()},{frame.height()}"
    # a new window over the saved settings opens the same panel
    window = MainWindow()
    qtbot.addWidget(window)
    gui.session.settings = saved
    WindowController(window, gui.session)
    window.show()
    assert window.panel == "finetune" and window.pages["finetune"].isVisible()
