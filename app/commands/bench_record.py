"""``jarvis-play bench record``: can the recorder keep 20 fps while the agent loop loads the CPU?

    jarvis-play bench record                  # 10 minutes = 12,000 ticks, one busy core as "the model"
    jarvis-play bench record --seconds 60 --load 0 --keep /tmp/bench-episodes

A loop thread ticks at 20 Hz in real time and hands each frame to a ``SessionRecorder`` in agent
mode (labelling, ring buffer, episode writer, ffmpeg), exactly as the play loop does. ``--load``
busy processes stand in for local model inference. The frames are a textured scene panning a few
pixels per tick with a moving object, so the encoder has real motion to code. Printed: ticks,
dropped ticks (writer queue full), late ticks (the loop itself overran), the episode's frame and
line counts from disk, and CPU time of the recording process and of the encoder.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from model.actions.codec import ActionCodec
from model.actions.env import null_action
from recorder.episodes import FPS, EpisodeMeta, SessionRecorder, probe
from recorder.input import CameraLaw


def register(sub: Any) -> None:
    p = sub.add_parser("record", help="record 20 fps in real time under CPU load; print drops and CPU")
    p.add_argument(
        "--seconds", type=float, default=600.0, help="length of the recording (default 600 = 10 min)"
    )
    p.add_argument("--load", type=int, default=1, help="busy processes standing in for the model (default 1)")
    p.add_argument(
        "--keep", type=Path, help="write the episode here and keep it (default: a temp dir, removed)"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run_bench)


def _burn(stop: Any) -> None:
    a = np.random.default_rng(0).random((256, 256))
    while not stop.is_set():
        a = np.tanh(a @ a.T / 256.0)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process from /proc (0 when it is gone or not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scene(n: int = 64) -> list[np.ndarray]:
    """``n`` 640×360 frames of a textured world panning right, with an object crossing it."""
    rng = np.random.default_rng(1)
    world = np.zeros((360, 640 + 4 * n, 3), np.uint8)
    x = np.arange(world.shape[1])[None, :]
    y = np.arange(360)[:, None]
    world[..., 0] = (110 + 60 * np.sin(x / 37.0) + 30 * np.cos(y / 23.0)).astype(np.uint8)
    world[..., 1] = (120 + 50 * np.cos(x / 53.0 + y / 41.0)).astype(np.uint8)
    world[..., 2] = np.clip(80 + y // 3, 0, 255).astype(np.uint8)
    world = np.clip(world.astype(np.int16) + rng.integers(-12, 12, world.shape), 0, 255).astype(np.uint8)
    frames = []
    for i in range(n):
        f = world[:, 4 * i : 4 * i + 640].copy()
        f[200:260, (7 * i) % 580 : (7 * i) % 580 + 60] = (200, 40, 40)
        frames.append(f)
    return frames


def run_bench(args: argparse.Namespace) -> int:
    ticks = int(args.seconds * FPS)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-record-"))
    frames = scene()
    codec = ActionCodec()
    walk = [{**null_action(), "forward": 1, "attack": i % 2, "camera": [0, 1.0]} for i in range(8)]
    actions = [codec.decode(codec.encode(a))[0] for a in walk]
    stop = mp.Event()
    burners = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    rec = SessionRecorder(root, EpisodeMeta(mode="agent", game="bench"), law=CameraLaw.minecraft(),
                          recover=False)  # fmt: skip
    if not rec.start():
        print(f"bench record: {rec.error}")
        return 1
    encoder_pid = rec.writer._encoder.pid if rec.writer is not None else 0
    print(f"bench record: {ticks} ticks at {FPS} fps ({args.seconds:g} s), {args.load} busy process(es), "
          f"{os.cpu_count()} cores; writing to {root}")  # fmt: skip
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    late = 0
    max_queue = 0
    tick_ms = []
    next_tick = wall0
    enc_cpu = 0.0
    for i in range(ticks):
        t0 = time.perf_counter()
        rec.on_tick(frames[i % len(frames)], control="agent", instruction="bench", action=actions[i % 8])
        tick_ms.append((time.perf_counter() - t0) * 1000)
        if rec.writer is not None:
            max_queue = max(max_queue, rec.writer._queue.qsize())
        if i % FPS == 0:
            enc_cpu = _cpu_seconds(encoder_pid) or enc_cpu
        next_tick += 1.0 / FPS
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0 / FPS:
            late += 1
    enc_cpu = _cpu_seconds(encoder_pid) or enc_cpu
    meta = rec.close()
    wall = time.monotonic() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    for b in burners:
        b.join(5)
    self_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    assert meta is not None and rec.folder is not None
    on_disk = int(probe(rec.folder / "video.mp4")["frames"])
    with open(rec.folder / "actions.jsonl", "rb") as f:
        lines = sum(1 for _ in f)
    figures = {
        "ticks": ticks,
        "seconds": round(wall, 1),
        "dropped": meta.dropped_ticks,
        "late_ticks": late,
        "frames_on_disk": on_disk,
        "lines_on_disk": lines,
        "max_queue": max_queue,
        "on_tick_ms_p50": round(float(np.percentile(tick_ms, 50)), 2),
        "on_tick_ms_p99": round(float(np.percentile(tick_ms, 99)), 2),
        "cpu_recorder_process_pct": round(100 * self_cpu / wall, 1),
        "cpu_encoder_pct": round(100 * enc_cpu / wall, 1),
        "cpu_total_pct_of_one_core": round(100 * (self_cpu + enc_cpu) / wall, 1),
        "video_mb": round((rec.folder / "video.mp4").stat().st_size / 1e6, 1),
        "load_processes": args.load,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"  {key:28} {value}")
        ok = figures["dropped"] == 0 and on_disk == lines == ticks
        print("  result: " + ("no frame dropped" if ok else "FRAMES LOST"))
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if figures["dropped"] == 0 and on_disk == lines == ticks else 1
