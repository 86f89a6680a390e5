"""``jarvis-play calibrate``: measure how far a game's view turns per mouse count, where no settings say.

    jarvis-play calibrate --window Minetest
    jarvis-play calibrate --window "My modded game" --out cal.json

The game must have the view (no menu open) and hold the mouse. The command turns the view right in
small known moves (XTEST, as the agent injects) and watches the captured frames until the view comes
back to the first image: that many counts are 360°, whatever the FOV, sensitivity or acceleration
curve at this speed. It then turns back the overshoot. The law is kept per window title in
``~/.config/jarvis-play/camera-calibration.json`` (``app.games.game_settings.calibrated_settings``).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import UserError
from app.games import game_settings
from app.games.desktop import KEY_CODES
from recorder.desktop import DesktopError, open_desktop
from recorder.input import CameraLaw, InjectionLedger

ASSUMED_HFOV = 102.0  # degrees, only for the first guess of the step size (70° vertical on 16:9)


def register(sub: Any) -> None:
    parser = sub.add_parser("calibrate", help="measure a game's camera law (degrees per mouse count)")
    parser.add_argument("--window", required=True, help="a part of the game window's title")
    parser.add_argument("--step-degrees", type=float, default=2.0, help="size of each probing turn")
    parser.add_argument("--settle", type=float, default=0.1, help="seconds to wait for a frame after a move")
    parser.add_argument("--out", type=Path, default=None, help="calibration file (default: the app's)")
    parser.set_defaults(func=main)


@dataclass
class FullTurn:
    counts_per_turn: float  # counts for 360°
    step: int
    samples: list[tuple[int, float]]  # (counts so far, mean difference from the first image)

    @property
    def degrees_per_count(self) -> float:
        return 360.0 / self.counts_per_turn


def gray(frame: np.ndarray, size: int = 160) -> np.ndarray:
    """A small float grey image: cheap to compare, blind to single-pixel noise."""
    img = frame.astype(np.float32).mean(axis=2)
    fy, fx = max(1, img.shape[0] // (size * 9 // 16)), max(1, img.shape[1] // size)
    h, w = img.shape[0] // fy * fy, img.shape[1] // fx * fx
    return img[:h, :w].reshape(h // fy, fy, w // fx, fx).mean(axis=(1, 3))


def horizontal_shift(a: np.ndarray, b: np.ndarray, most: int | None = None) -> float:
    """Pixels the view's content moved left from ``a`` to ``b``: the shift with the least difference,
    over the top two thirds (the hotbar at the bottom does not move with the view)."""
    rows = slice(0, a.shape[0] * 2 // 3)
    width = a.shape[1]
    most = most or width // 3
    best, best_err = 0, float("inf")
    for shift in range(-most, most + 1):
        if shift >= 0:
            err = float(np.abs(a[rows, shift:] - b[rows, : width - shift]).mean())
        else:
            err = float(np.abs(a[rows, :shift] - b[rows, -shift:]).mean())
        if err < best_err:
            best, best_err = shift, err
    return float(best)


def measure_full_turn(
    turn: Callable[[int], None],
    grab: Callable[[], np.ndarray],
    step_degrees: float = 2.0,
    settle: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
) -> FullTurn:
    """Turn right until the view returns to the first image; the counts that took are 360°."""
    ref = gray(grab())
    px, probe = 0.0, 4
    while abs(px) < 3 and probe <= 256:  # a probe big enough to see, small enough to stay in view
        probe *= 2
        turn(probe)
        sleep(settle)
        px = horizontal_shift(ref, gray(grab()))
        turn(-probe)
        sleep(settle)
    if abs(px) < 1:
        raise RuntimeError("the view did not turn: is the game focused and in play (no menu)?")
    guess = abs(px) / ref.shape[1] * ASSUMED_HFOV / probe  # degrees per count, within a factor of ~1.5
    step = max(1, round(step_degrees / guess))
    limit = int(2.0 * 360.0 / guess)
    samples: list[tuple[int, float]] = []
    total = 0
    while total < limit:
        turn(step)
        total += step
        sleep(settle)
        diff = float(np.abs(gray(grab()) - ref).mean())
        samples.append((total, diff))
        typical = float(np.median([d for _, d in samples]))  # views elsewhere differ about this much
        low = [i for i, (c, d) in enumerate(samples) if c * guess > 180 and d < 0.6 * typical]
        if low and len(samples) - 1 - min(low, key=lambda i: samples[i][1]) >= 4:
            break  # past the best match by a few steps: the view is moving away from the start again
    else:
        raise RuntimeError(f"the view never came back to its first image within {limit} counts")
    best = min((i for i, (c, _) in enumerate(samples) if c * guess > 180), key=lambda i: samples[i][1])
    counts = float(samples[best][0])
    if 0 < best < len(samples) - 1:  # the parabola through the minimum and its neighbours
        d0, d1, d2 = samples[best - 1][1], samples[best][1], samples[best + 1][1]
        denom = d0 - 2 * d1 + d2
        if denom > 0:
            counts += step * 0.5 * (d0 - d2) / denom
    turn(-(total - round(counts)))  # back to the first view
    return FullTurn(counts, step, samples)


def main(args: argparse.Namespace) -> int:
    try:
        desktop = open_desktop()
    except DesktopError as exc:
        raise UserError(str(exc)) from exc
    try:
        try:
            win = desktop.find_window(args.window)
        except LookupError as exc:
            raise UserError(f"{exc}. Is the game running?") from exc
        desktop.focus(win.id)
        left, top, width, height = win.rect
        desktop.warp_pointer(left + width // 2, top + height // 2)
        time.sleep(0.3)  # the game takes focus and grabs the pointer
        if desktop.probe_capture(win.id) is None:  # the window's own pixels: nothing covers them
            capture = desktop.window_capture(win.id, (width, height))
        else:
            capture = desktop.screen_capture(lambda: win.rect, (width, height))
        injector = desktop.injector(InjectionLedger(), KEY_CODES)
        try:
            return _calibrate(args, win, capture, injector, CameraLaw)
        finally:
            injector.close()
            capture.close()
    finally:
        desktop.close()


def _calibrate(args: argparse.Namespace, win: Any, capture: Any, injector: Any, camera_law: Any) -> int:
    width, height = win.rect[2], win.rect[3]

    def turn(counts: int) -> None:
        while counts:  # in moves that stay inside the window, as a hand on a mouse does
            part = max(-(width // 4), min(width // 4, counts))
            injector.move_by(part, 0)
            injector.flush()
            counts -= part
            if counts:
                time.sleep(0.02)

    try:
        result = measure_full_turn(turn, capture.grab, args.step_degrees, args.settle)
    except RuntimeError as exc:
        raise UserError(str(exc)) from exc
    known = game_settings.game_settings_for_pid(win.pid, (width, height)) if win.pid else None
    law = camera_law(result.degrees_per_count, known.game if known else "calibrated", 0.0)
    record = {"method": "full turn from captured frames", "window": win.title,
              "counts_per_turn": round(result.counts_per_turn, 2), "step": result.step}  # fmt: skip
    path = game_settings.save_calibration(args.window, law, record, args.out)
    print(
        f"{win.title}: {result.counts_per_turn:.1f} counts per turn = {law.degrees_per_count:.5f}° per count"
    )
    if known is not None:
        off = law.degrees_per_count / known.law.degrees_per_count - 1
        print(
            f"its settings ({known.record.get('source')}) say {known.law.degrees_per_count:.5f}° ({off:+.1%})"
        )
    print(f"saved to {path}")
    return 0 if math.isfinite(law.degrees_per_count) else 1
