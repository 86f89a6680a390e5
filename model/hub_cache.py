"""What a hub repository's files are in the local Hugging Face cache: complete, partial, or absent.

The layout is the hub client's own (``models--owner--name/{blobs,snapshots/<commit>,refs}``), so what
is here was put there by ``hf``, transformers or ``model.hub_download`` alike. A weight file that is
still arriving is ``blobs/<sha256>.incomplete``. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants
from huggingface_hub.file_download import repo_folder_name

from recorder.files import mount_point, write_atomically


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    blob: str  # the cache's blob name: the LFS sha256, or the git blob id of a small file
    weight: bool


@dataclass(frozen=True)
class Listing:
    """One revision of a repository: the files this app needs from it, and where they go."""

    repo_id: str
    revision: str
    commit: str
    files: tuple[HubFile, ...]
    cache: Path
    endpoint: str

    @property
    def storage(self) -> Path:
        return self.cache / repo_folder_name(repo_id=self.repo_id, repo_type="model")

    @property
    def folder(self) -> Path:
        """The snapshot folder the checkpoint loads from once complete."""
        return self.storage / "snapshots" / self.commit

    @property
    def small(self) -> tuple[HubFile, ...]:
        return tuple(f for f in self.files if not f.weight)

    @property
    def weights(self) -> tuple[HubFile, ...]:
        return tuple(f for f in self.files if f.weight)

    def have(self, file: HubFile) -> int:
        """Bytes of ``file`` already in the cache: all of them, a partial download's, or none."""
        if (self.folder / file.path).exists() or (self.storage / "blobs" / file.blob).exists():
            return file.size
        partial = self.storage / "blobs" / f"{file.blob}.incomplete"
        try:
            return min(partial.stat().st_size, file.size)
        except OSError:
            return 0

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def on_disk(self) -> int:
        return sum(self.have(f) for f in self.files)

    @property
    def complete(self) -> bool:
        return all((self.folder / f.path).exists() for f in self.files)

    def record_ref(self) -> None:
        """``refs/<revision>`` -> the commit, as the client writes it, so offline use finds the snapshot.
        Written only once the snapshot is complete: the client (and offline transformers) would take a
        snapshot named by a ref as whole."""
        if self.revision == self.commit:
            return
        ref = self.storage / "refs" / self.revision
        ref.parent.mkdir(parents=True, exist_ok=True)
        if not (ref.is_file() and ref.read_text().strip() == self.commit):
            write_atomically(ref, self.commit)


def cache_dir() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE).expanduser()


def cached(repo_id: str, revision: str = "main") -> Path | None:
    """The complete snapshot of ``repo_id`` in the cache, found without the network (None: not here).

    Complete means a config.json and every weight file its index names (or a single weights file);
    a snapshot with only the small files (a download stopped before its weights) is not complete.
    """
    storage = cache_dir() / repo_folder_name(repo_id=repo_id, repo_type="model")
    ref = storage / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    folder = storage / "snapshots" / commit
    return folder if _complete_snapshot(folder) else None


def partial_bytes(repo_id: str) -> int:
    """Bytes of unfinished downloads of ``repo_id`` in the cache (for the offline message)."""
    blobs = cache_dir() / repo_folder_name(repo_id=repo_id, repo_type="model") / "blobs"
    return sum(p.stat().st_size for p in blobs.glob("*.incomplete")) if blobs.is_dir() else 0


def _complete_snapshot(folder: Path) -> bool:
    if not (folder / "config.json").is_file():
        return False
    for index in folder.glob("*.index.json"):
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError):
            return False
        return all((folder / shard).is_file() for shard in shards)
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def room(listing: Listing) -> tuple[int, int, Path]:
    """Bytes still to download, bytes free on the disk under the cache, and that disk's mount point."""
    need = listing.total - listing.on_disk
    return need, shutil.disk_usage(_existing(listing.cache)).free, mount_point(listing.cache)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
