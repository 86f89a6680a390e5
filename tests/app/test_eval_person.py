"""The person judges, blind: ``eval`` in a real minetest, base against an adapter, 2 trials each,
with the success / failure / ready hotkeys pressed by xdotool (real XTEST key events the global
listener sees, as it would see a person's). Between trials the run waits for the ready key; while it
runs, nothing it says names the arm playing; at the end the results name both arms and record what
the keys decided."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.app.test_eval_game import lent_session
from tests.game_fixtures import xdotool

pytestmark = [pytest.mark.xvfb, pytest.mark.game, pytest.mark.slow]


@pytest.fixture
def connector(game: Any, xvfb: str):  # type: ignore[no-untyped-def]
    from app.games.desktop import DesktopConfig, DesktopConnector

    c = DesktopConnector(DesktopConfig(pid=game.proc.pid), display=xvfb).open()
    yield c
    c.close()


def test_hotkeys_decide_blinded_trials(
    game: Any,
    connector: Any,
    xvfb: str,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    from app.cli import build_parser
    from app.commands.eval import evaluate
    from app.eval.judges import PersonJudge
    from app.runtime.hotkeys import binding
    from tests.model.lora import make_adapter

    adapter = make_adapter(tiny_model_dir, tmp_path / "round1", 1, str(tiny_model_dir))
    lines: list[str] = []
    person = PersonJudge(say=lines.append)
    keys = {binding(k): (lambda k=k: person.press(k)) for k in person.keys}
    session = lent_session(game, connector, tmp_path, model=str(tiny_model_dir), listen=True, on_hotkey=keys)
    assert session._listener is not None, "no global listener: the hotkeys could not be tested"
    args = build_parser().parse_args(
        [
            "eval",
            "--instruction",
            "dance a little",
            "--adapter",
            str(adapter),
            "--trials",
            "2",
            "--seconds",
            "20",
            "--fake",
            "--seed",
            "4",
            "--out",
            str(tmp_path / "evals"),
        ]
    )
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = evaluate(session, args, say=lines.append, judge=person)
        except BaseException as exc:  # the assertion below shows it
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    plan = [True, False, False, True]
    try:
        thread.start()
        for i, ok in enumerate(plan):
            deadline = time.monotonic() + 30
            while not any(f"Trial {i + 1}:" in line for line in lines):
                assert time.monotonic() < deadline and thread.is_alive(), (lines, out)
                time.sleep(0.05)
            time.sleep(0.3)
            assert not session.running, "a trial started before the ready key"
            xdotool(xvfb, "key", "F8")
            deadline = time.monotonic() + 10
            while not session.running:
                assert time.monotonic() < deadline, "the ready key did not start the trial"
                time.sleep(0.05)
            time.sleep(0.5)  # the agent plays a little
            xdotool(xvfb, "key", "F6" if ok else "F7")
            deadline = time.monotonic() + 10
            while session.running:
                assert time.monotonic() < deadline, "the verdict key did not end the trial"
                time.sleep(0.05)
        thread.join(60)
    finally:
        session.close()
    assert "error" not in out, out.get("error")
    result, path = out["result"]
    assert [t.success for t in result.trials] == plan
    assert all(t.why == ("success key" if t.success else "failure key") for t in result.trials)
    assert all(t.seconds is not None and 0.3 < t.seconds < 15 for t in result.trials if t.success)
    assert sorted(t.arm for t in result.trials) == ["base", "base", "round1", "round1"]
    assert result.blind and result.judge == "person"
    assert not any("base" in line or "round1" in line for line in lines), lines
    summary = {row["arm"]: row for row in result.summary()}
    assert summary["base"]["trials"] == summary["round1"]["trials"] == 2
    assert "round1" in result.format() and path.exists()
