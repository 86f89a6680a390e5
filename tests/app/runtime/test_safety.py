"""Every exit path releases held input: signals in a real child process, exceptions in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.games.fake import FakeConnector
from app.runtime.loop import ControlLoop, LoopConfig
from model.actions.env import null_action
from tests.clock import ClockedPolicy, FakeClock, follow_loop
from tests.terminal import as_a_background_job, as_from_a_terminal, as_with_nohup

REPO = Path(__file__).resolve().parents[3]

# The headless doors' path: a Session (the composition root) with its safety net, playing a fake game
# that says what it holds and what was released.
CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from app.games.fake import FakeConnector
    from app.games.spec import OpenGame
    from app.session import Session
    from app.settings import Settings

    class Loud(FakeConnector):
        def release_all(self):
            had = sorted(self.held)
            super().release_all()
            if had:
                print("released", ",".join(had), flush=True)

        def apply(self, action):
            super().apply(action)
            if len(self.applied) == 5:
                print("holding", flush=True)

    def game(spec, options=None, *, display=None, progress=None, on_process=None):
        return OpenGame(spec, Loud(), "a loud fake game", None, "fake")

    with Session(Settings(tick_hz=50), listen=False, game_factory=game) as session:
        session.open_game("fake")
        session.load_model("scripted:" + {actions!r})  # the real factory: a scripted model
        session.start(seconds=30)
        session.wait()
    """
)


def holding_child(tmp_path: Path, start: Callable[[], None]) -> subprocess.Popen[str]:
    """The headless doors' session in a child started by ``start``, once the fake game holds W and the
    left button."""
    script = tmp_path / "child.py"
    actions = tmp_path / "hold.jsonl"
    actions.write_text('{"forward": 1, "attack": 1}\n')
    script.write_text(CHILD.format(repo=str(REPO), actions=str(actions)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "JARVIS_PLAY_CONFIG_DIR": str(tmp_path / "config")},
        preexec_fn=start,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if first != "holding":
        proc.kill()
        _out, err = proc.communicate(timeout=10)
        pytest.fail(f"the child never held a key: {first!r}\n{err}")
    return proc


def outlives(proc: subprocess.Popen[str], sig: int) -> tuple[bool, tuple[str, str]]:
    """Whether ``proc`` is still running a second after ``sig``, and its output once SIGTERM (sent only
    if it is) has ended it."""
    os.kill(proc.pid, sig)
    time.sleep(1.0)
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGTERM)
    return alive, proc.communicate(timeout=20)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)]
)
def test_signals_release_held_input(sig: int, code: int, tmp_path: Path) -> None:
    proc = holding_child(tmp_path, as_from_a_terminal)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=10)
    assert "released attack,forward" in out, err
    assert proc.returncode == code, err  # an uncaught KeyboardInterrupt exits by SIGINT


@pytest.mark.parametrize(
    ("start", "sig"), [(as_with_nohup, signal.SIGHUP), (as_a_background_job, signal.SIGINT)]
)
def test_a_signal_ignored_from_the_start_stays_ignored_and_sigterm_still_releases(
    start: Callable[[], None], sig: int, tmp_path: Path
) -> None:
    """``nohup jarvis-play ...`` must outlive its terminal's SIGHUP, and a script's background job keeps
    playing through the foreground job's Ctrl+C; SIGTERM still releases what the agent holds. Caught
    anyway, the closed terminal released the keys and ended the agent with exit 129 (-2 for SIGINT)."""
    proc = holding_child(tmp_path, start)
    alive, (out, err) = outlives(proc, sig)
    assert alive, f"the ignored {signal.Signals(sig).name} ended the agent:\n{out}\n{err}"
    assert out.count("released") == 1 and "released attack,forward" in out, (out, err)
    assert proc.returncode == 128 + signal.SIGTERM, err


@pytest.mark.parametrize(
    ("start", "sig"), [(as_with_nohup, signal.SIGHUP), (as_a_background_job, signal.SIGINT)]
)
def test_jarvis_play_run_started_with_nohup_or_in_the_background_keeps_playing_through_that_signal(
    start: Callable[[], None], sig: int, tmp_path: Path
) -> None:
    """The same through the command a person types: ``jarvis-play run`` on the test pattern, playing,
    gets the signal its start said to ignore and plays on; SIGTERM still ends it (exit 143)."""
    hold = tmp_path / "hold.jsonl"
    hold.write_text('{"forward": 1, "attack": 1}\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env["JARVIS_PLAY_CONFIG_DIR"] = str(tmp_path / "config")
    argv = ["run", "--fake", "--model", f"scripted:{hold}", "--seconds", "60", "--no-listen"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=start,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # ends when the child does, so a crash cannot hang this loop
        seen.append(line)
        if line.startswith("playing:"):
            break
    assert seen and seen[-1].startswith("playing:"), "".join(seen)
    alive, (out, _) = outlives(proc, sig)
    said = "".join(seen) + out
    assert alive, f"the ignored {signal.Signals(sig).name} ended `jarvis-play run`:\n{said}"
    # the session names what stopped its run: SIGTERM, never the ignored signal (still alive a second
    # later is not enough: a run stopped by it can take longer than that to wind down)
    assert "run ended (signal 15)" in out and f"run ended (signal {sig})" not in out, said
    assert proc.returncode == 128 + signal.SIGTERM, out


class Boom(Exception):
    pass


def test_exception_in_a_subscriber_does_not_leave_keys_down() -> None:
    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [dict(null_action(), forward=1)])
    loop = ControlLoop(conn, policy, "", LoopConfig(hz=100, max_ticks=60), clock=clock, sleep=clock.sleep)
    follow_loop(clock, loop)
    failures: list[int] = []

    def explode(rec):  # type: ignore[no-untyped-def]
        if conn.held:
            failures.append(rec.tick)
            raise Boom

    loop.subscribers.append(explode)
    tel = loop.run()  # subscriber errors are logged, not fatal
    assert tel.ticks == 60 and failures == list(range(1, 60))  # forward is held from tick 1 on
    assert conn.held == frozenset() and conn.releases == ["forward"]


def test_exception_in_the_game_stops_the_loop_and_releases() -> None:
    class Broken(FakeConnector):
        def observe(self) -> np.ndarray:
            if len(self.applied) > 3:
                raise Boom
            return super().observe()

    clock = FakeClock()
    broken = Broken()
    replay = [dict(null_action(), jump=1)] * 100
    loop = ControlLoop(broken, None, "", LoopConfig(hz=100), actions=replay, clock=clock, sleep=clock.sleep)
    with pytest.raises(Boom):
        loop.run()
    # the tick after the fourth action raised, and nothing stayed down
    assert len(broken.applied) == 4 and broken.held == frozenset() and broken.releases == ["jump"]
    assert loop.error is not None and loop.control.stop_reason.startswith("error")


def test_a_signal_inside_an_uninterrupted_step_releases_at_once_and_raises_after_it() -> None:
    """Starting the demo game and noting its pid, or stopping it and removing its world, must not be
    cut in half by the signal's exception (a game and a folder outlived a signalled window)."""
    import time

    from app.runtime.safety import SafetyNet
    from app.signals import uninterrupted

    steps: list[str] = []
    with pytest.raises(SystemExit) as info, SafetyNet(lambda: steps.append("released")):
        with uninterrupted():
            steps.append("started")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler has run by now (Python runs it between bytecodes)
            with uninterrupted():  # nested: only the outermost step's end raises
                steps.append("nested")
            steps.append("finished")
        steps.append("never")
    assert info.value.code == 128 + signal.SIGTERM
    assert steps == ["started", "released", "nested", "finished", "released"]  # and again on the way out
