"""The lint gate as tests: ruff's checks and formatting, the import layering (lint-imports), types (mypy).

`make lint` runs the same commands; having them here means `make test` cannot pass on a tree
that breaks the layering (app -> model -> recorder, Qt only in app/gui), the types or the style.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# The tools come from the venv running the tests (the dev extra installs them), not from PATH.
BIN = Path(sys.executable).parent
SOURCES = ["app", "model", "recorder", "tests"]

CHECKS = {
    "ruff-check": ["ruff", "check", *SOURCES],
    "ruff-format": ["ruff", "format", "--check", *SOURCES],
    "lint-imports": ["lint-imports", "--no-logo", "--no-cache"],
    # types as [tool.mypy] in pyproject.toml says; a cold cache (a fresh clone) takes about a CPU minute
    "mypy": ["mypy"],
}
SLOW = {"mypy"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CHECKS]
)
def test_lint_passes(name: str) -> None:
    tool, *args = CHECKS[name]
    exe = BIN / tool
    assert exe.exists(), f"{exe} is missing: install the dev tools with `pip install -e '.[dev]'`"
    done = subprocess.run(
        [str(exe), *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    code = done.returncode  # a plain int keeps pytest from repeating the whole output
    assert code == 0, f"`{tool} {' '.join(args)}` exited {code}:\n{done.stdout}\n{done.stderr}"


def test_make_test_gives_no_blanket_reruns() -> None:
    """A retry hides a timing failure: reruns come only from tests that say why (tests/conftest.py)."""
    for name in ("Makefile", "pyproject.toml"):
        text = (REPO / name).read_text()
        assert "--reruns" not in text and "reruns=" not in text, f"{name} reruns tests wholesale"


def test_a_rerun_needs_its_reason_and_never_covers_a_safety_or_privacy_test() -> None:
    from types import SimpleNamespace

    from tests.conftest import FIRST_TRY_ONLY, rerun_marker

    def item(**markers: Any) -> Any:
        marks = {name: SimpleNamespace(args=args, kwargs={}) for name, args in markers.items()}
        return SimpleNamespace(nodeid="t::x", get_closest_marker=marks.get)

    assert rerun_marker("test_input_minetest", item()) is None
    granted = rerun_marker("test_input_minetest", item(nondeterministic=("the game drops motion",)))
    assert granted is not None and granted.name == "flaky" and granted.kwargs["reruns"] == 1
    with pytest.raises(pytest.UsageError, match="needs the reason"):
        rerun_marker("test_input_minetest", item(nondeterministic=("",)))
    with pytest.raises(pytest.UsageError, match="bare `flaky`"):
        rerun_marker("test_input_minetest", item(flaky=()))
    for module in ("test_stuck_input", "test_privacy", "test_watchdog"):
        assert module in FIRST_TRY_ONLY
        with pytest.raises(pytest.UsageError, match="first try"):
            rerun_marker(module, item(nondeterministic=("it is slow",)))


def test_imports_inside_functions_say_why() -> None:
    """Imports go at the top, so the module's dependencies are in one place; one stays inside a function
    only for an optional or heavy dependency (torch, Qt, X11...), and a comment on its line says which."""
    unmarked = []
    for layer in ("app", "model", "recorder"):
        for path in sorted((REPO / layer).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.split("\n")
            for fn in ast.walk(ast.parse(text)):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for node in ast.walk(fn):
                        if (
                            isinstance(node, (ast.Import, ast.ImportFrom))
                            and "#" not in lines[node.end_lineno - 1]
                        ):
                            unmarked.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert not unmarked, "imports inside functions without a reason:\n" + "\n".join(sorted(set(unmarked)))


def test_every_import_of_our_own_modules_resolves() -> None:
    """An import inside a test function runs only when that test does, and the game tests run only in
    `make test`: a module moved in a refactor left one such import stale until a display run failed on it.
    Every import of app/model/recorder/tests, wherever it sits, must name a module that exists."""
    stale = []
    for folder in ("app", "model", "recorder", "tests"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    if name.split(".")[0] in ("app", "model", "recorder", "tests") and not _resolves(name):
                        stale.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    assert not stale, "imports of modules that do not exist:\n" + "\n".join(stale)


def _resolves(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


# Renames that move a file as it is (nothing written), so recorder.files has nothing to add: why each
MOVES = {
    ("recorder/episodes/trash.py", "os.rename(item, target)"): "an episode into the trash, as it is",
    (
        "model/finetune/run_folder.py",
        "os.replace(staged / name, out / name)",
    ): "an adapter's files, staged by replace_folder, into the run folder one by one (manifest last)",
    ("app/settings.py", "path.replace(backup)"): "an unreadable settings file aside, kept for the person",
}


def test_files_are_replaced_through_recorder_files() -> None:
    """One way to replace a file (``recorder.files``: temporary beside it, fsync, rename, fsync the
    folder): no other module renames a file over another or writes a ``.tmp`` sibling itself."""
    found = []
    for layer in ("app", "model", "recorder"):
        for path in sorted((REPO / layer).rglob("*.py")):
            name = str(path.relative_to(REPO))
            if name == "recorder/files.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    attr, owner = node.func.attr, node.func.value
                    by_os = isinstance(owner, ast.Name) and owner.id == "os" and attr in ("replace", "rename")
                    # Path.replace/rename take one argument; str.replace takes two
                    by_path = attr in ("replace", "rename") and len(node.args) == 1 and not node.keywords
                    if (by_os or by_path) and (name, ast.unparse(node)) not in MOVES:
                        found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
                text = node.value if isinstance(node, ast.Constant) else None
                if isinstance(text, str) and text.endswith(".tmp"):
                    found.append(f"{name}:{node.lineno}: {text!r}")
    assert not found, "replace files through recorder.files (write_atomically, atomic_open):\n" + "\n".join(
        found
    )
