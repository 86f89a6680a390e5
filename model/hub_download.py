"""A hub repository's files into the local Hugging Face cache: listed first, resumable, stoppable.

Why not ``snapshot_download``: huggingface_hub 2.x writes each file under a process-unique temporary
name and deletes it on any error, so a 16 GB checkpoint starts again from zero after a cancel, a crash
or a dropped connection; and its progress is a tqdm bar on a terminal. Here a weight file streams into
``blobs/<etag>.incomplete`` of the same cache (``model.hub_cache`` reads what is there), and the next
run asks only for the rest (an HTTP Range).

Everything else is the real client's: the listing (``HfApi``), each file's metadata
(``get_hf_file_metadata``), its errors (``hf_raise_for_status``), the small files and the snapshot links
(``hf_hub_download``). So ``HF_ENDPOINT``, ``HF_TOKEN``, proxies and the cache layout are what ``hf``
uses, and a finished download is an ordinary cache entry that ``hf``, transformers and offline mode read.
``HF_ENDPOINT``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` are read when a download starts.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import filelock
import httpx2
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from model.checkpoint import CheckpointError
from model.download_watch import Tracker, size
from model.hub_cache import HubFile, Listing, cache_dir, partial_bytes, room
from recorder.files import mount_point, move_into_place

LOG = logging.getLogger(__name__)

# What a model's weights are stored in. When a repository has safetensors, the other formats are the
# same weights again (or training state) and are not fetched.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf")
SKIPPED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".pdf")  # model-card media
CHUNK = 1 << 20  # bytes per read: how often cancel is seen and progress counted
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class HubError(CheckpointError):
    """The hub could not give us the checkpoint; the message says what to do."""


class HubUnreachable(HubError):
    """No answer from the hub (offline, no network, the hub down); partial files are kept."""


class RepoGated(HubError):
    """The repository asks its users to accept terms, and this machine has not."""


class RepoMissing(HubError):
    """No such repository (or revision), or a private one this machine may not see."""


class DiskFull(HubError):
    """Not enough room under the hub cache, found before fetching or while writing."""


class DownloadStopped(HubError):
    """Stopped by the person (Cancel, Ctrl+C, closing the window); what arrived is kept."""


class DownloadBusy(HubError):
    """Another process is downloading the same file into the same cache."""


@dataclass(frozen=True)
class DownloadConfig:
    retries: int = 4  # a dropped connection is resumed this many times before giving up
    backoff_s: float = 1.0  # wait before the first retry; doubles each time
    margin_bytes: int = 64 * 10**6  # room to leave free beyond the files (the cache's own small files)


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is None:
        return constants.is_offline_mode()
    return value.strip().lower() in ("1", "on", "yes", "true")


def wanted(entries: list[RepoFile]) -> tuple[HubFile, ...]:
    """The files a checkpoint needs: everything but model-card media, and one weight format."""
    files = [e for e in entries if not e.path.lower().endswith(SKIPPED_SUFFIXES)]
    weights = [e for e in files if e.path.lower().endswith(WEIGHT_SUFFIXES)]
    chosen = {e.path for e in weights if e.path.endswith(".safetensors")} or {
        e.path for e in weights if e.path.endswith(".bin")
    }
    out = []
    for e in files:
        is_weight = e.path.lower().endswith(WEIGHT_SUFFIXES)
        if is_weight and e.path not in chosen:
            continue
        blob = e.lfs.sha256 if e.lfs is not None else e.blob_id
        out.append(HubFile(e.path, int(e.lfs.size if e.lfs is not None else e.size), blob, is_weight))
    return tuple(out)


def list_repo(repo_id: str, revision: str = "main") -> Listing:
    """Ask the hub what ``repo_id`` holds (two small API calls); nothing is downloaded."""
    where, cache = endpoint(), cache_dir()
    api = HfApi(endpoint=where)
    try:
        info = api.model_info(repo_id, revision=revision)
        commit = str(info.sha)
        entries = [
            e for e in api.list_repo_tree(repo_id, recursive=True, revision=commit) if isinstance(e, RepoFile)
        ]
    except Exception as exc:
        raise hub_error(exc, repo_id, revision, cache) from exc
    return Listing(repo_id, revision, commit, wanted(entries), cache, where)


def check_room(listing: Listing, config: DownloadConfig) -> None:
    """Refuse before anything moves when the disk under the cache cannot hold what is missing."""
    need, free, disk = room(listing)
    if need + config.margin_bytes > free:
        raise DiskFull(
            f"{listing.repo_id} needs {size(need)} more in {listing.cache}, and the disk at {disk} has "
            f"{size(free)} free: free {size(need + config.margin_bytes - free)} there, or point HF_HUB_CACHE "
            "at a disk with room, then try again"
        )


def fetch_small(listing: Listing, tracker: Tracker, cancel: threading.Event) -> None:
    """Config, tokenizer and processor files, through ``hf_hub_download`` (each is small)."""
    for number, file in enumerate(listing.small, 1):
        _stop_if(cancel, listing, tracker)
        if listing.have(file) == file.size:
            continue
        tracker.start_file(file.path, file.size, 0, number)
        try:
            hf_hub_download(
                listing.repo_id,
                file.path,
                revision=listing.commit,
                cache_dir=listing.cache,
                endpoint=listing.endpoint,
            )
        except Exception as exc:
            raise hub_error(exc, listing.repo_id, listing.revision, listing.cache) from exc
        tracker.add(file.size)


def fetch_weights(
    listing: Listing, tracker: Tracker, cancel: threading.Event, config: DownloadConfig
) -> None:
    """Each weight file into the blob store, resumed from its partial file, then linked."""
    count = len(listing.small)
    for number, file in enumerate(listing.weights, count + 1):
        if (listing.folder / file.path).exists():
            continue
        _stop_if(cancel, listing, tracker)
        blob = listing.storage / "blobs" / file.blob
        if not blob.exists():
            _fetch_blob(listing, file, blob, tracker, cancel, config, number)
        try:  # the client makes the snapshot link (and the ref) the way it always does
            hf_hub_download(
                listing.repo_id,
                file.path,
                revision=listing.commit,
                cache_dir=listing.cache,
                endpoint=listing.endpoint,
            )
        except Exception as exc:
            raise hub_error(exc, listing.repo_id, listing.revision, listing.cache) from exc


def _fetch_blob(
    listing: Listing,
    file: HubFile,
    blob: Path,
    tracker: Tracker,
    cancel: threading.Event,
    config: DownloadConfig,
    number: int,
) -> None:
    url = hf_hub_url(listing.repo_id, file.path, revision=listing.commit, endpoint=listing.endpoint)
    partial = blob.with_name(f"{file.blob}.incomplete")
    partial.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(listing.cache / ".locks" / f"{listing.storage.name}-{file.blob}.lock"))
    Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout as exc:
        raise DownloadBusy(
            f"{file.path} of {listing.repo_id} is being downloaded by another process (another jarvis-play "
            "or hf) into the same cache: let it finish, then try again"
        ) from exc
    try:
        have = min(partial.stat().st_size, file.size) if partial.exists() else 0
        tracker.start_file(file.path, file.size, have, number)
        attempt = 0
        while True:
            try:
                _stream(listing, url, partial, file, tracker, cancel)
                break
            except (httpx2.TransportError, HubUnreachable) as exc:
                attempt += 1
                if attempt > config.retries:
                    raise _lost(listing, tracker, exc) from exc
                delay = config.backoff_s * 2 ** (attempt - 1)
                LOG.warning("connection to the hub lost (%s); resuming in %.0f s", exc, delay)
                if cancel.wait(delay):
                    _stop_if(cancel, listing, tracker)
        _verify(partial, file, listing, tracker)
        move_into_place(partial, blob)  # durable: a blob that exists is trusted as whole from then on
    finally:
        lock.release()


def _stream(
    listing: Listing, url: str, partial: Path, file: HubFile, tracker: Tracker, cancel: threading.Event
) -> None:
    """The rest of one file into ``partial``: one GET from where the partial file ends."""
    try:
        meta = get_hf_file_metadata(url, endpoint=listing.endpoint)
    except (httpx2.TransportError, OfflineModeIsEnabled):
        raise
    except Exception as exc:
        raise hub_error(exc, listing.repo_id, listing.revision, listing.cache) from exc
    headers = build_hf_headers()
    headers["Accept-Encoding"] = "identity"
    if urlsplit(meta.location).hostname != urlsplit(url).hostname:
        headers.pop("authorization", None)  # a signed CDN address: the token stays on the hub
    have = partial.stat().st_size if partial.exists() else 0
    if have >= file.size:
        return
    if have:
        headers["Range"] = f"bytes={have}-"
    timeout = constants.HF_HUB_DOWNLOAD_TIMEOUT
    with get_session().stream(
        "GET", meta.location, headers=headers, timeout=timeout, follow_redirects=True
    ) as r:
        hf_raise_for_status(r)
        try:
            with open(partial, "r+b" if partial.exists() else "wb") as out:
                if have and r.status_code != 206:  # the server sent the whole file: start over
                    out.truncate(0)
                    tracker.add(-have)
                    have = 0
                out.seek(have)
                for chunk in r.iter_bytes(CHUNK):
                    out.write(chunk)
                    tracker.add(len(chunk))
                    if cancel.is_set():
                        out.flush()
                        _stop_if(cancel, listing, tracker)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_full(listing, partial, tracker) from exc
            raise


def _verify(partial: Path, file: HubFile, listing: Listing, tracker: Tracker) -> None:
    """A resumed file is only as good as every run that wrote it: check its sha256 (the LFS id)."""
    got = partial.stat().st_size
    if got != file.size:
        raise HubError(f"{file.path} arrived with {got} bytes instead of {file.size}; run again to fetch it")
    if not _SHA256.match(file.blob):
        return
    tracker.stage("verifying", f"Verifying {file.path} ({size(file.size)})…")
    digest = hashlib.sha256()
    with open(partial, "rb") as f:
        while block := f.read(8 * CHUNK):
            digest.update(block)
    if digest.hexdigest() != file.blob:
        partial.unlink()
        raise HubError(
            f"{file.path} of {listing.repo_id} does not match the hub's checksum (damaged on the way or on "
            "disk); it was removed: run again to download it afresh"
        )


def _kept(listing: Listing, tracker: Tracker) -> str:
    done, total = tracker.state.done, tracker.state.total or listing.total
    return f"{size(done)} of {size(total)} is kept in {listing.cache}"


def _stop_if(cancel: threading.Event, listing: Listing, tracker: Tracker) -> None:
    if cancel.is_set():
        raise DownloadStopped(
            f"the download of {listing.repo_id} was stopped; {_kept(listing, tracker)}, and trying "
            "again resumes it"
        )


def _lost(listing: Listing, tracker: Tracker, exc: BaseException) -> HubUnreachable:
    return HubUnreachable(
        f"the connection to the hub ({listing.endpoint}) was lost and did not come back "
        f"({type(exc).__name__}); {_kept(listing, tracker)}: try again when the network is back, and the "
        "download resumes"
    )


def _disk_full(listing: Listing, partial: Path, tracker: Tracker) -> DiskFull:
    return DiskFull(
        f"the disk at {mount_point(partial)} is full (writing {partial.name}); {_kept(listing, tracker)}: "
        "free space there (or point HF_HUB_CACHE at a disk with room and move the cache), then try "
        "again to resume"
    )


def hub_error(exc: BaseException, repo_id: str, revision: str, cache: Path) -> HubError:
    """One sentence for what the hub client raised."""
    page = f"{endpoint()}/{repo_id}"
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, GatedRepoError):
        return RepoGated(
            f"{repo_id} is gated: open {page} while logged in, accept its terms, then log in here with "
            "`hf auth login` (or set HF_TOKEN) and try again"
        )
    if isinstance(exc, RevisionNotFoundError):
        return RepoMissing(f"{repo_id} has no revision {revision!r} on the hub: check the revision name")
    if isinstance(exc, RepositoryNotFoundError):
        return RepoMissing(
            f"there is no model {repo_id} on the hub (or it is private): check the owner/name spelling, "
            "or log in with `hf auth login` if it is yours"
        )
    if isinstance(exc, (httpx2.TransportError, OfflineModeIsEnabled, LocalEntryNotFoundError)) or (
        isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code >= 500
    ):
        return HubUnreachable(unreachable(repo_id, cache, exc))
    return HubError(f"the hub refused {repo_id} ({type(exc).__name__}: {str(exc).splitlines()[0]})")


def unreachable(repo_id: str, cache: Path, exc: BaseException | None = None) -> str:
    """Why the hub cannot help now, and the two ways out: the network, or ``hf download`` elsewhere."""
    why = (
        "the hub is offline (HF_HUB_OFFLINE=1)"
        if offline()
        else f"cannot reach the hub at {endpoint()} ({type(exc).__name__ if exc else 'no answer'})"
    )
    partial = partial_bytes(repo_id)
    kept = f" ({size(partial)} of an unfinished download is kept there)" if partial else ""
    return (
        f"cannot get {repo_id!r}: {why} and it is not in the cache folder {cache}{kept}. Connect and "
        f"try again (the download resumes), or download it on a connected machine with "
        f"`hf download {repo_id}` and copy that machine's {cache.name} folder here, or pass a local "
        "folder with --model."
    )
