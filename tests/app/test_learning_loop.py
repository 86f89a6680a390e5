"""The product's loop as a person drives it, through the command line: show, fine-tune, measure.

A scripted person (``tests/person.py``: real X input from xdotool, eyes on the game's own pose log)
demonstrates mining stone in minetest's arena the way people play: the view starts in the sky, they
read the screen, move the mouse down in uneven steps (sometimes first the wrong way), dig a while,
pause; between episodes they switch to another window and type there. ``jarvis-play record`` records
it. ``jarvis-play finetune --preset quick`` trains the tiny model on it, otherwise with its defaults
(pauses dropped, action kinds drawn evenly), and its own held-out figures must say it learnt. Then
``jarvis-play eval`` plays the base model and the adapter as blinded, interleaved arms, each trial
starting in the sky at a random yaw: judged by the game's mod, and again by the person watching the
game and pressing F6/F7 after resetting and pressing F8. The truth in every step is the game's: its
dig events, not our code's idea of them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recorder.desktop.backends import for_display
from tests.game_fixtures import SPAWN
from tests.person import Person
from tests.terminal import as_from_a_terminal

pytestmark = [pytest.mark.xvfb, pytest.mark.game, pytest.mark.slow]

TASK = "mine_block:stone"
EPISODES, SEGMENTS = 3, 4  # about a minute of play; finetune holds one episode out
TRIALS, SECONDS = 10, 6.0
# Trials start where the person's segments start (tests/person.py: 30-70 degrees up, any yaw): in the sky,
# no stone in reach. Started 20 degrees up, the stone ground shows along the bottom of the view at some
# yaws, a view the person never began from: in one run the adapter attacked from its first answer in 3 of
# 10 trials and never stopped (its own swinging arm then looks like the person's digging), and the person
# judged 2/5. It learns the views it was shown; the README's limits say so.
START_PITCH = -45.0
START = f"{SPAWN[0]},{SPAWN[1]},{SPAWN[2]},0,{START_PITCH:g}"


def cli_env(display: str, home: Path) -> dict[str, str]:
    """The environment a person's terminal has on this display, with a home of its own."""
    env = {**os.environ, "DISPLAY": display, "HF_HUB_OFFLINE": "1"}
    env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"))
    env.pop("PYNPUT_BACKEND", None)
    return env


def jarvis(*args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=as_from_a_terminal,  # `record` ends with the Ctrl+C a person presses
        **kw,
    )


class Lines:
    """A child's output, line by line, readable while it runs."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._new: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.process.poll() is not None and self._new.empty():
                break
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the output:\n" + "\n".join(self.lines[-40:]))

    def finish(self, timeout: float) -> str:
        self.process.wait(timeout)
        self._thread.join(5)
        return "\n".join(self.lines)


def focus_the_game(game: Any, display: str) -> None:
    """Click into the game as a person would before playing, and see that it has the keyboard."""
    desktop = for_display(display)
    try:
        deadline = time.monotonic() + 5
        while True:
            game.focus()
            time.sleep(0.2)
            if desktop.has_focus(game.window_id):
                return
            focused = desktop.focused_window()
            assert time.monotonic() < deadline, f"the game never got focus (focus is on {focused:#x})"
    finally:
        desktop.close()


def another_window(display: str) -> Any:
    """A window of another program beside the game (a terminal, a browser): where the person types."""
    from Xlib import X
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    root = d.screen().root
    window = root.create_window(700, 400, 400, 200, 0, d.screen().root_depth, X.InputOutput)
    window.set_wm_name("notes")
    window.map()
    d.sync()
    return d, window


@pytest.fixture(scope="module")
def demonstrations(
    minetest_session: Any, xvfb: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A minute of natural play recorded through ``jarvis-play record``, two episodes."""
    game, home = minetest_session, tmp_path_factory.mktemp("person")
    out = home / "episodes"
    env = cli_env(xvfb, home)
    person = Person(xvfb, game, seed=19)
    d, notes = another_window(xvfb)
    mark = len(game.log.records)
    try:
        for episode in range(EPISODES):
            focus_the_game(game, xvfb)
            before = set(out.glob("*")) if out.exists() else set()
            process = jarvis("record", "--window", "Minetest", "--out", str(out), "--mode", "teleop",
                             "--instruction", TASK, env=env)  # fmt: skip
            output = Lines(process)
            output.wait_for("recording (teleop)", 60)
            deadline = time.monotonic() + 30
            while not [p for p in out.glob("*/actions.jsonl") if p.parent not in before]:
                assert time.monotonic() < deadline, "\n".join(output.lines)
                time.sleep(0.05)
            for segment in range(SEGMENTS):
                person.mine_stone_once(SPAWN)
                if segment == SEGMENTS // 2:
                    time.sleep(2.5)  # a long idle stretch: reads something, thinks
            person.type_elsewhere(notes.id, f"dig {episode}")  # between episodes, in another window
            process.send_signal(signal.SIGINT)
            text = output.finish(60)
            assert process.returncode == 0, text
    finally:
        person.release()
        d.close()
    digs = [r for r in game.log.records[mark:] if r.get("k") == "dig"]
    assert len(digs) >= EPISODES * SEGMENTS, "the person's digging did not reach the game"
    yield out


@pytest.fixture(scope="module")
def adapter(demonstrations: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("round1") / "round1"
    home = tmp_path_factory.mktemp("trainer")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "finetune", "--model", str(tiny_model_dir), "--episodes",
         str(demonstrations), "--out", str(out), "--preset", "quick", "--device", "cpu"],
        env=cli_env(os.environ.get("DISPLAY", ""), home), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    final = manifest["metrics"][-1]
    assert final["warnings"] == [] and manifest["warnings"] == [], final
    # its own figures (sampled, as play is) say it learnt the rule kind by kind: look down at the sky,
    # dig at the floor (the person's rare slips the wrong way are a kind of their own, too few to
    # demand; they still count in the balanced figure the command prints). The final figures decode
    # the whole held-out episode (about 65 look-down and 75 dig ticks, each answered once at
    # temperature 0.7), against a dozen a kind in the evaluations before; the base answers 'attack' on
    # none of 11 dig ticks and 'look down' on 2 to 7 of 11 look-downs. Re-scored that way, seven
    # adapters of this test that passed its play check in whole suites scored attack 94-100% and look
    # down 73-95%; one more, attack 43 of 72 and look down 63 of 67 (it looked down where the person
    # had started digging), mined 10 of 10 too (experiment log, tenth session). So each kind is held to
    # half and the two together to 0.7: an adapter with one answer, or the base, fails it.
    (down, downs), (dig, digs) = final["kinds"]["look down"], final["kinds"]["attack"]
    assert downs >= 5 and digs >= 5, final
    assert down >= 0.5 * downs and dig >= 0.5 * digs and down + dig >= 0.7 * (downs + digs), final
    assert final["null_share"] == 0 and final["top_share"] < 0.8, final
    assert "warning" not in result.stdout
    return out


def test_the_recording_is_the_persons_play_and_nothing_typed_elsewhere(demonstrations: Path) -> None:
    from recorder.episodes import EpisodeReader

    folders = sorted(p.parent for p in demonstrations.glob("*/actions.jsonl"))
    assert len(folders) == EPISODES
    for folder in folders:
        lines = EpisodeReader(folder).lines
        assert {line["control"] for line in lines} == {"human"}
        keys = {k for line in lines for k in line["keyboard"]["keys"]}
        assert not keys, f"keys typed into another window were recorded: {keys}"
        assert any(line["action"]["camera"][0] > 0 for line in lines)  # looked down
        assert any(line["action"]["attack"] for line in lines)  # dug
        assert any("noop_run" in line["flags"] for line in lines), "the idle stretch is flagged"


def eval_argv(tiny_model_dir: Path, adapter: Path, out: Path, *extra: str) -> list[str]:
    return [
        "eval", "--window", "Minetest", "--model", str(tiny_model_dir), "--adapter", str(adapter),
        "--task", TASK, "--trials", str(TRIALS), "--seconds", str(SECONDS), "--start", START,
        "--yaw-jitter", "180", "--out", str(out), *extra,
    ]  # fmt: skip


def verdicts(results: Path) -> dict[str, dict[str, Any]]:
    saved = json.loads(next(results.glob("*.json")).read_text())
    return {row["arm"]: row for row in saved["summary"]}


def test_demonstrations_teach_the_agent_to_mine_judged_by_the_game(
    minetest_session: Any, xvfb: str, tiny_model_dir: Path, adapter: Path, tmp_path: Path
) -> None:
    focus_the_game(minetest_session, xvfb)
    argv = eval_argv(
        tiny_model_dir, adapter, tmp_path / "evals", "--seed", "3", "--plot", str(tmp_path / "h.png")
    )
    process = jarvis(*argv, env=cli_env(xvfb, tmp_path))
    text = Lines(process).finish(900)
    print(text[-2500:])
    assert process.returncode == 0, text[-3000:]
    rows = verdicts(tmp_path / "evals")
    base, tuned = rows["base"], rows[adapter.name]
    assert base["trials"] == tuned["trials"] == TRIALS
    assert base["successes"] <= 2, "the base model should rarely mine the stone"
    # The goal: the adapter mines in at least 8 of 10 trials, on the first try. With the quick
    # preset at 80 steps eight runs gave 10, 7, 7, 10, 2 (another hotbar slot highlighted, since fixed),
    # 3, 3 and 7: an attack sampled at the horizon, then the swinging arm (in the person's recording only
    # ever seen while digging) kept it attacking; one recording's fine-tune answered "attack" everywhere.
    # At 160 steps (the preset now) the first four runs gave 10, 10, 10 and 9 (README).
    assert tuned["successes"] >= 8, rows
    assert tuned["successes"] > base["successes"], "the demonstrations should teach it"
    saved = json.loads(next((tmp_path / "evals").glob("*.json")).read_text())
    trials = saved["trials"]
    assert all(0 < t["seconds"] <= SECONDS + 0.5 for t in trials if t["success"])
    # blinded and interleaved: not one arm first, and no progress line names an arm
    order = [t["arm"] for t in trials]
    assert order != sorted(order) and order != sorted(order, reverse=True)
    assert not any(name in line for line in text.splitlines() if line.lstrip().lower().startswith("trial")
                   for name in ("base", adapter.name))  # fmt: skip
    # the round's history (its episodes are the fine-tune's) and its plot
    history = [json.loads(x) for x in (tmp_path / "evals" / "history.jsonl").read_text().splitlines()]
    split = json.loads((adapter / "manifest.json").read_text())["episodes"]
    recorded = len(split["train"]) + len(split["valid"])  # the round's recordings, held-out one included
    arms = [(h["arm"], h["round"], h["episodes"]) for h in history]
    assert arms == [("base", 0, 0), (adapter.name, 1, recorded)] and recorded == EPISODES
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every trial is an agent episode with its outcome, where the person's recordings go
    metas = [json.loads(m.read_text()) for m in (tmp_path / "data").rglob("meta.json")]
    outcomes = sorted(m["outcome"] for m in metas if m.get("mode") == "agent")
    wins = sum(t["success"] for t in trials)
    assert outcomes == sorted(["success"] * wins + ["failure"] * (2 * TRIALS - wins))


def test_the_person_judging_with_hotkeys_sees_the_same(
    minetest_session: Any, xvfb: str, tiny_model_dir: Path, adapter: Path, tmp_path: Path
) -> None:
    """The same question, judged by the person: they reset the game, press F8, watch for a dug node
    (the game's own event) and press F6, or F7 when the time is nearly up."""
    game = minetest_session
    person = Person(xvfb, game, seed=5)
    focus_the_game(game, xvfb)
    argv = eval_argv(tiny_model_dir, adapter, tmp_path / "evals", "--judge", "person", "--seed", "8")
    argv[argv.index("--trials") + 1] = str(TRIALS // 2)
    argv[argv.index("--seconds") + 1] = str(SECONDS + 4)  # the person's F7 ends a trial, not the clock
    process = jarvis(*argv, env=cli_env(xvfb, tmp_path))
    output = Lines(process)
    seen: list[bool] = []  # whether the person saw the stone dug, trial by trial
    try:
        for trial in range(TRIALS):
            output.wait_for(f"Trial {trial + 1}: reset the game", 120)
            yaw = float(person.rng.uniform(-180, 180))
            game.reset(SPAWN, yaw, START_PITCH)
            time.sleep(0.4)
            person.pause()
            mark = len(game.log.records)
            person.xdotool("key", "F8")
            dug, deadline = False, time.monotonic() + SECONDS
            while not dug and time.monotonic() < deadline:
                dug = any(r.get("k") == "dig" for r in game.log.since(mark))
                time.sleep(0.05)
            time.sleep(0.2)  # a person's reaction
            person.xdotool("key", "F6" if dug else "F7")
            seen.append(dug)
        text = output.finish(120)
    finally:
        if process.poll() is None:
            process.kill()
    print(text[-2500:])
    assert process.returncode == 0, text[-3000:]
    rows = verdicts(tmp_path / "evals")
    base, tuned = rows["base"], rows[adapter.name]
    assert base["trials"] == tuned["trials"] == TRIALS // 2
    # Whether the adapter wins is the mod-judged test's question: an adapter that mined in as few as 3 of
    # 10 trials (above) has none in five about one time in six. Here the question is the person's door:
    # every verdict is the one they gave for what they saw.
    assert base["successes"] <= 1, rows
    saved = json.loads(next((tmp_path / "evals").glob("*.json")).read_text())
    assert saved["judge"] == "person"
    assert all(t["why"] in ("success key", "failure key") for t in saved["trials"])
    # each verdict is the person's: what they saw in the game, trial by trial
    assert [t["success"] for t in saved["trials"]] == seen
