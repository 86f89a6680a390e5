"""Every exit path releases held input: signals in a real child process, exceptions in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.games.fake import FakeConnector
from app.runtime.loop import LoopConfig
from app.runtime.runner import RunSettings, run_agent
from model.actions.env import null_action
from model.policies.scripted import ScriptedPolicy

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    from app.games.fake import FakeConnector
    from app.runtime.loop import LoopConfig
    from app.runtime.runner import RunSettings, run_agent
    from model.actions.env import null_action
    from model.policies.scripted import ScriptedPolicy

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

    policy = ScriptedPolicy([dict(null_action(), forward=1, attack=1)], loop=True)
    run_agent(Loud(), policy, "", RunSettings(LoopConfig(hz=50, seconds=30), listen=False))
    """
)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)]
)
def test_signals_release_held_input(sig: int, code: int, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=10)
    assert "released attack,forward" in out, err
    assert proc.returncode == code, err  # an uncaught KeyboardInterrupt exits by SIGINT


def test_exception_in_a_subscriber_does_not_leave_keys_down() -> None:
    conn = FakeConnector()
    policy = ScriptedPolicy([dict(null_action(), forward=1)], loop=True)

    class Boom(Exception):
        pass

    failures: list[int] = []

    def explode(rec):  # type: ignore[no-untyped-def]
        if conn.held:
            failures.append(rec.tick)
            raise Boom

    settings = RunSettings(LoopConfig(hz=1000, max_ticks=60), listen=False)
    result = run_agent(conn, policy, "", settings, on_tick=explode)  # subscriber errors are logged, not fatal
    assert result.telemetry.ticks == 60 and failures and conn.held == frozenset()

    class Broken(FakeConnector):
        def observe(self):  # type: ignore[no-untyped-def]
            if len(self.applied) > 3:
                raise Boom
            return super().observe()

    broken = Broken()
    replay = [dict(null_action(), jump=1)] * 100
    with pytest.raises(Boom):
        run_agent(broken, None, "", settings, actions=replay)
    # the tick after the fourth action raised, and nothing stayed down
    assert len(broken.applied) == 4 and broken.held == frozenset() and broken.releases == ["jump"]
