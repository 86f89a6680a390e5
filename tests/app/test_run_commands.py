"""The headless doors (run, replay, record) end to end on the fake connector (no display needed).

Each goes through the composition root (``app.session.Session``), so these also check that the
doors share the safety net, the settings reading and the recording."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from app.commands import run
from app.errors import UserError


@pytest.fixture(autouse=True)
def own_settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The doors read the user's settings file: give each test an empty one of its own."""
    monkeypatch.setenv("JARVIS_PLAY_CONFIG_DIR", str(tmp_path / "config"))


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_run_with_a_scripted_model_on_the_fake_game(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "walk.jsonl"
    script.write_text('{"forward": 1}\n{"forward": 1, "camera": [0, 2]}\n')
    args = parse(
        "run", "--fake", "--model", f"scripted:{script}", "--seconds", "0.5", "--no-listen", "--json"
    )
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # 0.5 s at 20 Hz: never more than 11 ticks. A loaded machine manages fewer (7 seen with both cores
    # busy), and the tick rate itself is checked exactly on the fake clock (tests/app/runtime/test_loop.py).
    assert 1 <= summary["ticks"] <= 11
    assert summary["injected"] == summary["ticks"]
    assert summary["actions_per_s"] > 0


def test_replay_on_the_fake_game_counts_every_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "a.jsonl"
    script.write_text('{"jump": 1}\n' * 6)
    args = parse("replay", str(script), "--fake", "--no-listen", "--json", "--hz", "100")
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ticks"] == 6 and summary["missed_ticks"] == 0


def test_user_errors_are_plain(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="exactly one of"):
        args = parse("replay", str(tmp_path / "x.jsonl"), "--no-listen")
        (tmp_path / "x.jsonl").write_text("{}\n")
        args.func(args)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:1"):
        args = parse("replay", str(bad), "--fake")
        args.func(args)
    with pytest.raises(UserError, match="unknown key"):
        args = parse("run", "--fake", "--panic-key", "hyper", "--model", "scripted:x")
        args.func(args)


def test_record_teleop_and_corrections_write_episodes_through_the_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``record`` builds its agent in the composition root: one episode per run, meta from the game."""
    from app.commands import record
    from recorder.episodes.format import list_episodes, read_meta

    parser = argparse.ArgumentParser()
    record.register(parser.add_subparsers())
    out = tmp_path / "eps"
    fake = ["record", "--fake", "--out", str(out), "--seconds", "0.5", "--no-listen"]  # both runs
    args = parser.parse_args([*fake, "--instruction", "chop a tree", "--outcome", "success"])
    assert args.func(args) == 0
    script = tmp_path / "walk.jsonl"
    script.write_text('{"forward": 1}\n')
    args = parser.parse_args([*fake, "--mode", "corrections", "--model", f"scripted:{script}"])
    assert args.func(args) == 0
    folders = list_episodes(out)
    assert len(folders) == 2
    by_mode = {read_meta(f).mode: f for f in folders}  # names sort by start time, to the second
    teleop, agent = read_meta(by_mode["teleop"]), read_meta(by_mode["corrections"])
    assert (teleop.mode, teleop.game, teleop.status, teleop.outcome) == (
        "teleop",
        "fake",
        "complete",
        "success",
    )
    # ~10 ticks in 0.5 s; fewer on a loaded machine (1 seen). Frames and lines always pair up.
    assert teleop.model_id is None and teleop.frame_count >= 1 and teleop.frame_count == teleop.line_count
    assert (agent.mode, agent.game, agent.model_id) == ("corrections", "fake", f"scripted:{script}")
    assert agent.app_version
    lines = [json.loads(x) for x in (by_mode["corrections"] / "actions.jsonl").read_text().splitlines()]
    assert len(lines) == agent.frame_count and all(x["control"] == "agent" for x in lines)
    # the first tick or two come before the scripted model's first answer: a null action is applied
    walked = [x["action"]["forward"] == 1 for x in lines]
    assert sum(walked) >= len(lines) - 2 and walked[-1]


def test_a_bad_model_is_a_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app import cli

    missing = tmp_path / "no-such-model"
    code = cli.main(["run", "--fake", "--no-listen", "--seconds", "0.2", "--model", str(missing)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "no-such-model" in err


def test_game_flags_and_specs_name_one_game(tmp_path: Path) -> None:
    from app.commands.connect_args import game_spec

    assert str(game_spec(parse("replay", "x", "--pid", "42"))) == "pid:42"
    assert str(game_spec(parse("replay", "x", "--game", "window:Minecraft"))) == "window:Minecraft"
    assert str(game_spec(parse("replay", "x", "--env", "minestudio"))) == "minerl:minestudio"
    with pytest.raises(UserError, match="exactly one of"):
        game_spec(parse("replay", "x", "--fake", "--window", "Minecraft"))


def test_a_covered_game_pauses_the_agent_and_is_never_given_to_the_model_nor_recorded(tmp_path: Path) -> None:
    """A frame that shows a window over the game is neither given to the model nor recorded: checked
    on what the policy was handed and on the recorded video's pixels, through the session."""
    from app.games.fake import FakeConnector
    from model.policies.base import PolicyStep
    from model.policies.scripted import ScriptedPolicy
    from recorder.episodes.format import list_episodes, read_meta
    from recorder.episodes.video import read_frames
    from tests.sessions import session_for

    magenta = np.array([255, 0, 255])

    def shows_the_dialog(frame: np.ndarray) -> bool:
        return float(np.mean(np.all(np.abs(frame.astype(int) - magenta) <= 40, axis=-1))) > 0.5

    class Covered(FakeConnector):
        """A dialog over a screen-grabbed game in grabs 5 to 14: it arrives during grab 5 (after the
        check before it) and leaves during grab 15. The run ends after grab 40 (39 ticks after the
        warm-up grab), however loaded the machine."""

        def observe(self):  # type: ignore[no-untyped-def]
            self.ticks = getattr(self, "ticks", 0) + 1
            self.finished = self.ticks >= 40
            self.cover = "Settings dialog" if 5 <= self.ticks < 15 else None
            frame = super().observe()
            if self.cover:
                frame[:] = magenta
            return frame

    class Watching(ScriptedPolicy):
        def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
            given.append(shows_the_dialog(frame))
            return super().act(frame, instruction)

    given: list[bool] = []
    conn = Covered()
    out = tmp_path / "eps"
    session = session_for(
        conn,
        policy=Watching([{"forward": 1}], loop=True),
        record=True,
        record_mode="agent",
        episodes_dir=str(out),
        tick_hz=100,
    )
    runs = []
    try:
        for teleop in (False, True):  # the agent plays, then the person: covered ticks never count
            conn.ticks = 0
            session.start(seconds=30, teleop=teleop)
            runs.append(session.wait(30))
    finally:
        session.close()
    assert len(given) >= 3 and not any(given), "a frame showing the dialog was given to the model"
    episodes = {m.mode: (f, m) for f, m in ((f, read_meta(f)) for f in list_episodes(out))}
    for outcome, mode in zip(runs, ("agent", "teleop"), strict=True):
        assert outcome is not None and outcome.telemetry is not None
        covered = [r for r in outcome.telemetry.records if r.covered]
        # the 10 frames that show it, and the one after: the check before its grab still saw it
        assert outcome.telemetry.ticks == 39
        assert len(covered) == 11 and not any(r.injected for r in covered)
        folder, meta = episodes[mode]
        assert meta.frame_count == 39 - 11  # every shown frame only
        recorded = [shows_the_dialog(f) for f in read_frames(folder / "video.mp4")]
        assert len(recorded) == meta.frame_count and not any(recorded)
    assert conn.held == frozenset()


def test_episode_phrasing_draws_one_trained_phrasing_per_run() -> None:
    """task_phrasing = "episode": each run's prompt is one of the key's trained phrasings, fixed
    for the run; "first" always gives the first."""
    from app.games.fake import FakeConnector
    from model.policies.scripted import ScriptedPolicy
    from tests.sessions import session_for

    conn = FakeConnector()
    policy = ScriptedPolicy([{"forward": 1}], loop=True)
    session = session_for(conn, policy=policy, task_phrasing="episode", tick_hz=100)
    key = "mine_block:oak_log"
    phrasings = session.tasks.tasks[key]
    assert len(phrasings) > 1
    session.set_instruction(key)
    drawn = []
    try:
        for _ in range(12):
            session.start(seconds=0.03)
            assert session.wait(10) is not None
            assert session.loop is not None
            drawn.append(session.loop.instruction)
            assert session.prompt() == drawn[-1]  # what the window shows is what the model got
    finally:
        session.close()
    assert set(drawn) <= set(phrasings) and len(set(drawn)) > 1
    first = session_for(conn, policy=policy)
    first.set_instruction(key)
    assert first.prompt() == phrasings[0]
    first.close()


def test_the_games_own_gui_state_and_pointer_reach_the_recorded_lines(tmp_path: Path) -> None:
    """Where the connector reads them from the game, isGuiOpen and mouse.x/y on every line are the
    game's (not guessed from the agent's inventory presses)."""
    from app.games.fake import FakeConnector
    from model.policies.scripted import ScriptedPolicy
    from recorder.episodes.format import list_episodes
    from tests.sessions import session_for

    class WithGui(FakeConnector):
        def observe(self):  # type: ignore[no-untyped-def]
            self.ticks = getattr(self, "ticks", 0) + 1
            self.gui_open = self.ticks % 10 >= 5  # the game opens and closes a screen by itself
            self.pointer = (100.0 + self.ticks, 50.0)
            return super().observe()

        @property
        def cursor(self):  # type: ignore[no-untyped-def]
            return getattr(self, "pointer", None)

    out = tmp_path / "eps"
    session = session_for(
        WithGui(),
        policy=ScriptedPolicy([{"forward": 1}], loop=True),
        record=True,
        record_mode="agent",
        episodes_dir=str(out),
        tick_hz=50,
    )
    try:
        session.start(seconds=0.6)
        assert session.wait(30) is not None
    finally:
        session.close()
    lines = [json.loads(x) for x in (list_episodes(out)[0] / "actions.jsonl").read_text().splitlines()]
    assert len(lines) > 15
    opened = [x["isGuiOpen"] for x in lines]
    assert any(opened) and not all(opened)
    xs = [x["mouse"]["x"] for x in lines]
    assert all(101 <= x <= 140 for x in xs) and xs == sorted(xs)  # the game's pointer, tick by tick
