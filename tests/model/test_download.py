"""A hub model's first download, against a local server that speaks the hub's file API.

The real ``huggingface_hub`` client lists, resolves and downloads (``HF_ENDPOINT`` points at
``tests.fake_hub``); what lands in the cache is checked with the client itself (``snapshot_download``
offline) and against the served bytes' sha256. "Before any weight is fetched" is read from the server:
the weight bytes it sent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import snapshot_download

from model.checkpoint import CheckpointError
from model.download_watch import Progress, Tracker, Watch
from model.fetch import FitAsk, fetch
from model.fit import FitError, checkpoint_params_b
from model.hub_download import (
    DiskFull,
    DownloadConfig,
    DownloadStopped,
    HubUnreachable,
    RepoGated,
    RepoMissing,
)
from tests.fake_hub import FakeHub, serving
from tests.tmpfs import fill, tmpfs

REPO = "test-org/tiny-jarvis"
QUICK = DownloadConfig(backoff_s=0.01)


@pytest.fixture
def hub(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with serving({REPO: tiny_model_dir}, tmp_path / "hub-cache", monkeypatch) as server:
        yield server


class Seen:
    """A door's watch that remembers everything it was shown (and, at the plan, what the server had sent)."""

    def __init__(self, hub: FakeHub, yes: bool = True) -> None:
        self.hub, self.yes = hub, yes
        self.progress: list[Progress] = []
        self.weight_bytes_at_plan: int | None = None
        self.watch = Watch(on_progress=self.progress.append, approve=self._approve)

    def _approve(self, plan: Progress) -> bool:
        self.plan = plan
        self.weight_bytes_at_plan = self.hub.weight_bytes()
        return self.yes

    def stage(self, name: str) -> list[Progress]:
        return [p for p in self.progress if p.stage == name]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_checks_first_then_the_weights_with_progress(
    hub: FakeHub, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.rate = 20e6  # ~2 s of weights: long enough for a measured rate
    seen = Seen(hub)
    folder = fetch(REPO, seen.watch, FitAsk())
    # every check ran on the small files, and the plan was shown, before a weight byte moved
    assert seen.weight_bytes_at_plan == 0
    assert hub.order[-1] == "model.safetensors" and hub.order.count("model.safetensors") == 1
    assert "39.5 MB to download into" in seen.plan.note and "free on" in seen.plan.note
    moving = [p for p in seen.stage("downloading") if p.file == "model.safetensors"]
    done = [p.done for p in moving]
    assert len(done) >= 4 and done == sorted(done) and done[-1] > done[0]
    timed = [p for p in moving if p.rate]
    # measured, not invented: never above the server's 20 MB/s (with slack for the window's edges)
    assert timed and all(1e6 < p.rate < 30e6 and p.eta_s is not None for p in timed), timed  # type: ignore[operator]
    assert "MB/s" in timed[-1].line() and "left" in timed[-1].line() and "file 8 of 8" in timed[-1].line()
    assert seen.progress[-1].stage == "done" and seen.progress[-1].done == seen.progress[-1].total
    # what landed is what the hub client itself finds offline, byte for byte
    assert Path(snapshot_download(REPO, local_files_only=True, cache_dir=folder.parents[2])) == folder
    assert sha256(folder / "model.safetensors") == sha256(tiny_model_dir / "model.safetensors")
    assert not list((folder.parents[1] / "blobs").glob("*.incomplete"))
    served = len(hub.order)
    assert fetch(REPO, Watch(), FitAsk()) == folder and len(hub.order) == served  # complete: nothing fetched
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the hub out of reach: the copy here is used
    assert fetch(REPO, Watch(), FitAsk()) == folder
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch(REPO, Watch(), FitAsk()) == folder


def test_cancel_or_ctrl_c_mid_way_then_resume(hub: FakeHub, tiny_model_dir: Path, tmp_path: Path) -> None:
    hub.rate = 40e6  # progress is reported 4 times a second: slow enough to be seen mid-way

    def stop_at(mb: float, how: str) -> tuple[Seen, int]:
        seen = Seen(hub)

        def watch(p: Progress) -> None:
            seen.progress.append(p)
            if p.stage == "downloading" and p.file == "model.safetensors" and p.file_done > mb * 1e6:
                if how == "ctrl-c":
                    raise KeyboardInterrupt  # where a SIGINT lands on the command line
                seen.watch.cancel.set()  # what the window's Cancel does

        seen.watch.on_progress = watch
        with pytest.raises(DownloadStopped, match=r"kept in .*trying again resumes it"):
            fetch(REPO, seen.watch, FitAsk())
        (partial,) = (tmp_path / "hub-cache").rglob("*.incomplete")
        return seen, partial.stat().st_size

    _, first = stop_at(8, "ctrl-c")
    again, second = stop_at(20, "cancel")
    assert 8e6 < first < 20e6 < second < 39e6
    assert "Resuming: " in again.plan.note and again.stage("downloading")[-1].line().startswith("Resuming")

    folder = fetch(REPO, Watch(), FitAsk())
    assert [start for path, start in hub.ranges if path == "model.safetensors"] == [first, second]
    assert sha256(folder / "model.safetensors") == sha256(tiny_model_dir / "model.safetensors")


def test_a_lost_connection_is_resumed_and_a_lasting_one_is_named(hub: FakeHub, tiny_model_dir: Path) -> None:
    hub.drop_after, hub.drops = 10_000_000, 1  # the connection dies once, 10 MB into the weights
    folder = fetch(REPO, Watch(), FitAsk(), config=QUICK)
    (path, start), *_ = hub.ranges  # asked for the rest (less what the cut chunk held) and nothing more
    assert path == "model.safetensors" and 8_000_000 < start <= 10_000_000 and len(hub.ranges) == 1
    assert sha256(folder / "model.safetensors") == sha256(tiny_model_dir / "model.safetensors")

    shutil.rmtree(folder.parents[1])  # again from nothing, and this time the network stays down
    hub.drops = 3
    with pytest.raises(HubUnreachable, match=r"connection to the hub .* was lost.*kept in .*resumes"):
        fetch(REPO, Watch(), FitAsk(), config=DownloadConfig(retries=2, backoff_s=0.01))
    assert 25e6 < next(folder.parents[1].rglob("*.incomplete")).stat().st_size <= 30e6  # 3 tries' worth


def test_a_fit_that_fails_is_refused_before_any_weight(
    hub: FakeHub, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JARVIS_PLAY_GPU_FREE_GIB", "1.0")  # a GPU with 1 GiB free: nothing fits
    seen = Seen(hub)
    with pytest.raises(FitError, match=r"1\.0 GiB is free .* no precision fits"):
        fetch(REPO, seen.watch, FitAsk(quantize="none"))
    assert hub.weight_bytes() == 0 and seen.progress[-1].stage == "refused"
    # with 2 GiB free this 10 M-parameter model fits: its size is read from the hub's listing, before
    # its weights exist here (the built-in table is for 8.29 B parameters, which would need 17.2 GiB)
    monkeypatch.setenv("JARVIS_PLAY_GPU_FREE_GIB", "2")
    small = Seen(hub, yes=False)
    with pytest.raises(DownloadStopped, match="declined"):
        fetch(REPO, small.watch, FitAsk(quantize="none"))
    assert "bf16 needs about 1.5 GiB of the 2.0 GiB free" in small.plan.note

    # a table where this model in bf16 needs 17.2 GiB and in 4-bit 8.2: with 10 GiB free, 4-bit is offered
    table = tmp_path / "fit-table.json"
    rows = [{"precision": "bf16", "weights_gib": 15.5, "peak_gib": 15.7, "actions_per_s": 15.7},
            {"precision": "4bit", "weights_gib": 6.5, "peak_gib": 6.7, "actions_per_s": 9.0}]  # fmt: skip
    params = checkpoint_params_b(tiny_model_dir)
    table.write_text(json.dumps({"params_b": params, "source": "test", "rows": rows}))
    monkeypatch.setenv("JARVIS_PLAY_FIT_TABLE", str(table))
    monkeypatch.setenv("JARVIS_PLAY_GPU_FREE_GIB", "10")
    seen = Seen(hub)
    with pytest.raises(FitError, match=r"Use --quantize 4bit \(about 8.2 GiB") as refused:
        fetch(REPO, seen.watch, FitAsk(quantize="none"))
    assert refused.value.offer == "4bit" and seen.progress[-1].offer == "4bit"
    declined = Seen(hub, yes=False)  # the offered setting passes, and its plan says why
    with pytest.raises(DownloadStopped, match="declined"):
        fetch(REPO, declined.watch, FitAsk(quantize="4bit"))
    assert "4bit needs about 8.2 GiB of the 10.0 GiB free" in declined.plan.note
    assert hub.weight_bytes() == 0


@pytest.mark.tmpfs
def test_a_disk_without_room_is_refused_before_anything_moves(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tmpfs(tmp_path / "small", "size=16m") as disk:
        monkeypatch.setenv("HF_HUB_CACHE", str(disk / "hub"))
        with pytest.raises(DiskFull, match=rf"needs 45.5 MB more .* the disk at {disk} has 16.8 MB free"):
            fetch(REPO, Watch(), FitAsk())
        assert hub.order == [] and not any(disk.rglob("*"))


@pytest.mark.tmpfs
def test_a_disk_that_fills_mid_download_is_named_and_the_partial_kept(
    hub: FakeHub, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.rate = 40e6
    with tmpfs(tmp_path / "disk", "size=128m") as disk:
        monkeypatch.setenv("HF_HUB_CACHE", str(disk / "hub"))
        seen = Seen(hub)
        fillers: list[Path] = []

        def something_else_fills_the_disk(p: Progress) -> None:
            if p.file == "model.safetensors" and p.file_done > 8e6 and not fillers:
                fillers.append(fill(disk))

        seen.watch.on_progress = something_else_fills_the_disk
        with pytest.raises(DiskFull, match=rf"the disk at {disk} is full .*kept in {disk}/hub"):
            fetch(REPO, seen.watch, FitAsk())
        partial = next(disk.rglob("*.incomplete"))
        assert partial.stat().st_size > 8e6
        fillers[0].unlink()
        folder = fetch(REPO, Watch(), FitAsk())  # room again: it resumes
        assert sha256(folder / "model.safetensors") == sha256(tiny_model_dir / "model.safetensors")
        assert not partial.exists()


def test_unreachable_gated_and_missing_each_get_a_sentence(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.gated.add(REPO)
    with pytest.raises(RepoGated) as gated:
        fetch(REPO, Watch(), FitAsk())
    assert "is gated: open" in str(gated.value) and "hf auth login" in str(gated.value)
    assert hub.weight_bytes() == 0
    with pytest.raises(RepoMissing) as missing:
        fetch("nobody/no-such-model", Watch(), FitAsk())
    assert str(missing.value).startswith("there is no model nobody/no-such-model on the hub")
    for one in (gated.value, missing.value):
        assert ". " not in str(one), one  # one sentence

    cache = tmp_path / "hub-cache"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(HubUnreachable) as down:
        fetch(REPO, Watch(), FitAsk())
    assert "cannot reach the hub at http://127.0.0.1:9" in str(down.value)
    assert f"not in the cache folder {cache}" in str(down.value) and f"`hf download {REPO}`" in str(
        down.value
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachable, match=r"the hub is offline \(HF_HUB_OFFLINE=1\)"):
        fetch(REPO, Watch(), FitAsk())


def test_a_tokenizer_without_the_action_tokens_is_refused_before_any_weight(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "qwen25"  # a Qwen2.5-VL layout: <tool_call> where JARVIS's first token belongs
    shutil.copytree(tiny_model_dir, bad)
    spec = json.loads((bad / "tokenizer.json").read_text())
    for token in spec["added_tokens"]:
        if token["id"] == 151657:
            token["content"] = "<tool_call>"
    (bad / "tokenizer.json").write_text(json.dumps(spec))
    with serving({"test-org/qwen25": bad}, tmp_path / "hub-cache", monkeypatch) as server:
        with pytest.raises(CheckpointError, match=r"Qwen2\.5-VL"):
            fetch("test-org/qwen25", Watch(), FitAsk())
        assert "tokenizer.json" in server.order and server.weight_bytes() == 0


def test_rate_and_time_left_come_from_the_last_seconds() -> None:
    now = [0.0]
    shown: list[Progress] = []
    tracker = Tracker("o/m", shown.append, clock=lambda: now[0])
    tracker.begin(total=100_000_000, on_disk=20_000_000, files=2, resumed=20_000_000)
    tracker.start_file("model.safetensors", 80_000_000, 20_000_000, 2)
    for _ in range(10):  # 1 MB every 0.1 s: 10 MB/s
        now[0] += 0.1
        tracker.add(1_000_000)
    state = tracker.state
    assert state.done == 30_000_000 and state.rate == pytest.approx(10e6)
    assert state.eta_s == pytest.approx(7.0)  # 70 MB left at 10 MB/s
    assert state.line() == (
        "Resuming o/m: 30.0 MB of 100.0 MB (30%), 10.0 MB/s, 7 s left "
        "· file 2 of 2, model.safetensors: 30.0 MB of 80.0 MB"
    )
    assert len(shown) == 4  # the file's start, then at most every 0.25 s (at 0.3, 0.6 and 0.9 s)
    now[0] += 60  # a stall: the rate is measured over the last seconds, not since the start
    tracker.add(1_000_000)
    assert tracker.rate() == pytest.approx(1e6 / 60.0)
