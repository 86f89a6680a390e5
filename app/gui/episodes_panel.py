"""Browse recorded episodes, play them back with the action overlay, relabel them, trash them.

A thin view over ``recorder.episodes.library``: the list, the player's position and every edit live
there; this widget only shows them. Playback reuses ``GameView`` and ``overlay_for``, so a recorded
tick looks exactly as it looked live: the badge says who was in control, the keycaps and arrow show
the recorded action. A timer paces playback at the recording's 20 fps; each tick decodes one frame
from an ffmpeg pipe (about a millisecond), which the GUI thread can afford. Edits (rewriting a long
actions.jsonl, moving to the trash) run off the GUI thread and report back in the window's banner.
An evaluation's trials (meta "purpose") are the model's judged play, not the person's: they are
hidden unless "Show evaluation trials" is ticked, and the folder line counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.gui.elided import ElidedLabel
from app.gui.game_view import GameView
from app.gui.overlay import overlay_for
from app.gui.panel_jobs import run_job
from recorder.episodes import FPS, library


def ask_yes_no(parent: QWidget, question: str) -> bool:
    answer = QMessageBox.question(parent, "jarvis-play", question)
    return answer == QMessageBox.StandardButton.Yes


class EpisodesPanel(QWidget):
    message = pyqtSignal(str, str)  # (text, level) for the window's banner

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root: Path | None = None
        self.rows: list[library.EpisodeSummary] = []
        self.player: library.Player | None = None
        self.confirm: Callable[[QWidget, str], bool] = ask_yes_no  # replaced in tests
        self.jobs: list[Any] = []

        self.folder = ElidedLabel()
        self.refresh_button = QPushButton("Refresh")
        self.show_trials = QCheckBox("Show evaluation trials")
        self.show_trials.setToolTip("Episodes the Evaluate tab recorded as trials (kept out of training)")
        self.list = QListWidget()
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view = GameView()
        self.view.setMinimumSize(320, 180)
        self.view.clear("Pick an episode to play it back.")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.position = QLabel("–")
        self.play_button = QPushButton("Play")
        self.step_button = QPushButton("Step")
        self.instruction = QLineEdit()
        self.instruction.setPlaceholderText("What the player was asked to do")
        self.instruction_button = QPushButton("Set instruction")
        self.success_button = QPushButton("Mark success")
        self.failure_button = QPushButton("Mark failure")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Moves the episode to the desktop trash")

        head = QHBoxLayout()
        head.addWidget(self.folder, 1)
        head.addWidget(self.show_trials)
        head.addWidget(self.refresh_button)
        transport = QHBoxLayout()
        for w in (self.play_button, self.step_button):
            transport.addWidget(w)
        transport.addWidget(self.slider, 1)
        transport.addWidget(self.position)
        label_row = QHBoxLayout()
        label_row.addWidget(self.instruction, 1)
        label_row.addWidget(self.instruction_button)
        marks = QHBoxLayout()
        for w in (self.success_button, self.failure_button):
            marks.addWidget(w)
        marks.addStretch(1)
        marks.addWidget(self.delete_button)
        col = QVBoxLayout(self)
        col.addLayout(head)
        col.addWidget(self.list, 1)
        col.addWidget(self.view, 2)
        col.addLayout(transport)
        col.addLayout(label_row)
        col.addLayout(marks)

        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / FPS))
        self.timer.timeout.connect(self.step)
        self.refresh_button.clicked.connect(self.refresh)
        self.show_trials.toggled.connect(lambda _on: self.refresh())
        self.list.currentRowChanged.connect(self._selected)
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button.clicked.connect(self.step)
        self.slider.sliderReleased.connect(lambda: self.seek(self.slider.value()))
        self.instruction_button.clicked.connect(self.set_instruction)
        self.instruction.returnPressed.connect(self.set_instruction)
        self.success_button.clicked.connect(lambda: self.set_outcome("success"))
        self.failure_button.clicked.connect(lambda: self.set_outcome("failure"))
        self.delete_button.clicked.connect(self.delete)
        self._enable()

    # ----- list -------------------------------------------------------------------------------
    def set_root(self, root: Path) -> None:
        self.root = Path(root)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the folder, keeping the selected episode selected when it is still there."""
        current = self.current
        rows = library.list_library(self.root) if self.root else []
        trials = [r for r in rows if r.meta is not None and r.meta.evaluation_trial]
        self.rows = rows if self.show_trials.isChecked() else [r for r in rows if r not in trials]
        hidden = (
            "" if self.show_trials.isChecked() or not trials else f" ({len(trials)} evaluation trials hidden)"
        )
        self.folder.setText(
            f"Recordings in {self.root}{hidden}" if self.root else "No recordings folder set."
        )
        self.list.blockSignals(True)
        self.list.clear()
        for row in self.rows:
            trial = row.meta is not None and row.meta.evaluation_trial
            item = QListWidgetItem(("[evaluation trial] " if trial else "") + row.label())
            item.setToolTip(f"{row.label()}\n{row.folder}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        folders = [r.folder for r in self.rows]
        if current is not None and current.folder in folders:
            self.list.setCurrentRow(folders.index(current.folder))
        else:
            self._selected(-1)
        if not self.rows:
            self.view.clear("No episodes yet: press Record, then Start, to record one.")

    @property
    def current(self) -> library.EpisodeSummary | None:
        row = self.list.currentRow()
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def select(self, folder: Path) -> None:
        self.list.setCurrentRow([r.folder for r in self.rows].index(folder))

    def _selected(self, _row: int) -> None:
        self.pause()
        if self.player is not None:
            self.player.close()
        self.player = None
        row = self.current
        if row is not None and row.meta is not None:
            try:
                self.player = library.Player(row.folder)
            except (OSError, ValueError) as exc:
                self.message.emit(f"Could not open {row.name} ({exc}).", "error")
            self.instruction.setText(row.instruction)
            self.slider.setRange(0, max(0, len(self.player) - 1) if self.player else 0)
            self.slider.setValue(0)
            self.step()
        else:
            self.instruction.clear()
            self.view.clear("Pick an episode to play it back.")
        self._enable()

    # ----- player -----------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.pause()
        elif self.player is not None:
            if self.player.at_end:
                self.player.seek(0)
            self.timer.start()
            self.play_button.setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("Play")

    def seek(self, index: int) -> None:
        if self.player is not None:
            self.player.seek(index)
            self.step()

    def step(self) -> None:
        """Show the next recorded tick; playback stops at the end."""
        if self.player is None:
            return
        pair = self.player.step()
        if pair is None:
            self.pause()
            return
        frame, line = pair
        i, n = self.player.position, len(self.player)
        notes = (f"recorded tick {i + 1} of {n}",)
        if line.get("phase") == "correction":
            notes += ("correction",)
        overlay = overlay_for(
            line.get("action"),
            str(line.get("control") or "human"),
            instruction=str(line.get("instruction") or ""),
            notes=notes,
        )
        self.view.show_frame(frame, overlay)
        self.slider.setValue(i)
        self.position.setText(f"{i + 1} / {n}")

    # ----- edits ------------------------------------------------------------------------------
    def set_instruction(self) -> None:
        row = self.current
        if row is not None:
            text = self.instruction.text()
            self._edit(
                lambda: library.set_instruction(row.folder, text),
                "change the instruction",
                f"{row.name} now says: {text.strip()}",
            )

    def set_outcome(self, outcome: str) -> None:
        row = self.current
        if row is not None:
            self._edit(
                lambda: library.set_outcome(row.folder, outcome),
                f"mark the episode a {outcome}",
                f"{row.name} marked as a {outcome}.",
            )

    def delete(self) -> None:
        row = self.current
        if row is None or not self.confirm(self, f"Move {row.name} to the trash?"):
            return
        self.pause()
        if self.player is not None:
            self.player.close()
            self.player = None
        self._edit(
            lambda: library.delete(row.folder),
            "delete the episode",
            f"{row.name} moved to the trash (restore it from your file manager's trash).",
        )

    def _edit(self, work: Callable[[], Any], doing: str, done_text: str) -> None:
        def done(_result: object) -> None:
            self.message.emit(done_text, "info")
            self.refresh()

        def failed(text: str) -> None:
            self.message.emit(text, "error")
            self.refresh()

        run_job(self, work, doing, done, failed, self.jobs)
        self._enable()

    def _enable(self) -> None:
        has = self.current is not None and self.current.meta is not None
        for w in (
            self.play_button,
            self.step_button,
            self.slider,
            self.instruction_button,
            self.success_button,
            self.failure_button,
        ):
            w.setEnabled(has and self.player is not None)
        self.delete_button.setEnabled(self.current is not None)

    def shutdown(self) -> None:
        self.pause()
        if self.player is not None:
            self.player.close()
