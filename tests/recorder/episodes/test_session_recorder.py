"""SessionRecorder modes, correction tagging, the ring buffer hotkey, and errors that never stop play."""

from __future__ import annotations

import time
from pathlib import Path

from model.actions.codec import ActionCodec
from model.actions.env import null_action
from recorder.episodes.check import check_episode
from recorder.episodes.format import EpisodeMeta, list_episodes, read_meta
from recorder.episodes.reader import EpisodeReader
from recorder.episodes.ring_buffer import RingBuffer, corrections_from_lines
from recorder.episodes.session_recorder import SessionRecorder
from recorder.input.camera_law import CameraLaw
from recorder.input.human_actions import TickInput
from tests.recorder.episodes.synth import line_for, read_tick, tick_frame

LAW = CameraLaw.minecraft()


def _paced_ticks(rec: SessionRecorder, n: int, human: range, instruction: str = "mine") -> None:
    codec = ActionCodec()
    agent_action = codec.decode(codec.encode({**null_action(), "forward": 1, "camera": [0, 3]}))[0]
    for i in range(n):
        is_human = i in human
        rec.on_tick(
            tick_frame(i),
            control="human" if is_human else "agent",
            instruction=instruction if i < n - 5 else "go home",
            action=None if is_human else agent_action,
            tick_input=TickInput(keys=["key.keyboard.space"], dx=-20.0) if is_human else None,
        )
        time.sleep(0.004)  # let the writer keep up, as it does at 20 fps


def test_corrections_mode_tags_takeovers_with_context(tmp_path: Path) -> None:
    rec = SessionRecorder(tmp_path, EpisodeMeta(mode="corrections"), law=LAW, context_seconds=0.5)
    assert rec.start()
    _paced_ticks(rec, 40, human=range(20, 28))
    meta = rec.close("success")
    assert meta is not None and meta.status == "complete" and meta.frame_count == 40
    assert meta.corrections == [{"context_start": 10, "start": 20, "end": 28}]
    assert meta.instructions == [{"tick": 0, "text": "mine"}, {"tick": 35, "text": "go home"}]
    assert meta.outcome == "success" and meta.camera_law["degrees_per_count"] == 0.15
    reader = EpisodeReader(rec.folder)  # type: ignore[arg-type]
    lines = reader.lines
    assert [line["phase"] for line in lines].count("correction") == 8
    assert lines[20]["control"] == "human" and lines[20]["phase"] == "correction"
    assert lines[20]["action"]["jump"] == 1 and lines[20]["action"]["camera"][1] < 0  # mouse left
    assert lines[20]["keyboard"]["keys"] == ["key.keyboard.space"]
    assert lines[0]["control"] == "agent" and lines[0]["keyboard"]["keys"] == ["key.keyboard.w"]
    assert lines[0]["mouse"]["dx"] > 0  # the agent's yaw +3 deg as mouse counts
    assert corrections_from_lines(lines, context_ticks=10) == meta.corrections
    assert check_episode(rec.folder).ok


def test_teleop_human_ticks_are_not_corrections(tmp_path: Path) -> None:
    rec = SessionRecorder(tmp_path, EpisodeMeta(mode="teleop"), law=LAW, ring_seconds=0)
    assert rec.start()
    _paced_ticks(rec, 10, human=range(10))
    meta = rec.close()
    assert meta is not None and meta.corrections == []
    assert {line["phase"] for line in EpisodeReader(rec.folder).lines} == {"none"}  # type: ignore[arg-type]


def test_ring_buffer_keeps_the_last_window() -> None:
    ring = RingBuffer(seconds=0.5)  # 10 ticks
    for i in range(25):
        ring.push(tick_frame(i), line_for(i) | {"tick": i})
    assert len(ring) == 10
    assert [line["tick"] for _, line in ring.snapshot()] == list(range(15, 25))


def test_hotkey_saves_the_last_seconds_as_an_episode(tmp_path: Path) -> None:
    errors: list[str] = []
    rec = SessionRecorder(tmp_path, EpisodeMeta(mode="agent"), law=LAW, record=False, ring_seconds=1.0,
                          on_error=errors.append)  # fmt: skip
    assert rec.start()
    _paced_ticks(rec, 50, human=range(0))
    thread = rec.save_last()
    assert thread is not None
    thread.join(30)
    (folder,) = list_episodes(tmp_path)
    meta = read_meta(folder)
    assert (meta.mode, meta.status, meta.frame_count, meta.extra["source_mode"]) == (
        "ring",
        "complete",
        20,
        "agent",
    )
    pairs = list(EpisodeReader(folder))
    assert [line["tick"] for _, line in pairs] == list(range(20))
    assert [line["source_tick"] for _, line in pairs] == list(range(30, 50))
    assert [read_tick(frame) for frame, _ in pairs] == list(range(30, 50))  # JPEG round trip keeps the frame
    assert errors == []


def test_unwritable_output_still_lets_play_continue(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    errors: list[str] = []
    rec = SessionRecorder(blocker, EpisodeMeta(), law=LAW, on_error=errors.append)
    assert rec.start() is False
    line = rec.on_tick(tick_frame(0), control="human", instruction="x", tick_input=TickInput(dx=5))
    assert line["action"]["camera"][1] > 0 and rec.error is not None
    assert len(errors) == 1 and "cannot write" in errors[0]
    rec.close()
