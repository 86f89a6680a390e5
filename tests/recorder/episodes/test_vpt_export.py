"""The VPT export read back by a loader written from the spec (tests/recorder/episodes/vpt_oracle.py).

The episode is recorded through the real path (InputEvents -> InputAccumulator -> SessionRecorder ->
EpisodeWriter -> H.264) with the things that break a naive export: a game whose camera law is not
Minecraft's 0.15°/count, a rebound key, the wheel, an inventory screen with the cursor in it, agent
ticks between human ones, a move below one camera bin.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model.actions.codec import ActionCodec
from recorder.episodes.format import (
    VPT_KEYBOARD_KEYS,
    VPT_LINE_KEYS,
    VPT_MOUSE_KEYS,
    EpisodeMeta,
    list_episodes,
)
from recorder.episodes.reader import EpisodeReader
from recorder.episodes.session_recorder import SessionRecorder
from recorder.episodes.vpt_export import export_vpt
from recorder.input.camera_law import CameraLaw
from recorder.input.events import InputEvent
from recorder.input.human_actions import InputAccumulator
from recorder.input.keymap import DEFAULT_BINDINGS
from tests.recorder.episodes import vpt_oracle
from tests.recorder.episodes.synth import read_tick, tick_frame, write_episode

ORIGIN = (100.0, 50.0)  # the game window's top-left on the screen
WINDOW = (800, 600)
BINDINGS = {**DEFAULT_BINDINGS, "forward": "key.keyboard.z"}  # the person moved "forward" to Z
_clock = [1000.0]


def ev(kind: str, key: str = "", **kw: Any) -> InputEvent:
    _clock[0] += 0.2  # far apart: no move is mistaken for a warp-back
    return InputEvent(kind, _clock[0], key=key, **kw)  # type: ignore[arg-type]


def move(dx: float, dy: float, x: float = 500.0, y: float = 400.0) -> InputEvent:
    return ev("move", dx=dx, dy=dy, x=x, y=y)


# (control, events or agent action)
SCRIPT: list[tuple[str, Any]] = [
    ("human", []),  # 0: nothing
    ("human", [ev("key_down", "key.keyboard.z"), move(30, 0)]),  # 1: forward (rebound) and a turn
    ("human", [ev("key_down", "key.keyboard.3"), ev("key_up", "key.keyboard.3")]),  # 2: slot 2
    ("human", [ev("scroll", dy=-1.0)]),  # 3: wheel down -> slot 3, no key at all
    ("human", [ev("button_down", "key.mouse.left"), move(0, -12)]),  # 4: attack, look up
    ("human", [ev("button_up", "key.mouse.left"), ev("key_up", "key.keyboard.z")]),  # 5
    ("human", [ev("key_down", "key.keyboard.e")]),  # 6: open the inventory
    ("human", [ev("key_up", "key.keyboard.e"), move(40, 10, x=700.0, y=300.0)]),  # 7: cursor in the GUI
    ("human", [ev("button_down", "key.mouse.right"), ev("button_up", "key.mouse.right")]),  # 8
    ("human", [ev("key_down", "key.keyboard.escape")]),  # 9: close it
    ("human", [ev("key_up", "key.keyboard.escape"), ev("key_down", "key.keyboard.w")]),  # 10: W is unbound
    ("agent", {"forward": 1, "camera": [3.0, -7.0]}),  # 11
    ("agent", {"hotbar.5": 1, "jump": 1}),  # 12: slot 4
    ("agent", {}),  # 13: null
    ("human", [ev("key_up", "key.keyboard.w"), ev("scroll", dy=2.0)]),  # 14: wheel up twice -> slot 2
    ("human", [ev("key_down", "key.keyboard.left.shift"), move(0.5, 0)]),  # 15: sneak, a tiny turn
    ("human", [ev("key_up", "key.keyboard.left.shift"), move(0.3, 0)]),  # 16: below one bin
]
EXPECTED_HOTBAR = [0, 0, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 2, 2, 2]
EXPECTED_GUI = [i in (7, 8, 9) for i in range(len(SCRIPT))]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("episodes")
    meta = EpisodeMeta(
        mode="corrections",
        game="minetest-5.6",
        connector="desktop",
        window={"title": "Minetest", "width": WINDOW[0], "height": WINDOW[1]},
    )
    rec = SessionRecorder(
        root, meta, law=CameraLaw.minetest(0.2), bindings=BINDINGS, ring_seconds=0, recover=False
    )
    assert rec.start(), rec.error
    acc = InputAccumulator(origin=lambda: ORIGIN)
    for tick, (control, what) in enumerate(SCRIPT):
        if control == "human":
            acc.feed_all(what)
            rec.on_tick(tick_frame(tick), control="human", instruction="dig", tick_input=acc.end_tick())
        else:
            acc.end_tick()
            rec.on_tick(tick_frame(tick), control="agent", instruction="dig", action=what)
        time.sleep(0.005)
    assert rec.close("success").status == "complete"  # type: ignore[union-attr]
    assert rec.folder is not None
    return rec.folder


def test_native_lines_carry_hotbar_gui_and_cursor(recorded: Path) -> None:
    lines = EpisodeReader(recorded).lines
    assert [line["hotbar"] for line in lines] == EXPECTED_HOTBAR
    assert [line["isGuiOpen"] for line in lines] == EXPECTED_GUI
    assert [line["isGuiInventory"] for line in lines] == EXPECTED_GUI  # the E screen is the inventory
    for line in lines:
        assert all(key in line["mouse"] for key in VPT_MOUSE_KEYS), line["mouse"]
    # the cursor in window pixels (the listener reports the screen), centred while the game holds it
    assert (lines[0]["mouse"]["x"], lines[0]["mouse"]["y"]) == (400.0, 300.0)
    assert (lines[7]["mouse"]["x"], lines[7]["mouse"]["y"]) == (600.0, 250.0)
    assert lines[7]["mouse"]["scaledX"] == (600.0 - 400.0) / 2.0  # guiScale 2 with a screen open
    # the wheel's slot change is part of the stored action, as VPT's loader reads it
    assert lines[3]["action"]["hotbar.4"] == 1 and lines[3]["keyboard"]["keys"] == ["key.keyboard.z"]
    assert lines[14]["action"]["hotbar.3"] == 1


def test_vpt_export_gives_back_the_stored_action_on_every_line(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "vpt"
    report = export_vpt([recorded], out)
    native = EpisodeReader(recorded).lines
    codec = ActionCodec()
    null_ids = codec.null_ids()
    for pairs in (vpt_oracle.vpt_pairs(out), vpt_oracle.minestudio_pairs(out)):
        assert list(pairs) == [recorded.name] == list(report.lines)
        video, jsonl = pairs[recorded.name]
        exported = vpt_oracle.read_jsonl(jsonl)
        assert len(exported) == len(native) == len(SCRIPT)
        steps = vpt_oracle.load_trajectory(video, jsonl)
        assert len(steps) == len(native)
        for step, line in zip(steps, native, strict=True):
            action = {**step.action, "camera": [float(v) for v in step.action["camera"]]}
            assert codec.encode(action) == line["action_ids"], (step.index, action, line["action"])
            assert action["camera"] == pytest.approx(line["camera_raw"], abs=1e-9)
            if step.null:
                assert line["action_ids"] == null_ids  # what the loaders skip carries no action
            else:
                assert step.frame is not None and read_tick(step.frame) == step.index  # frame i <-> line i
        assert [s.index for s in steps if s.null] == [0, 13]
        assert steps[10].null is False and steps[10].action["forward"] == 0  # W was not forward in this game
        assert steps[1].action["forward"] == 1  # Z was
        assert steps[16].action["camera"][1] == pytest.approx(0.3 * 0.2)  # below a bin, yet a real move


def _as_before_tracking(folder: Path, dest: Path) -> Path:
    """The same play as an episode recorded before hotbar, GUI and cursor were tracked."""
    copy = dest / folder.name
    shutil.copytree(folder, copy)
    lines = EpisodeReader(copy).lines
    for line in lines:
        for key in ("hotbar", "isGuiInventory"):
            line.pop(key)
        line["isGuiOpen"] = None
        for key in ("x", "y", "scaledX", "scaledY"):
            line["mouse"].pop(key)
    (copy / "actions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return copy


def test_exported_lines_have_every_field_the_loaders_read(recorded: Path, tmp_path: Path) -> None:
    old = _as_before_tracking(recorded, tmp_path)
    synth = write_episode(tmp_path / "synth", 5)
    assert "hotbar" not in EpisodeReader(old).lines[0] and "hotbar" not in EpisodeReader(synth).lines[0]
    out = tmp_path / "vpt"
    export_vpt([old, synth], out)
    pairs = vpt_oracle.vpt_pairs(out)
    assert set(pairs) == {old.name, synth.name}
    for _, jsonl in pairs.values():
        for line in vpt_oracle.read_jsonl(jsonl):
            assert all(key in line for key in VPT_LINE_KEYS), line
            assert all(key in line["mouse"] for key in VPT_MOUSE_KEYS), line["mouse"]
            assert all(key in line["keyboard"] for key in VPT_KEYBOARD_KEYS), line["keyboard"]
            assert isinstance(line["isGuiOpen"], bool) and isinstance(line["isGuiInventory"], bool)
            assert isinstance(line["hotbar"], int) and 0 <= line["hotbar"] <= 8
    # the fields an old episode lacks are replayed from its input: the same as recording them
    exported = vpt_oracle.read_jsonl(pairs[old.name][1])
    assert [line["hotbar"] for line in exported] == EXPECTED_HOTBAR
    assert [line["isGuiOpen"] for line in exported] == EXPECTED_GUI
    native = EpisodeReader(recorded).lines
    codec = ActionCodec()
    replayed = [
        {**a, "camera": [float(v) for v in a["camera"]]} for a, _ in vpt_oracle.load_actions(exported)
    ]
    assert [codec.encode(a) for a in replayed] == [line["action_ids"] for line in native]


def test_cursor_is_drawn_where_the_gui_is_open(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "vpt"
    export_vpt([recorded], out)
    steps = vpt_oracle.load_trajectory(*vpt_oracle.vpt_pairs(out)[recorded.name])
    drawn = {s.index: s.cursor for s in steps if s.cursor is not None}
    assert set(drawn) == {7, 8, 9}
    # window (600, 250) of 800x600 -> 1280x720 -> the 360-row frame: (480, 150)
    assert drawn[7] == (480, 150)
    frame = steps[7].frame
    assert frame is not None and np.all(frame[150:166, 480:496] == 255)
    minestudio = vpt_oracle.load_actions(vpt_oracle.read_jsonl(out / "jsonl" / f"{recorded.name}.jsonl"))
    for action, _ in minestudio:  # MineStudio drops three keys and keeps 21 arrays
        for key in ("ESC", "swapHands", "pickItem"):
            action.pop(key)
        assert len(action) == 21


def test_export_refuses_a_non_empty_folder_and_skips_unfinished_episodes(tmp_path: Path) -> None:
    folder = write_episode(tmp_path / "eps", 3)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "status": "recording"}))
    with pytest.raises(ValueError, match="status 'recording'"):
        export_vpt([tmp_path / "eps"], tmp_path / "a")
    (folder / "meta.json").write_text(json.dumps(meta))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("keep me")
    with pytest.raises(FileExistsError):
        export_vpt(list_episodes(tmp_path / "eps"), busy)
    assert (busy / "x").read_text() == "keep me"


def test_oracle_applies_the_stuck_attack_rule() -> None:
    def line(buttons: list[int], new: list[int]) -> dict[str, Any]:
        mouse = {"dx": 0.0, "dy": 0.0, "buttons": buttons, "newButtons": new}
        return {"mouse": mouse, "keyboard": {"keys": []}, "hotbar": 0}

    actions = vpt_oracle.load_actions([line([0], [0]), line([0], []), line([0], [0]), line([0], [])])
    assert [a["attack"] for a, _ in actions] == [0, 0, 1, 1]
