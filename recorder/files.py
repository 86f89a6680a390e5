"""Files replaced whole, and the disk a path lives on: one definition for every layer.

Durability, the same for every helper here: the new content is written to a temporary name in the
target's own folder, flushed and fsynced, renamed over the target (``os.replace``, atomic on POSIX),
and then the folder itself is fsynced. So a reader sees the old content or the new one, never a
mix; a crash or power loss before the call returns leaves the old content (or none, if there was
none); and once the call has returned the new content survives a power loss. A failed write removes
its temporary and leaves the target as it was. Small files (settings, meta.json, a command to the
demo game's mod) pay one fsync each, which is cheap next to what they protect.

These live in the bottom layer so that ``app/``, ``model/`` and ``recorder/`` all use the same one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


def _temporary(target: Path) -> Path:
    # hidden, beside the target (same file system, so the rename is atomic), unique per writer
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` durable (best effort where a directory cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write ``path`` through a handle; it is replaced as a whole when the block ends without error."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    tmp = _temporary(path)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomically(path: Path, data: str | bytes, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``data`` as a whole (see the module's durability)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data.encode(encoding) if isinstance(data, str) else data)


def move_into_place(made: Path, path: Path) -> None:
    """Rename a finished file another program wrote (ffmpeg's output) over ``path``, durably."""
    with open(made, "rb") as f:
        os.fsync(f.fileno())
    os.replace(made, path)
    fsync_dir(Path(path).parent)


def keep_copy(path: Path, copy: Path) -> None:
    """``copy`` holds what ``path`` holds now, even after ``path`` is replaced: a hard link where the
    file system has them (instant, whatever the size), else a full copy."""
    try:
        os.link(path, copy)
    except OSError:
        shutil.copy2(path, copy)
    fsync_dir(Path(copy).parent)


def replace_folder(target: Path, fill: Callable[[Path], object]) -> None:
    """Build a folder with ``fill(tmp)`` next to ``target``, fsync every file, rename it to ``target``.

    A crash leaves either the old ``target`` (or none) or the whole new one: an older ``target`` is
    moved aside first and put back if the new one cannot be renamed in, and removed only after.
    """
    target = Path(target)
    tmp = _temporary(target)
    old = target.with_name(f".{target.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        tmp.mkdir(parents=True)
        fill(tmp)
        for path in tmp.rglob("*"):
            if path.is_file():
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
            elif path.is_dir():
                fsync_dir(path)
        fsync_dir(tmp)
        if target.exists() or target.is_symlink():
            os.replace(target, old)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if (old.exists() or old.is_symlink()) and not target.exists():
            os.replace(old, target)
        raise
    if old.is_symlink():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)


def mount_point(path: Path) -> Path:
    """The mount point holding ``path`` (or, if it does not exist yet, its nearest existing folder):
    the disk a person frees space on, and whose trash a deleted file goes to. Symlinks are followed."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path
