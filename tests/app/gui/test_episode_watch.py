"""The window announces the episodes a person recorded, once each, and not an evaluation's trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.gui.episode_watch import EpisodeWatch
from recorder.episodes import PURPOSE_EVALUATION
from tests.recorder.episodes.synth import write_episode


def test_a_recording_is_announced_and_an_evaluation_trial_is_not(qtbot: Any, tmp_path: Path) -> None:
    watch = EpisodeWatch()
    said: list[str] = []
    watch.saved.connect(lambda text, _folder: said.append(text))
    watch.watch(tmp_path)
    write_episode(tmp_path, 6, extra={"purpose": PURPOSE_EVALUATION})
    played = write_episode(tmp_path, 4)
    qtbot.waitUntil(lambda: bool(said), timeout=5000)
    qtbot.wait(1200)  # two more polls: nothing else comes
    assert said == [f"Saved episode {played.name} (0 s)."]
