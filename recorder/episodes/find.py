"""Where episodes are, and whether a writer is still alive in one.

``find_episodes`` lists a folder that lost its meta.json too (damaged, not invisible), unlike
``format.list_episodes``, which lists only folders with one. ``is_being_written`` asks the writer's
flock, so a later start can tell a crash from a recording in progress.
"""

from __future__ import annotations

from pathlib import Path

from recorder.episodes.format import ACTIONS, LOCK, META, VIDEO

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_EPISODE_FILES = (META, ACTIONS, VIDEO, LOCK)


def is_being_written(folder: Path) -> bool:
    """True while a live writer holds the episode's lock."""
    lock = folder / LOCK
    if fcntl is None or not lock.exists():
        return False
    try:
        with open(lock, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def looks_like_episode(folder: Path) -> bool:
    """An episode folder even without its meta.json (a crash before the first write, a deletion)."""
    return folder.is_dir() and any((folder / name).exists() for name in _EPISODE_FILES)


def find_episodes(root: Path) -> list[Path]:
    """Like ``list_episodes``, but a folder missing meta.json is listed too: damaged, not invisible."""
    root = Path(root)
    if looks_like_episode(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if looks_like_episode(p))
