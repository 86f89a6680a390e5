"""Episodes on disk: one folder per recording, VPT-interchangeable (``format`` documents it).

Written off the loop thread by ``writer`` (``SessionRecorder`` labels each tick and feeds it, and
``ring_buffer`` keeps the last seconds for "save that"); read back by ``reader``; found (``find``),
checked (``check``, read-only), repaired on request (``repair``) and swept after a crash
(``sweep``); browsed and edited as a library (``library``, ``trash``); exported for VPT and
MineStudio (``export_vpt``). ``video`` is the ffmpeg encoder and prober under all of them.
``app/`` and ``model/`` import from here; ``library`` is public as a module.
"""

from recorder.episodes import library
from recorder.episodes.check import CheckReport, check_all, check_episode, meta_problems
from recorder.episodes.find import find_episodes, is_being_written
from recorder.episodes.format import (
    FLAG_CAMERA_SATURATED,
    FLAG_NOOP_RUN,
    FPS,
    PURPOSE_EVALUATION,
    Actor,
    EpisodeMeta,
    RecordMode,
    is_episode,
    list_episodes,
    read_meta,
)
from recorder.episodes.library import LibraryError, default_root
from recorder.episodes.reader import EpisodeReader, is_lost
from recorder.episodes.repair import repair_all, repair_episode
from recorder.episodes.session_recorder import SessionRecorder
from recorder.episodes.sweep import recover_crashed
from recorder.episodes.trash import TrashError
from recorder.episodes.video import VideoError, probe
from recorder.episodes.vpt_export import export_vpt

__all__ = [
    "FLAG_CAMERA_SATURATED",
    "FLAG_NOOP_RUN",
    "FPS",
    "PURPOSE_EVALUATION",
    "Actor",
    "CheckReport",
    "EpisodeMeta",
    "EpisodeReader",
    "LibraryError",
    "RecordMode",
    "SessionRecorder",
    "TrashError",
    "VideoError",
    "check_all",
    "check_episode",
    "default_root",
    "export_vpt",
    "find_episodes",
    "is_being_written",
    "is_episode",
    "is_lost",
    "library",
    "list_episodes",
    "meta_problems",
    "probe",
    "read_meta",
    "recover_crashed",
    "repair_all",
    "repair_episode",
]
