"""``jarvis-play demo-game``: Luanti/minetest in a fresh world, for anyone without Minecraft.

    jarvis-play demo-game &                      # opens the game on this display, new temporary world
    jarvis-play run --window Minetest --model tiny --instruction "mine the stone"
    jarvis-play demo-game --arena --seconds 60   # flat test platform, quit after a minute

Its keys and mouse-look match Minecraft's defaults (WASD, Space, Left Shift/Ctrl, Q, E, 1–9, mouse
buttons; 0.15° per mouse count). The world lives in a new temporary directory unless --world names
a new one; an existing directory that jarvis-play did not create is never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from app.errors import UserError
from app.games.demo_game import DemoGame, DemoGameConfig, find_binary
from app.runtime.safety import SafetyNet
from app.runtime.watchdog import Guard, Watchdog


def register(sub: Any) -> None:
    p = sub.add_parser("demo-game", help="start Luanti/minetest in a fresh world as a stand-in for Minecraft")
    p.add_argument("--arena", action="store_true", help="a flat stone platform in the sky (as the tests use)")
    p.add_argument("--seed", type=int, default=12345, help="map seed (default 12345)")
    p.add_argument("--size", default="640x360", help="window size WxH (default 640x360, the model's own)")
    p.add_argument(
        "--world", type=Path, help="keep the world in this new directory instead of a temporary one"
    )
    p.add_argument(
        "--seconds", type=float, help="quit after this many seconds (default: when the game closes)"
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if not find_binary():
        raise UserError("minetest is not installed (Debian/Ubuntu: sudo apt-get install minetest)")
    if not os.environ.get("DISPLAY"):
        raise UserError(
            "no display: run it in a desktop session, or under `xvfb-run -a jarvis-play demo-game`"
        )
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise UserError(f"--size wants WxH, got {args.size!r}") from exc
    cfg = DemoGameConfig(width=width, height=height, seed=args.seed, arena=args.arena, world_dir=args.world)
    cfg.die_with_parent = True  # started from the main thread, which lives as long as the command
    game = DemoGame(cfg)
    # SIGTERM and SIGHUP unwind like Ctrl+C, so the game and its temporary world always go with us;
    # after a SIGKILL the game gets SIGTERM from the kernel (die_with_parent) and the watchdog
    # removes the world.
    with SafetyNet(lambda: None), contextlib.suppress(KeyboardInterrupt):
        _serve(game, args.seconds)
    return 0


def _serve(game: Any, seconds: float | None) -> None:
    dog = None
    try:
        try:
            game.start()
        except (FileExistsError, FileNotFoundError, RuntimeError, TimeoutError) as exc:
            raise UserError(str(exc)) from exc
        assert game.proc is not None and game.world is not None
        owned = str(game.root) if game.config.world_dir is None and game.root is not None else None
        try:
            guard = Guard(display=game.display, keys=[], kill_pid=game.proc.pid, remove_dir=owned)
            dog = Watchdog(guard).start()
        except Exception as exc:  # a convenience: the game still dies with us, only the world may stay
            print(f"jarvis-play demo-game: no watchdog ({exc}); a killed demo-game may leave {owned}")
        print(f"demo game running: pid {game.proc.pid}, window {game.window_id:#x}, world {game.world}")
        print(f"pose log: {game.world / 'jarvis_pose.jsonl'}")
        print("play it with: jarvis-play run --window Minetest --model tiny --instruction '...'", flush=True)
        deadline = None if seconds is None else time.monotonic() + seconds
        while game.proc.poll() is None and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
    finally:
        game.close()
        if dog is not None:
            dog.stop()
