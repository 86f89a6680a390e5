"""Video in and out through an ffmpeg subprocess: crash-safe fragmented MP4, exact frame counts.

Why a subprocess rather than an in-process encoder: on a 2-core machine the encoder runs in parallel
with the play loop without holding the GIL, and if our process is killed (-9) ffmpeg sees end of
input and finishes the file itself. Why fragmented MP4 (``empty_moov`` + a fragment every 250 ms):
a plain MP4 is unreadable until its index is written at the end; a fragmented one is readable up to
its last complete fragment, so even if ffmpeg dies too, at most a few ticks are lost. x264 runs with
``zerolatency`` and no B-frames, so frames leave the encoder as they arrive and decode order equals
display order, which lets a repair cut the stream at any frame by copying packets.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from recorder.episodes.format import FPS, FRAME_HEIGHT, FRAME_WIDTH
from recorder.errors import RecorderError

LOG = logging.getLogger(__name__)

KEYFRAME_INTERVAL = FPS  # one keyframe a second: seeking and cutting granularity
FRAGMENT_SECONDS = 0.25  # the most video a killed encoder can take with it


class VideoError(RecorderError, RuntimeError):
    """ffmpeg is missing, failed, or a file cannot be read as video."""


def ffmpeg_path(name: str = "ffmpeg") -> str:
    path = shutil.which(name)
    if path is None:
        raise VideoError(f"{name} not found on PATH; install it (Debian/Ubuntu: apt-get install ffmpeg)")
    return path


def encoder_command(
    path: Path,
    *,
    width: int = FRAME_WIDTH,
    height: int = FRAME_HEIGHT,
    fps: int = FPS,
    preset: str = "veryfast",
    crf: int = 20,
) -> list[str]:
    return [
        ffmpeg_path(),
        "-hide_banner",
        "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
        "-i", "pipe:0",
        "-an",
        "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-crf", str(crf),
        "-bf", "0", "-g", str(KEYFRAME_INTERVAL), "-pix_fmt", "yuv420p",
        "-movflags", "empty_moov+default_base_moof",
        "-frag_duration", str(int(FRAGMENT_SECONDS * 1_000_000)),
        "-flush_packets", "1",
        "-n",  # never overwrite: the writer also creates the folder exclusively
        str(path),
    ]  # fmt: skip


class VideoEncoder:
    """Feeds RGB frames to an ffmpeg process writing ``path``. Not thread-safe: one writer thread."""

    def __init__(self, path: Path, *, preset: str = "veryfast", crf: int = 20) -> None:
        self.path = Path(path)
        self.frames = 0
        cmd = encoder_command(self.path, preset=preset, crf=crf)
        self._stderr_path = self.path.with_name(self.path.name + ".log")
        self._stderr = open(self._stderr_path, "wb")  # noqa: SIM115 - lives as long as the process
        try:
            # own session: a Ctrl-C in the terminal must not kill the encoder before we close it cleanly
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stderr=self._stderr, start_new_session=True
            )
        except OSError:
            self._stderr.close()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def write(self, frame: np.ndarray) -> None:
        """Raises VideoError with ffmpeg's own message (e.g. "No space left on device") on failure."""
        if frame.shape != (FRAME_HEIGHT, FRAME_WIDTH, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 {FRAME_HEIGHT}x{FRAME_WIDTH}x3, got {frame.dtype} {frame.shape}"
            )
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data.cast("B"))
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise VideoError(self._failure(f"video encoder stopped: {exc}")) from exc
        self.frames += 1

    def close(self, timeout: float = 30.0) -> None:
        """End the stream and wait for ffmpeg to write its last fragment."""
        try:
            if self._proc.stdin is not None and not self._proc.stdin.closed:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
            try:
                rc = self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                rc = self._proc.wait()
            if rc != 0:
                raise VideoError(self._failure(f"video encoder exited with status {rc}"))
        finally:
            self._stderr.close()
            with contextlib.suppress(OSError):
                if self._stderr_path.stat().st_size == 0:
                    self._stderr_path.unlink()

    def _failure(self, prefix: str) -> str:
        self._stderr.flush()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)
        try:
            tail = self._stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            tail = []
        if not tail and _disk_full(self.path.parent):  # ffmpeg could not even write its log there
            tail = [os.strerror(errno.ENOSPC)]
        return prefix + (": " + " | ".join(tail) if tail else "")


def _disk_full(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def probe(path: Path, *, decode: bool = False) -> dict[str, int | float]:
    """{"frames", "packets", "width", "height", "fps"} of the first video stream.

    ``decode=False`` counts packets (fast, no decoding; "frames" is that count too); ``decode=True``
    also counts the frames that actually decode, which is what matters for a file whose last fragment
    was cut off mid-write (one ffprobe run for both: the decode is what costs).
    """
    count = ["-count_packets", "-count_frames"] if decode else ["-count_packets"]
    entry = "nb_read_frames" if decode else "nb_read_packets"
    cmd = [
        ffmpeg_path("ffprobe"), "-v", "error", "-select_streams", "v:0", *count,
        "-show_entries", f"stream=width,height,r_frame_rate,nb_read_packets,{entry}",
        "-of", "json", str(path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        streams = json.loads(proc.stdout or "{}").get("streams", [])
    except json.JSONDecodeError:
        streams = []
    if not streams:
        message = proc.stderr.strip().splitlines()[-1:] or ["no video stream"]
        raise VideoError(f"{path}: {message[0]}")
    s = streams[0]
    num, _, den = str(s.get("r_frame_rate", "0/1")).partition("/")
    return {
        "frames": int(s.get(entry, 0) or 0),
        "packets": int(s.get("nb_read_packets", 0) or 0),
        "width": int(s.get("width", 0)),
        "height": int(s.get("height", 0)),
        "fps": float(num) / float(den or 1) if float(den or 1) else 0.0,
    }


def read_frames(path: Path, *, start: int = 0, limit: int | None = None) -> Iterator[np.ndarray]:
    """Decode RGB uint8 frames (H, W, 3) in order; stops quietly at the last decodable frame."""
    info = probe(path)
    width, height = int(info["width"]), int(info["height"])
    cmd = [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0"]
    if start or limit is not None:
        end = f"lt(n,{start + limit})" if limit is not None else "1"
        cmd += ["-vf", f"select='gte(n,{start})*{end}'", "-fps_mode", "passthrough"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    size = width * height * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def cut(src: Path, dst: Path, frames: int) -> None:
    """Copy the first ``frames`` frames of ``src`` into a regular (indexed) MP4, without re-encoding."""
    cmd = [
        ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-nostdin", "-n", "-i", str(src),
        "-map", "0:v:0", "-c", "copy", "-frames:v", str(frames), "-movflags", "+faststart", str(dst),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise VideoError(f"cutting {src} failed: {proc.stderr.strip()}")
