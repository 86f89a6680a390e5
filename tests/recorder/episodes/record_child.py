"""Child process for the kill -9 test: records synthetic ticks at 20 fps until killed.

    python -m tests.recorder.episodes.record_child ROOT
prints ``folder PATH``, ``encoder PID`` and then ``tick N`` (ticks accepted so far) every tick.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from recorder.episodes.format import FPS, EpisodeMeta
from recorder.episodes.writer import EpisodeWriter
from tests.recorder.episodes.synth import line_for, tick_frame


def main(root: str) -> None:
    writer = EpisodeWriter(Path(root), EpisodeMeta(mode="teleop", game="test"))
    if not writer.start():
        raise SystemExit(writer.error)
    print(f"folder {writer.folder}", flush=True)
    print(f"encoder {writer._encoder.pid}", flush=True)
    start = time.monotonic()
    for i in range(100_000):
        writer.submit(tick_frame(i), line_for(i))
        print(f"tick {writer.submitted}", flush=True)
        time.sleep(max(0.0, start + (i + 1) / FPS - time.monotonic()))


if __name__ == "__main__":
    main(sys.argv[1])
