"""What the window says, without Qt: the badge, our own input, what Start lacks, when closing asks, the
figures in words (why a dash, a model slower than the game) and the adapters the app trained."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from app.games.desktop import GameWindowGone
from app.gui import figures_text
from app.gui.finetune_runs import held_out_missing, trained_adapters
from app.gui.overlay import BADGES, overlay_for, summary
from app.gui.window_state import (
    GAME_GONE,
    NO_GAME,
    NO_MODEL,
    PANIC_STOP,
    PERSON_NOTES,
    TASKS_OFFLINE,
    BadgeKey,
    WindowState,
    close_question,
    controls_for,
    for_window,
    game_gone,
)
from app.runtime.live_stats import Figures
from app.runtime.takeover import Mode
from recorder.input import InputEvent
from tests.conftest import REPO


def test_badge_refines_the_mode() -> None:
    state = WindowState()
    assert state.badge("agent") == "agent"
    assert state.badge("human") == "human"  # touched the game: back to the agent after the quiet time
    assert state.badge("human", held=True) == "held"  # Take over: until Hand back
    state.started(teleop=True, running=True)
    assert state.badge("human", held=True) == "teleop"
    state.mode_changed("stopped")
    assert not state.teleop
    assert state.tick(None, focused=False, now=1.0)  # focus left the game: the badge changes
    assert state.badge("agent") == "waiting" and not state.tick(None, focused=False, now=1.1)
    assert state.notes("waiting", 1.2) == ("the agent waits: click into the game to give it focus",)
    state.tick({"forward": 1}, focused=True, now=2.0)
    assert state.notes("agent", 2.5) == ("last model action: forward (0.5 s ago)",)
    assert state.notes("held", 2.5) == ("you play until Hand back (or the pause key)",)
    assert "Resume" in state.notes("paused", 2.5)[0] and "Start" in state.notes("stopped", 2.5)[0]
    assert "Start" in state.notes("idle", 2.5)[0] and state.notes("loading", 2.5) == ()
    state.stopped()
    assert state.last_fresh is None and state.focused and state.badge("agent") == "agent"


def test_one_word_for_the_person_in_control() -> None:
    texts = [text for text, _color in BADGES.values()]
    person = [BADGES[m][0] for m in ("human", "held", "teleop")]
    assert all(t.split(" ")[0] == "YOU" for t in person)
    assert not any("HUMAN" in t for t in texts)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "HUMAN" not in readme and "YOU" in readme


def test_our_own_input_is_never_a_takeover() -> None:
    state = WindowState(own_rects=((100, 100, 200, 150), (400, 0, 50, 50)))
    click = lambda x, y: InputEvent("button_down", time.monotonic(), "key.mouse.left", x=x, y=y)  # noqa: E731
    assert state.own_input(click(150, 120)) and state.own_input(click(420, 10))
    assert not state.own_input(click(99, 120)) and not state.own_input(click(300, 120))
    key = InputEvent("key_down", time.monotonic(), "key.keyboard.w")
    assert not state.own_input(key)
    state.active = True  # one of our windows has keyboard focus
    assert state.own_input(key)


def test_what_start_lacks_and_what_the_view_says() -> None:
    state = WindowState()
    assert state.start_refusal(game_open=False) == NO_GAME and state.start_refusal(game_open=True) is None
    assert state.can_start(False, True, True, False) and not state.can_start(True, True, True, False)
    assert state.can_start(False, True, False, teleop_mode=True) and not state.can_start(
        False, True, False, False
    )
    assert state.placeholder(False, False, True, False, False) == NO_MODEL
    assert state.placeholder(False, False, True, False, True) is None  # teleop needs no model
    assert state.placeholder(True, False, False, False, False) is None  # still loading
    state.game_lost = True
    assert state.start_refusal(game_open=True) == GAME_GONE and not state.can_start(False, True, True, False)
    assert state.placeholder(False, False, False, True, False) == GAME_GONE


def test_which_buttons_work_in_each_mode() -> None:
    idle = controls_for(Mode.IDLE, can_start=True)
    assert (
        idle.start and idle.record_mode and not (idle.pause or idle.stop or idle.take_over or idle.save_last)
    )
    assert not controls_for(Mode.IDLE, can_start=False).start
    agent = controls_for(Mode.AGENT, can_start=True)
    assert not agent.start and agent.pause and not agent.resume and agent.stop and agent.take_over
    assert agent.save_last and not agent.hand_back and not agent.record_mode  # no mode change mid-run
    paused = controls_for(Mode.PAUSED, can_start=True)
    assert paused.pause and paused.resume and paused.take_over
    human = controls_for(Mode.HUMAN, can_start=True)
    assert human.hand_back and not human.pause and not human.take_over and human.stop
    assert not controls_for(Mode.HUMAN, can_start=True, teleop=True).hand_back  # no agent to hand back to
    assert controls_for(Mode.STOPPED, can_start=True).start
    state = WindowState()
    state.started(teleop=True, running=True)
    assert not state.controls(Mode.HUMAN, can_start=True).hand_back


def test_what_a_stop_says() -> None:
    state = WindowState()
    state.started(teleop=True, running=True)
    state.tick({"forward": 1}, focused=False, now=1.0)
    assert state.stopped("stop button") is None
    assert not state.teleop and state.focused and state.last_fresh is None and not state.game_lost
    panic = state.stopped("panic key")
    assert panic is not None and panic.text == PANIC_STOP and panic.level == "note" and panic.until_start
    try:
        raise RuntimeError("capture failed") from GameWindowGone("window 0x1 gone")
    except RuntimeError as exc:
        gone = state.stopped("panic key", exc)  # the game's end outranks how the run was stopped
    assert gone is not None and gone.text == GAME_GONE and gone.level == "error" and state.game_lost


def test_a_slow_model_is_said_once_per_recorded_run_and_its_measure_stands_between_answers() -> None:
    state = WindowState()
    state.started(teleop=False, running=True)
    slow = Figures(model_ms=800.0, actions_per_s=1.25, ticks_per_s=20.0)
    assert state.figures_seen(slow, 20.0, recording=False, fallback="hold") is None  # nothing recorded
    assert state.slow is not None and state.slow.ticks_per_answer == 16
    assert state.notes(BadgeKey.AGENT, 1.0) == (state.slow.short,)
    assert state.notes(BadgeKey.HUMAN, 1.0) == (PERSON_NOTES[BadgeKey.HUMAN],)
    said = state.figures_seen(slow, 20.0, recording=True, fallback="hold")
    assert said is not None and said.level == "note" and state.slow.short in said.text
    assert "last keys still held" in said.details
    assert state.figures_seen(slow, 20.0, recording=True, fallback="hold") is None  # once per run
    assert state.figures_seen(Figures(model_ms=None, ticks_per_s=20.0), 20.0, True, "hold") is None
    assert state.slow is not None  # no answer in the last 2 s: the last measure stands
    state.figures_seen(Figures(model_ms=40.0, actions_per_s=20.0, ticks_per_s=20.0), 20.0, True, "hold")
    assert state.slow is None  # the model keeps up again
    state.figures_seen(slow, 20.0, recording=False, fallback="hold")
    state.stopped("stop button")
    assert state.slow is None
    state.started(teleop=False, running=True)
    assert state.figures_seen(slow, 20.0, recording=True, fallback="hold") is not None  # a new run
    state.stopped()
    state.started(teleop=True, running=True)
    assert state.figures_seen(slow, 20.0, recording=True, fallback="hold") is None  # only you play


def test_a_missing_task_library_is_said_by_whose_it_is() -> None:
    state = WindowState()
    assert state.tasks_notice(None, False, [], 23) is None
    named = state.tasks_notice("tasks.json: not found", True, [], 23)
    assert named is not None and named.level == "error" and named.text == "tasks.json: not found"
    assert state.tasks_notice("tasks.json: not found", True, [], 23) is None  # each problem once
    offline = state.tasks_notice("offline? https://x ([Errno -3])", False, [], 23)
    assert offline is not None and offline.level == "info" and offline.remember == TASKS_OFFLINE
    assert "23 common tasks" in offline.text and "https://" not in offline.text
    assert offline.details.startswith("offline?")
    assert WindowState().tasks_notice("offline? again", False, [TASKS_OFFLINE], 23) is None  # once ever


def test_command_line_advice_in_the_windows_words() -> None:
    text = for_window("the model is too big here. Use --quantize 4bit, or pass a local folder with --model")
    assert "--" not in text and "Use 4bit" in text and "Folder…" in text


def test_closing_asks_only_when_work_would_be_cut_short() -> None:
    assert close_question(False, False, False) is None
    question = close_question(True, True, True)
    assert question is not None and question.startswith("Really quit? An episode is being recorded")
    assert "fine-tune" in question and "evaluation" in question


def test_game_gone_is_known_by_type_through_causes() -> None:
    try:
        try:
            raise GameWindowGone("window 0x1 gone")
        except GameWindowGone as inner:
            raise RuntimeError("capture failed") from inner
    except RuntimeError as outer:
        assert game_gone(outer)
    assert not game_gone(RuntimeError("something else"))


def test_every_dash_says_why() -> None:
    idle = figures_text.figures(None, 0.0)
    assert all(shown.text == "–" and "press Start" in shown.why for shown in idle.values())
    waiting = figures_text.figures(Figures(model_ms=None, ticks_per_s=20.0), 20.0)
    assert waiting["model_ms"].text == "–" and "no model answer" in waiting["model_ms"].why
    teleop = figures_text.figures(Figures(ticks_per_s=20.0), 20.0, teleop=True)
    assert "only you play" in teleop["model_ms"].why
    live = figures_text.figures(Figures(model_ms=42.4, actions_per_s=19.5, ticks_per_s=20.0), 23.0)
    assert live["model_ms"].text == "42 ms" and live["view_fps"].text == "23"


def test_a_model_slower_than_the_game_is_explained() -> None:
    assert figures_text.slow_model(Figures(model_ms=45.0, actions_per_s=20, ticks_per_s=20), 20.0) is None
    assert figures_text.slow_model(Figures(model_ms=None, ticks_per_s=20), 20.0) is None
    slow = figures_text.slow_model(Figures(model_ms=800.0, actions_per_s=1.25, ticks_per_s=20.0), 20.0)
    assert slow is not None and slow.tick_ms == 50.0 and slow.ticks_per_answer == 16
    sentence = slow.sentence("null")
    assert "800 ms" in sentence and "50 ms" in sentence and "1 tick in 16" in sentence
    assert "nothing" in sentence and "recording" in sentence and "Only me" in sentence
    assert "800 ms" in slow.short
    assert "last keys still held" in slow.sentence("hold")  # each fallback in words, none raw
    assert all(name not in slow.sentence(name) for name in figures_text.FALLBACKS)


def _adapter(root: Path, name: str, manifest: dict[str, object]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_the_adapters_the_app_trained_with_their_figures(tmp_path: Path) -> None:
    root = tmp_path / "adapters"
    good = _adapter(
        root,
        "20250102-120000-tiny",
        {
            "base_model": "CraftJarvis/JarvisVLA-Qwen2-VL-7B",
            "steps_done": 40,
            "episodes": {"train": ["a", "b", "c"], "valid": ["d"], "valid_samples": 57},
            "metrics": [
                {"event": "eval", "step": 0, "action_accuracy": 0.1},
                {"step": 40, "action_accuracy": 0.82},
            ],
        },
    )
    lone = _adapter(
        root,
        "20250101-090000-tiny",
        {
            "base_model": "tiny",
            "steps_done": 3,
            "episodes": {"train": ["a"], "valid": [], "valid_samples": 0},
        },
    )
    (root / "20250103-000000-tiny" / "checkpoints").mkdir(parents=True)  # unfinished: not listed
    history = [
        {
            "run": "r1",
            "adapter": None,
            "arm": "base",
            "task": "mine_block:stone",
            "successes": 2,
            "trials": 10,
        },
        {
            "run": "r1",
            "adapter": str(good),
            "arm": "x",
            "task": "mine_block:stone",
            "successes": 7,
            "trials": 10,
        },
    ]
    for folder, day in ((good, 2), (lone, 1)):  # when each run finished
        stamp = time.mktime((2025, 1, day, 12, 0, 0, 0, 0, -1))
        os.utime(folder / "manifest.json", (stamp, stamp))
    rows = trained_adapters(root, history)
    assert [(r.folder, r.trained) for r in rows] == [(good, "2025-01-02 12:00"), (lone, "2025-01-01 12:00")]
    by = {r.folder: r for r in rows}
    assert by[good].base == "JarvisVLA-Qwen2-VL-7B" and by[good].steps == 40
    assert by[good].held_out == "82% of 57" and "57 held-out ticks" in by[good].held_out_why
    assert by[good].evaluation == "7/10 on mine_block:stone (base 2/10)"
    assert by[lone].held_out.startswith("–") and "single episode" in by[lone].held_out_why
    assert by[lone].evaluation == "not evaluated yet"
    assert trained_adapters(tmp_path / "none", []) == []


def test_why_a_run_has_no_held_out_figure() -> None:
    assert "single episode" in held_out_missing(1, 0, 0)
    assert "held out no episode" in held_out_missing(5, 0, 0)
    assert "no usable ticks" in held_out_missing(4, 1, 0)
    assert held_out_missing(4, 1, 30) == ""


def test_the_strip_says_what_the_overlay_draws() -> None:
    overlay = overlay_for({"forward": 1, "attack": 1, "camera": [2.0, -1.0]}, "agent", notes=("slow",))
    assert summary(overlay) == "holds LMB + W · look 2.0° down, 1.0° left · slow"
    assert summary(overlay_for(None, "stopped")) == ""
