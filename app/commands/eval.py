"""``jarvis-play eval``: does the agent do the task? Success rates from play, not token accuracy.

    jarvis-play eval --model tiny --adapter runs/round1 --game demo --task mine_block:stone \\
        --trials 10 --seconds 20 --start 0,100,0,0,-50 --plot stone.png
    jarvis-play eval --model ./JarvisVLA --adapter a1 --adapter a2 --window Minecraft \\
        --instruction "chop a tree" --trials 8 --seconds 60          # you judge: F6 success, F7 failure

Arms: the base model first (unless --no-base), then each --adapter, hot-swapped between trials. Trials
of the arms are interleaved in random order; while the person judges, the arm playing is not shown
until the run ends. Each trial is a recorded episode (mode "agent") with its outcome set. The demo
game's mod judges mine_block/craft_item/pickup/drop/use_item tasks and resets the world between trials;
elsewhere the person presses the success or failure key, a timeout is a failure, and the next trial
starts when they have reset the game and pressed the ready key.

Results: per arm, the success rate with a 95% Wilson interval and Fisher's exact test (two-sided)
against the first arm; per trial, the time to success. A JSON file per run and a history across
fine-tune rounds go to --out; --plot draws the history as a PNG.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from app.commands.connect_args import add_loop_args, add_target_args, game_spec, settings_from
from app.errors import UserError
from app.eval import results
from app.eval.judges import PersonJudge, StartState
from app.eval.plot import save_history_plot
from app.eval.setup import build, choose_judge, demo_game, start_here
from app.runtime.hotkeys import binding
from app.session import Session
from app.settings import episodes_root
from recorder.episodes import RecordMode

LOG = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("eval", help="success rates in the game: base vs adapters, blinded, with a history")
    p.add_argument("--model", default=None, help="the base model (default: the settings' model)")
    p.add_argument(
        "--adapter", action="append", default=[], metavar="DIR", help="an adapter arm (repeatable)"
    )
    p.add_argument(
        "--no-base", action="store_true", help="only the adapters (the first one is the reference)"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--task", metavar="KEY", help="a JARVIS-VLA task key, e.g. mine_block:stone")
    what.add_argument(
        "--instruction", metavar="TEXT", help="free text (the person judges unless it names a task)"
    )
    p.add_argument("--trials", type=int, default=10, help="trials per arm (default 10)")
    p.add_argument(
        "--judge",
        choices=("auto", "game", "person"),
        default="auto",
        help="auto: the demo game's mod where it can tell, else you",
    )
    p.add_argument("--success-key", default="f6", help="the person's success key (default F6)")
    p.add_argument("--failure-key", default="f7", help="the person's failure key (default F7)")
    p.add_argument("--ready-key", default="f8", help="starts the next trial once the game is reset (F8)")
    p.add_argument("--no-blind", action="store_true", help="show which arm plays each trial")
    p.add_argument("--seed", type=int, help="the order of the trials (default: random)")
    p.add_argument(
        "--start",
        metavar="X,Y,Z,YAW,PITCH",
        help="demo game: where each trial starts (default: where the player is at the start)",
    )
    p.add_argument("--yaw-jitter", type=float, default=0.0, help="demo game: turn each start by up to ± this")
    p.add_argument(
        "--give",
        action="append",
        default=[],
        metavar="ITEM[:N]",
        help="demo game: put this in the inventory at each start, e.g. default:tree:1",
    )
    p.add_argument(
        "--temperature", type=float, help="sampling temperature for every arm (default: the settings', 0.7)"
    )
    p.add_argument("--out", type=Path, help="results and history folder (default: beside the episodes)")
    p.add_argument("--plot", type=Path, metavar="PNG", help="draw the task's history across rounds here")
    add_target_args(p)
    add_loop_args(p, seconds=30.0)
    p.set_defaults(func=main)


def default_out(settings: Any) -> Path:
    return episodes_root(settings).parent / "evaluations"


def parse_start(text: str | None, game: Any) -> Any:
    if text is None:
        return start_here(game)
    try:
        x, y, z, yaw, pitch = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise UserError(f"--start wants X,Y,Z,YAW,PITCH (degrees, + pitch looks down), not {text!r}") from exc
    return StartState(pos=(x, y, z), yaw=yaw, pitch=pitch)


def parse_give(items: list[str]) -> list[tuple[str, int]]:
    """``default:tree:3`` -> (default:tree, 3); ``default:tree`` -> (default:tree, 1)."""
    out = []
    for item in items:
        name, _, count = item.rpartition(":")
        out.append((name, int(count)) if ":" in name and count.isdigit() else (item, 1))
    return out


def make_judge(args: argparse.Namespace, session: Any, task: str | None, person: Any = None) -> Any:
    """The game's mod when it can tell (demo game, a judgeable task), else the person's hotkeys."""
    person = person or PersonJudge(args.success_key, args.failure_key, args.ready_key)
    game = demo_game(session)
    start = None
    if game is not None and args.judge != "person":
        start = parse_start(args.start, game)
        start.yaw_jitter = args.yaw_jitter
        start.give = parse_give(args.give)
    try:
        return choose_judge(session, task, args.judge, person, start, args.seed)
    except ValueError as exc:
        raise UserError(f"--judge game: {exc}") from exc


def evaluate(session: Any, args: argparse.Namespace, say: Any = print, judge: Any = None) -> Any:
    """Run the evaluation ``args`` describe on an open session with the base model loaded; returns
    (result, results file). A person judge's keys must already reach it (the session's ``on_hotkey``)."""
    if args.trials < 1 or args.seconds is None or args.seconds <= 0:
        raise UserError("--trials and --seconds must be positive")
    text = args.task or args.instruction
    task = args.task or session.tasks.task_of(text)
    judge = judge or make_judge(args, session, task)
    try:
        evaluation = build(
            session,
            text,
            args.adapter,
            trials=args.trials,
            seconds=args.seconds,
            include_base=not args.no_base,
            judge=judge,
            blind=False if args.no_blind else None,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    evaluation.on_progress.append(say)
    say(
        f"evaluating {len(evaluation.arms)} arm(s) × {args.trials} trials of {args.seconds:g} s, judged by "
        f"the {judge.who}" + (" (blind: the arms are named at the end)" if evaluation.blind else "")
    )
    try:
        result = evaluation.run()
    except KeyboardInterrupt:
        interrupted = evaluation.result
        assert interrupted is not None
        interrupted.stopped_early = "interrupted"
        result = interrupted
    out = args.out or default_out(session.settings)
    path = results.save(result, out)
    if args.plot:
        save_history_plot(results.read_history(out), result.task or result.instruction, args.plot)
    return result, path


def main(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    settings.record = True
    settings.record_mode = RecordMode.AGENT
    if args.temperature is not None:
        settings.temperature = args.temperature
    person = PersonJudge(args.success_key, args.failure_key, args.ready_key)
    keys: dict[str, Callable[[], None]] = {binding(k): partial(person.press, k) for k in person.keys}
    session = Session(settings, listen=not args.no_listen, on_hotkey=keys)
    session.install_safety()
    with session:
        try:
            session.open_game(game_spec(args), progress=print)
            session.load_model(args.model or settings.model, progress=lambda m: LOG.info("%s", m))
        except (OSError, ValueError) as exc:
            raise UserError(f"could not open the game or the model: {exc}") from exc
        task = args.task or session.tasks.task_of(args.instruction)
        judge = make_judge(args, session, task, person)
        if judge.who == "person" and session._listener is None:  # no hotkeys: nobody could judge
            raise UserError(
                "the person judges with global hotkeys, but no keyboard listener runs here "
                "(--no-listen, or no X11 input): judge in the demo game (--game demo) instead"
            )
        result, path = evaluate(session, args, judge=judge)
    print(result.format())
    print(f"results: {path}")
    if args.plot:
        print(f"plot: {args.plot}")
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0 if not result.stopped_early else 1
