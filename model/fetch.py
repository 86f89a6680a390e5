"""Check first, download second: a hub checkpoint is made local only once it is known to work here.

The 7B checkpoint is about 16 GB. The checks that decide whether it can play here need none of the
weights, so they run first, and nothing large moves until each one has passed:

1. list the repository (sizes, the commit): an unreachable hub, a gated or a missing repository is
   one sentence, and a complete copy already in the cache is used without the network;
2. room on the disk that holds the hub cache for what is still missing;
3. the small files (config, tokenizer, processor), and on them the checks that used to run only after
   every weight had arrived: a Qwen2-VL architecture, an embedding table with room for the action
   tokens, a tokenizer whose ids are JARVIS's action tokens (``model.checkpoint``);
4. the GPU fit for the precision asked (``model.fit``: the doctor's table and the memory free now),
   refused with the precision that would fit;
5. the person's yes to the plan (``Watch.approve``);
6. the weights, resumable and stoppable, with progress (``model.hub_download``, into the cache that
   ``model.hub_cache`` reads).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from model import fit as model_fit
from model.checkpoint import check_config, checked_folder, load_processor
from model.download_watch import Progress, Tracker, Watch, size
from model.hub_cache import Listing, cache_dir, cached, room
from model.hub_download import (
    DownloadConfig,
    DownloadStopped,
    HubError,
    HubUnreachable,
    check_room,
    fetch_small,
    fetch_weights,
    list_repo,
    offline,
    unreachable,
)

LOG = logging.getLogger(__name__)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class FitAsk:
    """The GPU fit to check before downloading: the precision that will be asked of ``model.fit``."""

    quantize: str = "none"
    device: str = "cuda"


def resolve(
    spec: str,
    watch: Watch | None = None,
    fit: FitAsk | None = None,
    revision: str = "main",
    config: DownloadConfig | None = None,
) -> Path:
    """A checkpoint folder for ``spec``: a local folder (checked), or a hub id from the cache or the hub."""
    path = Path(spec).expanduser()
    if path.exists() or not _HUB_ID.match(spec) or spec.startswith((".", "/", "~")):
        return checked_folder(path)
    return fetch(spec, watch, fit, revision, config or DownloadConfig())


def fetch(
    repo_id: str,
    watch: Watch | None = None,
    fit: FitAsk | None = None,
    revision: str = "main",
    config: DownloadConfig | None = None,
) -> Path:
    """``repo_id`` at ``revision`` as a complete folder in the hub cache, checked before its weights move."""
    watch = watch or Watch(on_progress=_log)
    config = config or DownloadConfig()
    tracker = Tracker(repo_id, watch.on_progress)
    if offline():
        return _from_cache(repo_id, revision)
    tracker.stage("checking", f"Checking {repo_id} on the hub…")
    try:
        listing = list_repo(repo_id, revision)
    except HubUnreachable as exc:
        found = cached(repo_id, revision)
        if found is None:
            tracker.stage("stopped", str(exc))
            raise
        LOG.warning("the hub cannot be reached; using the copy of %s in the cache (%s)", repo_id, found)
        return found
    except HubError as exc:
        tracker.stage("refused", str(exc))
        raise
    if listing.complete:
        listing.record_ref()
        return listing.folder
    try:
        _prepare_and_download(listing, tracker, watch, fit, config)
    except model_fit.FitError as exc:
        tracker.stage("refused", str(exc), offer=exc.offer)
        raise
    except KeyboardInterrupt as exc:  # Ctrl+C on the command line: what arrived is kept
        stopped = DownloadStopped(
            f"the download of {repo_id} was stopped; {size(tracker.state.done)} of "
            f"{size(listing.total)} is kept in {listing.cache}, and trying again resumes it"
        )
        tracker.stage("stopped", str(stopped))
        raise stopped from exc
    except Exception as exc:
        tracker.stage("stopped" if isinstance(exc, HubError) else "refused", str(exc))
        raise
    listing.record_ref()
    tracker.stage("done", f"Downloaded {repo_id} ({size(listing.total)}) into {listing.folder}")
    return listing.folder


def _prepare_and_download(
    listing: Listing, tracker: Tracker, watch: Watch, fit: FitAsk | None, config: DownloadConfig
) -> None:
    check_room(listing, config)
    weights_here = sum(listing.have(f) for f in listing.weights)
    tracker.begin(listing.total, listing.on_disk, len(listing.files), resumed=weights_here)
    tracker.stage("checking", f"Checking {listing.repo_id}: config, tokenizer and processor first…")
    fetch_small(listing, tracker, watch.cancel)
    check_config(listing.folder)
    load_processor(listing.folder)  # the tokenizer's action tokens, the image processor, the template
    fit_note = _check_fit(listing, fit)
    need, free, disk = room(listing)
    resume = f" Resuming: {size(weights_here)} of the weights are already here." if weights_here else ""
    plan = (
        f"{listing.repo_id}: {size(need)} to download into {listing.cache} ({size(free)} free on {disk}). "
        f"{fit_note}{resume}"
    ).strip()
    if not watch.approve(tracker.stage("waiting", plan)):
        raise DownloadStopped(f"{listing.repo_id} was not downloaded (declined); nothing large was fetched")
    fetch_weights(listing, tracker, watch.cancel, config)


def _check_fit(listing: Listing, fit: FitAsk | None) -> str:
    """One line on the GPU; raises ``FitError`` (naming a precision that fits) before any weight moves."""
    if fit is None:
        return ""
    free = model_fit.free_gpu_gib(fit.device)
    if free is None:
        return "No CUDA GPU here: the model will run on the CPU (fine for tiny models, far too slow for 7B)."
    weight_bytes = sum(f.size for f in listing.weights)
    params = model_fit.checkpoint_params_b(listing.folder, weight_bytes=weight_bytes)
    fits = model_fit.check_fits(
        listing.folder, fit.quantize, fit.device, free_gib=free, params_b=params, name=listing.repo_id
    )
    wanted = model_fit.precision_of(fit.quantize)
    chosen = next((f for f in fits if f.precision == wanted), None)
    if chosen is None:
        return f"GPU: {free:.1f} GiB free."
    return f"GPU: {wanted} needs about {chosen.need_gib:.1f} GiB of the {free:.1f} GiB free."


def _from_cache(repo_id: str, revision: str) -> Path:
    found = cached(repo_id, revision)
    if found is None:
        raise HubUnreachable(unreachable(repo_id, cache_dir()))
    return found


def _log(progress: Progress) -> None:
    """Without a door watching: the stages in the log (the bytes only on the doors that show them)."""
    if progress.stage != "downloading":
        LOG.info("%s", progress.line())
