"""The product's loop through the window, as a person drives it: record corrections, fine-tune, evaluate.

Issue 19's corrections round and its window path in one test. One ``jarvis-play window``
(``window_driver``: the real command, observed) plays the session's minetest by its window title, so
the demo game's mod judges. A scripted person (``tests/person.py``: xdotool input, eyes on the game's
pose log) does everything through the window and the game:

* **Record**, "Agent + my takeovers": the base model plays; at the start of each segment the view is
  in the sky, the person takes over by moving the mouse (the agent stops at once), looks down in
  uneven steps, digs, and hands back with F9 or by leaving the game alone for the quiet time. Stop
  saves the episode (about a minute, twelve corrections).
* **Fine-tune**: the Quick preset, Start (the panel's defaults: the person's corrections alone, the
  agent's own play left out); its held-out figures (scored on the person's corrections) must say it
  learnt to look down and to dig, with no warning on the panel (checked last, so that a failure there
  still shows what the adapter did in play).
* **Adapters**: the run's held-out headline; "Evaluate in play" fills in the Evaluate tab.
* **Evaluate**: the person goes back to the spawn looking 45° up into the sky (as the CLI loop's
  ``--start``), sets 6 s per trial and presses Evaluate: 10 blinded, interleaved trials per arm at the
  default sampling temperature, each starting where they stood turned a random way (the panel's
  default), judged by the mod's dig events. As
  in the CLI loop: the base mines at most 2 of 10, the adapter at least 8, and the panel's verdict
  (Fisher's exact test) is "better".

The truth is the game's: the mod's events and the pose log, and the screen's own pixels (screenshots
taken from the X server, copied to artifacts/ for a person to look at).
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model.finetune.config import PRESETS
from tests.app.gui.child_window import child_window
from tests.game_fixtures import SPAWN
from tests.person import Person
from tests.xdesktop import screenshot, window_env

pytestmark = [
    pytest.mark.xvfb,
    pytest.mark.game,
    pytest.mark.slow,
]

TASK = "mine_block:stone"
SEGMENTS = 12  # about a minute of play
TRIALS, SECONDS = 10, 6
START_PITCH = -45.0  # evaluation trials start looking up (as the CLI loop's --start): sky, no stone
GEOMETRY = "645,0,635,715"  # beside the demo game's 640×360 window at the top left
State = dict[str, Any]


class Window:
    """The window's reports (one JSON line per 200 ms), and the person's mouse and keys on its screen."""

    def __init__(self, proc: subprocess.Popen[str], display: str) -> None:
        self.proc, self.display = proc, display
        self.lines: queue.Queue[State] = queue.Queue()
        self.state: State = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def wait(self, what: str, ok: Callable[[State], bool], timeout: float = 60) -> State:
        """The first report from now on that satisfies ``ok`` (older, queued ones are skipped)."""
        while not self.lines.empty():
            self.state = self.lines.get_nowait()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.state = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.proc.poll() is None, (
                    f"the window exited ({self.proc.returncode}) waiting for {what}"
                )
                continue
            if ok(self.state):
                return self.state
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last state: {self.state}")

    def xdotool(self, *args: str) -> None:
        env = {**os.environ, "DISPLAY": self.display}
        subprocess.run(["xdotool", *args], env=env, check=True, timeout=10)

    def to_front(self) -> None:
        """The person turns to the window (as alt-tab would): it gets the keyboard."""
        self.xdotool("windowfocus", "--sync", str(self.state["wid"]))

    def click_at(self, box: list[int]) -> None:
        x, y, w, h = box
        self.xdotool("mousemove", str(x + w // 2), str(y + h // 2), "click", "1")

    def click(self, name: str) -> None:
        box = self.state["rects"][name]
        assert box is not None, f"{name} is not in view"
        self.click_at(box)

    def tab(self, name: str) -> State:
        self.click_at(self.state["tabs"][name])
        return self.wait(f"the {name} tab", lambda s: s["panel"] == name, timeout=20)

    def screenshot(self, path: Path) -> np.ndarray:
        """The screen as the X server has it (not Qt's idea of the window), kept in artifacts/."""
        return screenshot(self.display, path)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of the children it has waited for (the fine-tune's), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def share(pixels: np.ndarray, box: list[int] | None, rgb: tuple[int, int, int], tolerance: int = 40) -> float:
    """The share of ``box`` drawn in (about) the colour ``rgb``."""
    assert box is not None
    x, y, w, h = box
    part = pixels[y : y + h, x : x + w].astype(int)
    return float((np.abs(part - np.array(rgb)).sum(axis=2) < tolerance).mean())


@pytest.fixture
def window(minetest_session: Any, xvfb: str, tiny_model_dir: Path, tmp_path: Path) -> Iterator[Window]:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    env = window_env(xvfb, tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # recordings, adapters, evaluations: this test's own
    env.pop("PYNPUT_BACKEND", None)
    args = ["--model", str(tiny_model_dir), "--game", "window:Minetest", "--instruction", TASK,
            "--geometry", GEOMETRY]  # fmt: skip
    try:
        with child_window(
            "tests.app.gui.window_driver", *args, env=env, log=tmp_path / "window.log", quit_s=30
        ) as proc:
            yield Window(proc, xvfb)
    finally:
        print((tmp_path / "window.log").read_text()[-4000:])


def to_the_start(game: Any, yaw: float, pitch: float) -> None:
    """Back to the spawn, the dug stone put back, the view ``pitch`` degrees up in the sky (+ down), as
    an evaluation's reset does."""
    game.reset(SPAWN, yaw, pitch)
    game.wait_for(lambda: math.degrees(game.pose().pitch) < -10, 5.0, "the view in the sky")


def test_record_corrections_finetune_and_evaluate_in_the_window(
    window: Window, minetest_session: Any, xvfb: str, tmp_path: Path
) -> None:
    game, win = minetest_session, window
    t0 = time.monotonic()
    pids = {"window": win.proc.pid, "game": game.proc.pid, "test": os.getpid()}
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    timings: dict[str, float] = {}
    ready = win.wait("the model and the game", lambda s: s["ready"], timeout=240)
    timings["ready"] = time.monotonic() - t0
    assert ready["record_mode"] == "corrections" and ready["errors"] == [], ready

    # ----- record: the agent plays, the person corrects it ---------------------------------------
    win.to_front()
    win.click("record")
    win.click("start")
    win.wait("the agent playing, recorded", lambda s: s["mode"] == "agent" and s["recording_now"])
    person = Person(xvfb, game, seed=23)
    mark = len(game.log.records)
    takeovers = 0
    t = time.monotonic()
    try:
        for segment in range(SEGMENTS):
            to_the_start(game, float(person.rng.uniform(0, 360)), -float(person.rng.uniform(20, 60)))
            time.sleep(float(person.rng.uniform(0.6, 1.2)))  # the agent plays; the person sees the sky
            person.look_down_to_floor()  # the first move takes over
            person.pause(0.5)
            person.dig()
            takeovers += win.wait("a report", lambda s: True)["mode"] == "human"
            if segment == 2:  # the person sees that they are recorded: the red tag, on the screen
                pixels = win.screenshot(tmp_path / "learning_window_1_recording.png")
                assert share(pixels, win.state["rects"]["rec"], (198, 40, 40)) > 0.3, win.state["rects"]
            if segment % 2:
                person.xdotool("key", "F9")  # hands back; on even segments the quiet time does
            win.wait("the agent again", lambda s: s["mode"] == "agent", timeout=15)
    finally:
        person.release()
    timings["record"] = time.monotonic() - t
    win.to_front()
    # The person looks before reaching for Stop: the badge says the agent let go. Clicking at once could
    # land while the agent held the attack button on the game, whose press grabs the pointer: X sends the
    # click's release to the game and Stop never sees it (a CI run: no "Saved episode" in 60 s).
    win.wait("the agent paused for the lost focus", lambda s: s["badge"] == "AGENT · waiting for focus", 15)
    win.click("stop")
    saved = win.wait("the episode saved", lambda s: "Saved episode" in s["banner"], timeout=60)
    digs = [r for r in game.log.since(mark) if r.get("k") == "dig"]
    assert takeovers == SEGMENTS, f"the person took over {takeovers} times of {SEGMENTS}"
    assert len(digs) >= SEGMENTS, "the person's digging did not reach the game"
    (episode,) = [p for p in (tmp_path / "data").rglob("meta.json")]
    meta = json.loads(episode.read_text())
    assert meta["mode"] == "corrections" and len(meta["corrections"]) == SEGMENTS, (meta, saved["banner"])

    # ----- fine-tune with the quick preset ---------------------------------------------------------
    t = time.monotonic()
    win.tab("finetune")
    win.click("preset")
    win.wait("the preset list open", lambda s: s["finetune"]["preset_open"], timeout=20)
    win.xdotool("key", "Down", "Return")
    win.wait(
        "the quick preset",
        lambda s: (
            s["finetune"]["preset"].startswith("Quick")
            and s["finetune"]["steps"] == PRESETS["quick"]["steps"]
        ),
    )
    win.click("finetune_start")
    done = win.wait("the fine-tune", lambda s: s["finetune"]["status"] in ("done", "failed"), timeout=900)
    timings["finetune"] = time.monotonic() - t
    win.screenshot(tmp_path / "learning_window_2_finetuned.png")
    tuned = done["finetune"]
    assert tuned["status"] == "done", tuned
    manifest = json.loads((Path(tuned["out"]) / "manifest.json").read_text())
    assert manifest["episodes"]["valid_scored"] == "the person's corrections", manifest["episodes"]

    # ----- the adapter: its figures, then evaluate it in play ---------------------------------------
    listed = win.tab("adapters")
    assert listed["adapters"]["selected"] == tuned["out"], listed["adapters"]
    assert "Held out: the right kind of action" in listed["adapters"]["figures"], listed["adapters"]
    win.screenshot(tmp_path / "learning_window_3_adapters.png")
    win.click("adapters_evaluate")
    filled = win.wait("the Evaluate tab, filled in", lambda s: s["panel"] == "evaluate")
    assert filled["evaluate"]["adapters"] == tuned["out"] and filled["evaluate"]["task"] == TASK, filled
    assert filled["evaluate"]["trials"] == TRIALS, filled["evaluate"]
    assert filled["evaluate"]["vary_start"], "each trial should start facing a new way (the default)"
    win.click("evaluate_seconds")
    win.xdotool("key", "ctrl+a")
    win.xdotool("type", str(SECONDS))
    win.xdotool("key", "Tab")
    win.wait("the trial length", lambda s: s["evaluate"]["seconds"] == SECONDS)
    to_the_start(game, float(person.rng.uniform(0, 360)), START_PITCH)  # looks up into the sky
    t = time.monotonic()
    win.click("evaluate_start")
    win.wait("the evaluation running", lambda s: s["evaluate"]["running"], timeout=30)
    win.wait("the evaluation", lambda s: not s["evaluate"]["running"], timeout=600)
    timings["evaluate"] = time.monotonic() - t
    result = win.wait("the result", lambda s: s["banner"].startswith("Evaluation saved:"), timeout=30)
    win.screenshot(tmp_path / "learning_window_4_evaluated.png")
    timings["total"] = time.monotonic() - t0
    cpu = {name: round(cpu_seconds(pid) - cpu0[name]) for name, pid in pids.items()}
    print("wall s", {k: round(v) for k, v in timings.items()}, "cpu s", cpu, "load", os.getloadavg())
    print("evaluation", result["evaluate"]["table"], result["banner"])

    # the game's verdicts, as saved: blinded, interleaved, every trial played by the agent
    (saved_eval,) = (tmp_path / "data").rglob("evaluations/*.json")
    data = json.loads(saved_eval.read_text())
    rows = {row["arm"]: row for row in data["summary"]}
    print(
        "seconds to success",
        [(t["arm"][:4], t["seconds"] and round(t["seconds"], 1)) for t in data["trials"]],
    )
    base, adapter = rows["base"], rows[Path(tuned["out"]).name]
    assert data["judge"] == "game" and data["blind"] and data["stopped_early"] is None, data
    assert data["start"]["yaw_jitter"] == 180 and data["start"]["pitch"] == pytest.approx(START_PITCH, abs=2)
    assert base["trials"] == adapter["trials"] == TRIALS
    assert base["successes"] <= 2, "the base model should rarely mine the stone"
    assert adapter["successes"] >= 8, "the corrections should teach it"
    assert adapter["vs_first"]["verdict"] == "better" and adapter["vs_first"]["p_value"] < 0.05
    assert result["evaluate"]["table"][1][1] == f"{adapter['successes']}/{TRIALS}"  # the window says so

    # and the fine-tune's own figures said so before it played (checked last, so that a failure here
    # still shows what the adapter did in play): sampled as play samples, kind by kind on the person's
    # held-out corrections, no warning on the panel. The final figures decode every held-out frame the
    # budget allows (about 85), not the dozen a kind of the evaluations between: on a dozen, two adapters
    # that mined 10/10 were warned about (look down 10/12 and 8 of 12 dig frames); on every frame,
    # none of 22 such adapters was (assets/experiments/corrections-round-2026-12-07.log).
    final = manifest["metrics"][-1]
    print("final held-out figures on", final["samples"], "frames:", final["kinds"], final["warnings"])
    assert final["samples"] >= manifest["metrics"][0]["samples"], manifest["metrics"]
    assert tuned["warnings"] == [] and tuned["warnings_shown"] == "" and manifest["warnings"] == [], tuned
    # The held-out part is the episode's last fifth: about two corrections, each tick answered once at
    # the play temperature. On a dozen ticks a kind, runs that played 10/10 (base 0/10) scored attack 7,
    # 12, 12, 5 and 12 of 12 and look down 11, 7, 11, 12, 7 and 6, the random base answering 'look down'
    # on up to 7 of them by chance. So the figures are held to what they can say: both kinds together
    # (each kind's rate, the final on its frames, the baseline on its dozen) far better than the base
    # before training, no pauses learnt, and no warning, the panel's own test of one answer given
    # whatever the frame: an adapter stuck on one answer (attack 12/12, look down 0-1/12, seen early in
    # several runs) answers 'attack' on most look-down frames and is warned about.
    base_figures = manifest["metrics"][0]
    assert base_figures["step"] == 0, manifest["metrics"]
    kinds = ("look down", "attack")
    assert min(final["kinds"][kind][1] for kind in kinds) >= 5, final
    after = sum(final["kinds"][kind][0] / final["kinds"][kind][1] for kind in kinds) / len(kinds)
    before = sum(base_figures["kinds"][kind][0] / base_figures["kinds"][kind][1] for kind in kinds) / len(
        kinds
    )
    assert after >= before + 0.3, (base_figures["kinds"], final["kinds"])
    assert final["null_share"] == 0, final
