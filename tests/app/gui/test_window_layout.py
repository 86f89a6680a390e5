"""The window beside the game, offscreen: every tab in every control state fits the room a 1366×768 and
a 1920×1080 screen leave beside the demo game, with no text cut off and no panel to scroll; the
window never grows; the tabs come to the front when their buttons say so; one active adapter
everywhere; evaluation trials apart; calm messages. (``test_window_layout_xvfb`` does the same walk
through ``jarvis-play window --tour`` under a real window manager, with screenshots.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import Qt

from app.gui import layout_check
from app.gui.controller import FIGURES_MS
from app.gui.elided import Badge, ElidedLabel
from app.gui.window_state import GAME_GONE
from app.settings import adapters_root, evaluations_root
from tests.app.gui.gui_fixtures import Gui, gui, ready  # noqa: F401  (gui is a fixture)
from tests.recorder.episodes.synth import write_episode

LEFT = Qt.MouseButton.LeftButton
# the window's inside (decorations off) beside the 642×385 demo game under openbox
ROOM = {"1366x768": (720, 740), "1920x1080": (1274, 1052)}
LONG = "20250607-235959-JarvisVLA-Qwen2-VL-7B-round-12"


def _needs_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("recording needs ffmpeg (apt-get install ffmpeg)")


def _library(root: Path) -> None:
    """What a person has after a few rounds: episodes, evaluation trials, adapters with long names."""
    episodes = root / "episodes"
    write_episode(episodes, 3, instruction="Mine the oak log.")
    write_episode(episodes, 3, instruction="Chop down a tree and collect the logs, then craft planks.")
    for _ in range(2):
        write_episode(episodes, 2, instruction="Mine the oak log.", extra={"purpose": "evaluation"})
    for i, held in enumerate(({"train": ["a", "b"], "valid": ["c"], "valid_samples": 40}, {"train": ["a"]})):
        folder = adapters_root_of(root) / f"{LONG}-{i}"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        metrics = [{"step": 120, "action_accuracy": 0.625}] if i == 0 else []
        manifest = {"base_model": "CraftJarvis/JarvisVLA-Qwen2-VL-7B", "steps_done": 120, "episodes": held}
        (folder / "manifest.json").write_text(json.dumps({**manifest, "metrics": metrics}))
    evaluations = root / "evaluations"
    evaluations.mkdir()
    rows = [
        {"run": "r", "adapter": None, "task": "mine_block:oak_log", "successes": 3, "trials": 10},
        {"run": "r", "adapter": str(adapters_root_of(root) / f"{LONG}-0"), "task": "mine_block:oak_log"},
    ]
    rows[1].update(successes=8, trials=10)
    (evaluations / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _result(root: Path) -> Any:
    """A finished evaluation of the base and an adapter with a long name."""
    from app.eval.results import Arm, RunResult, Trial

    arms = [Arm("base"), Arm(f"{LONG}-0", str(adapters_root_of(root) / f"{LONG}-0"))]
    trials = [Trial(i, arms[i % 2].name, i % 3 == 0, 4.0, "judged") for i in range(20)]
    return RunResult(
        "mine_block:oak_log", "", "tiny", "game", 30.0, 10, True, 1, "2025-06-07T12:00", arms, trials
    )


def adapters_root_of(root: Path) -> Path:
    return root / "adapters"


def _problems(window: Any) -> list[str]:
    return [str(f) for f in layout_check.findings(window) if f.kind != "elided"]


def test_every_tab_fits_in_every_state_at_both_screens(qtbot: Any, gui: Gui, tmp_path: Path) -> None:  # noqa: F811
    _needs_ffmpeg()
    _library(tmp_path)
    gui.session.settings.episodes_dir = str(tmp_path / "episodes")
    w, c = gui.window, gui.controller
    w.adapters.attach(
        gui.session, adapters_root(gui.session.settings), evaluations_root(gui.session.settings)
    )
    ready(qtbot, gui, autostart=False)
    controls = w.controls
    w.evaluate.show_result(_result(tmp_path), [])
    seen: dict[str, list[str]] = {}

    def walk(state: str) -> None:
        for size, (width, height) in ROOM.items():
            w.resize(width, height)
            for tab in ("live", "episodes", "finetune", "adapters", "evaluate"):
                w.show_panel(tab)
                qtbot.wait(30)
                assert (w.width(), w.height()) == (width, height), (state, tab, w.size())  # never grows
                assert not w.badge.elided, (state, w.badge.text())
                seen[f"{state} {size} {tab}"] = _problems(w)

    walk("ready")
    qtbot.mouseClick(controls.start, LEFT)
    qtbot.waitUntil(lambda: w.badge.mode == "agent", timeout=5_000)
    c.show_message(GAME_GONE, "error")  # the banner at its fullest: two lines
    walk("agent")
    gui.connector.has_focus = lambda: False  # type: ignore[method-assign]
    qtbot.waitUntil(lambda: w.badge.mode == "waiting", timeout=5_000)
    walk("waiting")
    gui.connector.has_focus = lambda: True  # type: ignore[method-assign]
    qtbot.mouseClick(controls.take_over, LEFT)
    qtbot.waitUntil(lambda: w.badge.mode == "held", timeout=5_000)
    walk("held")
    qtbot.mouseClick(controls.stop, LEFT)
    qtbot.waitUntil(lambda: not gui.session.running, timeout=5_000)
    controls.record.click()
    controls.record_mode.setCurrentIndex(controls.record_mode.findData("teleop"))
    qtbot.mouseClick(controls.start, LEFT)
    qtbot.waitUntil(lambda: w.badge.mode == "teleop" and gui.session.recording_now, timeout=5_000)
    c.show_message(GAME_GONE, "error")
    walk("teleop recording")
    assert w.controls.rec.isVisible()
    bad = {where: found for where, found in seen.items() if found}
    assert not bad, json.dumps(bad, indent=1)
    assert len(seen) == 5 * 2 * 5
    qtbot.mouseClick(controls.stop, LEFT)
    qtbot.waitUntil(lambda: not gui.session.running, timeout=5_000)


def test_the_check_finds_text_that_does_not_fit(qtbot: Any) -> None:
    from PyQt6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

    window = QWidget()
    qtbot.addWidget(window)
    col = QVBoxLayout(window)
    label, button, elided = (
        QLabel("a label that is much too long for its room"),
        QPushButton("Start"),
        ElidedLabel(),
    )
    for widget in (label, button, elided):
        col.addWidget(widget)
    window.resize(600, 200)
    window.show()
    qtbot.waitExposed(window)
    assert layout_check.findings(window) == []
    label.setFixedWidth(60)
    button.setFixedWidth(20)
    elided.setText("a status line far longer than the room it has in this small window")
    window.resize(150, 200)
    qtbot.wait(30)
    kinds = sorted((f.kind, f.widget.split(" ")[0]) for f in layout_check.findings(window))
    assert kinds == [("clipped", "QLabel"), ("clipped", "QPushButton"), ("elided", "ElidedLabel")]
    assert elided.toolTip() == elided.text() and elided.shown().endswith("…")


def test_badge_width_never_follows_its_text(qtbot: Any) -> None:
    badge = Badge()
    qtbot.addWidget(badge)
    widths = set()
    for mode in ("agent", "waiting", "held", "teleop", "stopped"):
        badge.set_mode(mode)
        widths.add((badge.sizeHint().width(), badge.minimumSizeHint().width(), badge.width()))
    assert len(widths) == 1


def test_tabs_come_to_the_front_and_stay(qtbot: Any, gui: Gui, tmp_path: Path) -> None:  # noqa: F811
    _library(tmp_path)
    gui.session.settings.episodes_dir = str(tmp_path / "episodes")
    w = gui.window
    w.adapters.attach(
        gui.session, adapters_root(gui.session.settings), evaluations_root(gui.session.settings)
    )
    w.panel_actions["evaluate"].trigger()  # View → Evaluate
    assert w.panel == "evaluate"
    w.panel_actions["evaluate"].trigger()  # again: it never hides
    assert w.panel == "evaluate" and w.tabs.currentWidget().isVisible()
    w.show_panel("adapters")
    assert {r.name for r in w.adapters.rows} == {f"{LONG}-1", f"{LONG}-0"}
    w.adapters.select(adapters_root(gui.session.settings) / f"{LONG}-0")
    qtbot.mouseClick(w.adapters.evaluate_button, LEFT)  # "Evaluate in play": the Evaluate tab, filled in
    assert w.panel == "evaluate" and w.evaluate.adapters.text().endswith(f"{LONG}-0")
    w.finetune.trained.emit(str(adapters_root(gui.session.settings) / f"{LONG}-1"))  # a fine-tune finished
    assert w.adapters.selected == adapters_root(gui.session.settings) / f"{LONG}-1"


def test_evaluation_trials_are_apart_from_your_episodes(qtbot: Any, gui: Gui, tmp_path: Path) -> None:  # noqa: F811
    _needs_ffmpeg()
    _library(tmp_path)
    gui.session.settings.episodes_dir = str(tmp_path / "episodes")
    w = gui.window
    w.show_panel("episodes")
    panel = w.episodes
    assert panel.list.count() == 2 and "2 evaluation trials hidden" in panel.folder.text()
    panel.show_trials.setChecked(True)
    assert panel.list.count() == 4
    labels = [panel.list.item(i).text() for i in range(4)]
    assert sum(text.startswith("[evaluation trial]") for text in labels) == 2


def test_a_finished_evaluation_is_never_cancelled_again(qtbot: Any, gui: Gui) -> None:  # noqa: F811
    from app.eval.setup import build

    ready(qtbot, gui)
    panel = gui.window.evaluate
    panel.evaluation = build(
        gui.session, "craft_item:stick", [], trials=1, seconds=1.0
    )  # one that ran before
    panel.shutdown()  # the window closes while the agent plays, no evaluation running
    qtbot.wait(200)
    assert gui.session.running and gui.session.mode == "agent"


def test_panic_note_goes_at_start_and_the_offline_notice_is_calm_and_once(
    qtbot: Any,
    gui: Gui,  # noqa: F811
) -> None:
    from app.gui.controller import WindowController
    from app.gui.main_window import MainWindow
    from app.gui.window_state import TASKS_OFFLINE

    ready(qtbot, gui)
    w = gui.window
    gui.controller.panic.activated.emit()
    qtbot.waitUntil(lambda: "panic key" in w.banner.text.text() and w.banner.isVisible(), timeout=5_000)
    qtbot.mouseClick(w.controls.start, LEFT)
    qtbot.waitUntil(lambda: gui.session.mode == "agent", timeout=5_000)
    assert not w.banner.isVisible()  # the stopped run's news went with Start

    problem = (
        "offline? could not download JARVIS-VLA's task library from https://x/instructions.json ([Errno -3])"
    )
    gui.session.tasks_problem = problem + "; completion offers 23 built-in common tasks instead."
    window = MainWindow()
    qtbot.addWidget(window)
    saved: list[Any] = []
    WindowController(window, gui.session, saved.append)
    banner = window.banner
    assert banner.isVisibleTo(window) and banner.level == "info"
    assert "https://" not in banner.text.text() and "Errno" not in banner.text.text()
    assert banner.details.text().startswith(problem) and banner.details_button.isVisibleTo(window)
    assert not banner.details.isVisibleTo(window)
    banner.details_button.click()
    assert banner.details.isVisibleTo(window)
    assert TASKS_OFFLINE in saved[-1].seen_notices
    again = MainWindow()  # the next start, over the saved settings: not again
    qtbot.addWidget(again)
    WindowController(again, gui.session)
    assert not again.banner.isVisibleTo(again)


def test_a_slow_model_is_explained_and_so_is_a_missing_figure(qtbot: Any, gui: Gui, tmp_path: Path) -> None:  # noqa: F811
    from app.finetune_job import FinetuneState

    _needs_ffmpeg()
    gui.session.settings.episodes_dir = str(tmp_path)
    w = gui.window
    w.controls.record.click()
    gui.controller.prepare("scripted-slow", "fake", autostart=True)  # 200 ms an answer, a tick is 50 ms
    qtbot.waitUntil(lambda: gui.session.recording_now, timeout=10_000)
    qtbot.waitUntil(lambda: w.status_panel.slow.isVisible(), timeout=10_000)
    sentence = w.status_panel.slow.text()
    assert "ms an answer" in sentence and "1 tick in " in sentence and "recording" in sentence
    assert "slow" in w.status_panel.values["model_ms"].text()
    qtbot.waitUntil(lambda: "slower than the game" in w.controls.strip.text(), timeout=5_000)
    qtbot.waitUntil(lambda: "This recording is mostly ticks" in w.banner.text.text(), timeout=5_000)
    assert w.banner.level == "note" and "1 tick in " in w.banner.details.text()
    qtbot.mouseClick(w.controls.stop, LEFT)
    qtbot.waitUntil(lambda: not gui.session.running, timeout=10_000)
    # The loop thread queues its `stopped` signal just before it ends; the window handles it on the
    # GUI thread's next turn, which may come after `running` already reads False: wait for that turn.
    # Then the figures timer, which keeps running, must not bring the stopped run's sentence back.
    qtbot.waitUntil(lambda: w.badge.mode == "stopped", timeout=5_000)
    assert not w.status_panel.slow.isVisible()
    qtbot.wait(2 * FIGURES_MS)
    assert not w.status_panel.slow.isVisible() and "slow" not in w.status_panel.values["model_ms"].text()

    # a fine-tune of one episode has no held-out figure: its curve says why instead of a bare dash
    panel = w.finetune
    state = FinetuneState(status="running")
    state.apply({"event": "data", "train": ["e1"], "valid": [], "train_samples": 12, "valid_samples": 0})
    panel._show(state)
    assert panel.accuracy_curve.value_text() == "–" and "single episode" in panel.accuracy_curve.toolTip()
