"""The episodes panel on real episodes: list, play back with the overlay, relabel, mark, trash; and the
window's REC tag while a run is recorded, with the new episode showing up in the panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import Qt

from app.gui.episodes_panel import EpisodesPanel
from recorder.episodes.format import read_meta
from recorder.episodes.reader import EpisodeReader
from tests.app.gui.gui_fixtures import Gui, gui, ready  # noqa: F401  (gui is a fixture)
from tests.recorder.episodes.synth import read_tick, write_episode

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def panel(qtbot: Any) -> EpisodesPanel:
    widget = EpisodesPanel()
    widget.resize(500, 700)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def shown_tick(panel: EpisodesPanel) -> int:
    frame = panel.view._frame
    assert frame is not None
    return read_tick(frame)


def test_browse_and_play_back_with_the_overlay(qtbot: Any, panel: EpisodesPanel, tmp_path: Path) -> None:
    long = write_episode(tmp_path, 14, instruction="chop a tree")
    write_episode(tmp_path, 4, instruction="dig down")
    panel.set_root(tmp_path)
    assert panel.list.count() == 2
    assert {panel.list.item(i).text().split(" · ")[-1] for i in range(2)} == {"chop a tree", "dig down"}
    panel.select(long)
    assert shown_tick(panel) == 0 and panel.instruction.text() == "chop a tree"
    overlay = panel.view.overlay
    assert overlay is not None and overlay.badge == "YOU" and overlay.instruction == "chop a tree"
    assert overlay.keys == ()  # synthetic tick 0 walks nowhere; odd ticks hold forward
    qtbot.mouseClick(panel.step_button, LEFT)
    assert shown_tick(panel) == 1 and panel.view.overlay is not None and panel.view.overlay.keys == ("W",)
    assert panel.position.text() == "2 / 14"

    shown: list[int] = []
    panel.view.show_frame = lambda frame, ov, show=panel.view.show_frame: (  # type: ignore[method-assign]
        shown.append(read_tick(frame)),
        show(frame, ov),
    )
    qtbot.mouseClick(panel.play_button, LEFT)
    assert panel.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: panel.play_button.text() == "Play", timeout=5_000)
    assert shown == list(range(2, 14))  # every recorded tick, in order, then it stops at the end
    assert panel.position.text() == "14 / 14" and panel.slider.value() == 13
    panel.seek(5)
    assert shown[-1] == 5


def test_relabel_mark_and_delete_to_the_trash(
    qtbot: Any, panel: EpisodesPanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    root = tmp_path / "episodes"
    keep = write_episode(root, 3)
    target = write_episode(root, 5, instruction="chop a tree")
    messages: list[tuple[str, str]] = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    panel.set_root(root)
    panel.select(target)

    qtbot.mouseClick(panel.success_button, LEFT)
    qtbot.waitUntil(lambda: not panel.jobs, timeout=5_000)
    assert read_meta(target).outcome == "success" and messages[-1][1] == "info"
    qtbot.mouseClick(panel.failure_button, LEFT)
    qtbot.waitUntil(lambda: read_meta(target).outcome == "failure", timeout=5_000)
    # the list shows the new outcome once the GUI thread has refreshed it
    qtbot.waitUntil(lambda: "failure" in panel.list.currentItem().text(), timeout=5_000)

    panel.instruction.setText("mine the oak log")
    qtbot.mouseClick(panel.instruction_button, LEFT)
    qtbot.waitUntil(lambda: read_meta(target).first_instruction == "mine the oak log", timeout=5_000)
    qtbot.waitUntil(lambda: not panel.jobs, timeout=5_000)
    lines = EpisodeReader(target).lines
    assert len(lines) == 5 and {line["instruction"] for line in lines} == {"mine the oak log"}
    assert panel.current is not None and panel.current.folder == target  # still selected after refresh

    panel.confirm = lambda _parent, _question: False
    qtbot.mouseClick(panel.delete_button, LEFT)
    assert target.is_dir() and panel.list.count() == 2
    asked: list[str] = []
    panel.confirm = lambda _parent, question: asked.append(question) is None
    qtbot.mouseClick(panel.delete_button, LEFT)
    qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=5_000)
    assert target.name in asked[0]
    assert not target.exists() and keep.is_dir()
    trashed = tmp_path / "home" / ".local" / "share" / "Trash" / "files" / target.name
    assert (trashed / "meta.json").is_file() and "trash" in messages[-1][0]


def test_rec_tag_while_recording_and_the_episode_in_the_panel(
    qtbot: Any,
    gui: Gui,  # noqa: F811
    tmp_path: Path,
) -> None:
    controls, window = gui.window.controls, gui.window
    gui.session.settings.episodes_dir = str(tmp_path)
    controls.record.setChecked(True)  # the Record button: record from the next Start
    ready(qtbot, gui, autostart=False)
    assert not controls.rec.isVisible()
    qtbot.mouseClick(controls.start, LEFT)
    qtbot.waitUntil(controls.rec.isVisible, timeout=5_000)
    qtbot.waitUntil(lambda: len(gui.connector.applied) > 10, timeout=5_000)
    qtbot.mouseClick(controls.stop, LEFT)
    qtbot.waitUntil(lambda: not controls.rec.isVisible() and not gui.session.running, timeout=5_000)

    window.panel_actions["episodes"].trigger()  # View > Episodes
    qtbot.waitUntil(lambda: window.episodes.list.count() == 1, timeout=10_000)
    row = window.episodes.rows[0]
    assert row.meta is not None and row.meta.frame_count > 10 and row.folder.parent == tmp_path
