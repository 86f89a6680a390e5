"""Shared fixtures. Qt runs offscreen; nothing reaches the network; ../shared is optional."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("JARVIS_PLAY_TASKS_SOURCE", "none")  # no task-library download, no user cache
# as the product sets it (model/__init__.py), before any test module imports torch: two workers and
# a game on two cores, and torch threads that spin while they wait make every small op 20-50x slower
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# and one thread per torch (and per child it starts): the models here are tiny and the other core is
# the other worker's. The fine-tune test's first 16 steps, both PASSIVE: 47 CPU s and 64 s on the
# clock with two threads, 36 CPU s and 42 s with one (load average 2.5-3.8).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Xvfb + minetest session fixtures (xvfb, minetest_session, game) for the real-game tests
pytest_plugins = ["tests.game_fixtures"]

# A test that uses one of these fixtures starts Xvfb (and minetest): it gets the markers that
# `make test-fast` (-m "not slow and not game and not xvfb") leaves out, whether or not its module says so.
FIXTURE_MARKERS = {"xvfb": ("xvfb",), "minetest_session": ("xvfb", "game"), "game": ("xvfb", "game")}

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


# Reruns. `make test` gives no test a second try by default: a retry hides a timing failure (one that
# fails half the time passes three times in four). A test whose outcome depends on something outside
# our control gets exactly one more try, and only by saying why where it is written:
#     @pytest.mark.nondeterministic("minetest drops part of slow pointer motion when both cores are busy")
# Safety and privacy tests must pass on the first try: their modules may not use the marker at all.
RERUNS = {"reruns": 1, "reruns_delay": 2}
FIRST_TRY_ONLY = frozenset(
    {
        "test_stuck_input",  # input released on every way out
        "test_watchdog",
        "test_safety",
        "test_takeover",  # the panic key, the person pre-empting the agent
        "test_no_phantom_input",
        "test_privacy",  # what is typed elsewhere is never stored
        "test_input_scope",
        "test_window_capture",  # a covered frame never reaches the model
    }
)


def rerun_marker(module: str, item: pytest.Item) -> pytest.MarkDecorator | None:
    """The rerun a test may have: one, when it is marked ``nondeterministic`` with its reason.
    Raises ``pytest.UsageError`` for a reason left out, a safety or privacy test, or a bare ``flaky``."""
    marked = item.get_closest_marker("nondeterministic")
    if marked is None:
        if item.get_closest_marker("flaky") is not None:
            raise pytest.UsageError(
                f"{item.nodeid}: no bare `flaky` marker; say why with @pytest.mark.nondeterministic(reason)"
            )
        return None
    reason = marked.args[0] if marked.args else marked.kwargs.get("reason", "")
    if not str(reason).strip():
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.nondeterministic needs the reason it may fail")
    if module in FIRST_TRY_ONLY:
        raise pytest.UsageError(
            f"{item.nodeid}: a safety or privacy test must pass on the first try; it gets no rerun"
        )
    return pytest.mark.flaky(**RERUNS)


@pytest.hookimpl(tryfirst=True)  # before -m deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, markers in FIXTURE_MARKERS.items():
            if fixture in names:
                for marker in markers:
                    if item.get_closest_marker(marker) is None:
                        item.add_marker(marker)
        rerun = rerun_marker(Path(str(item.fspath)).stem, item)
        if rerun is not None:
            item.add_marker(rerun)
    items[:] = longest_first(items)


# The order tests run in, by module (a module's tests stay together, in their order: module fixtures).
# First the modules that use the session's minetest, so that it can close after the last of them
# (tests/game_fixtures.py); among those and among the rest, the longest first (wall clock, measured in
# the display tier), then every module with a slow test, then the rest as collected. Workers take tests
# in this order, so a long test collected last no longer runs alone at the end while the other idles.
LONGEST_FIRST = (
    "test_learning_loop",
    "test_eval_game",
    "test_product_loop",
    "test_stuck_input",
    "test_window_layout_xvfb",
)


def longest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    from tests.game_fixtures import uses_session_game  # here: the environment above comes first

    modules: dict[Path, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(Path(str(item.fspath)), []).append(item)

    def rank(path: Path) -> tuple[int, int, int]:
        tests = modules[path]
        game = any(uses_session_game(item) for item in tests)
        listed = LONGEST_FIRST.index(path.stem) if path.stem in LONGEST_FIRST else len(LONGEST_FIRST)
        slow = any(item.get_closest_marker("slow") is not None for item in tests)
        return (0 if game else 1, listed, 0 if slow else 1)

    return [item for path in sorted(modules, key=rank) for item in modules[path]]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """A ``tmpfs``-marked test where only a user namespace can mount its tmpfs (not root): run it whole,
    fixtures included, in a child ``unshare -rm`` pytest, and report that run as this test's."""
    from tests import tmpfs

    if item.get_closest_marker("tmpfs") is None or tmpfs.where_to_mount() != tmpfs.NAMESPACE:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    start = time.time()
    outcome, said = tmpfs.run_in_namespace(item.nodeid)
    path, line, _ = item.location
    longrepr: Any = None
    if outcome == "failed":
        longrepr = f"in a user and mount namespace of its own (unshare -rm):\n{said}"
    elif outcome == "skipped":
        longrepr = (str(path), (line or 0) + 1, f"Skipped: {said}")
    keywords = {name: 1 for name in item.keywords}
    report = pytest.TestReport(item.nodeid, item.location, keywords, outcome, longrepr, "call",
                               duration=time.time() - start, start=start, stop=time.time())  # fmt: skip
    item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


# ----- what each test costs, in CPU seconds ------------------------------------------------------
# Wall-clock durations on this shared 2-core machine say more about the neighbours than about the
# test. `pytest --cpu-report=N` lists the N tests that used the most CPU (this process and the
# children it waited for, user + system, setup to teardown): a figure that load barely moves.
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-report", type=int, default=0, metavar="N", help="list the N costliest tests in CPU s"
    )


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    if call.when == "setup":
        item.stash[_CPU_START] = _cpu_seconds()
    outcome = yield
    if call.when == "teardown" and _CPU_START in item.stash:
        outcome.get_result().user_properties.append(("cpu_s", _cpu_seconds() - item.stash[_CPU_START]))


_CPU_START = pytest.StashKey[float]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    n = config.getoption("--cpu-report")
    if not n:
        return
    costs = [
        (value, report.nodeid)
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "teardown"
        for name, value in getattr(report, "user_properties", ())
        if name == "cpu_s"
    ]
    total = sum(c for c, _ in costs)
    terminalreporter.write_sep("=", f"CPU seconds: {total:.0f} in {len(costs)} tests; the {n} costliest")
    for cost, nodeid in sorted(costs, reverse=True)[:n]:
        terminalreporter.write_line(f"{cost:8.1f}  {nodeid}")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a skip that says why (a fresh clone has no ../shared)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (the project's shared fixtures), absent here")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny random Qwen2-VL per test session, built by the same code as `model make-tiny`."""
    from model.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_vla(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from model.vla import VLA

    return VLA.load(str(tiny_model_dir), device="cpu")


@pytest.fixture
def frame() -> np.ndarray:  # noqa: F821
    """A real 640×360 Minecraft frame when ../shared exists, else a synthetic one of the same shape."""
    import numpy as np

    real = SHARED / "fixtures" / "frames" / "jarvisvla_episode_1_f029.png"
    if real.exists():
        from PIL import Image

        return np.asarray(Image.open(real).convert("RGB"))
    # Without ../shared: a smooth scene (sky gradient, ground, a few blocks) with the statistics of a
    # game frame; pure noise would make every lossy step (JPEG, resize) look broken.
    y = np.linspace(0.0, 1.0, 360)[:, None]
    x = np.linspace(0.0, 1.0, 640)[None, :]
    scene = np.empty((360, 640, 3), np.float64)
    scene[..., 0] = 90 + 80 * y + 10 * x
    scene[..., 1] = 150 + 60 * y - 20 * x
    scene[..., 2] = 230 - 120 * y
    scene[200:] = (96, 140, 60)  # ground
    scene[150:260, 300:380] = (110, 80, 50)  # a tree trunk
    scene[120:170, 260:420] = (40, 110, 40)  # leaves
    return scene.clip(0, 255).astype(np.uint8)
