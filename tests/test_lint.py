"""The lint gate as tests: ruff's checks and formatting, and the import layering (lint-imports).

`make lint` runs the same three commands; having them here means `make test` cannot pass on a tree
that breaks the layering (app -> model -> recorder, Qt only in app/gui) or the style.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The tools come from the venv running the tests (the dev extra installs them), not from PATH.
BIN = Path(sys.executable).parent
SOURCES = ["app", "model", "recorder", "tests"]

CHECKS = {
    "ruff-check": ["ruff", "check", *SOURCES],
    "ruff-format": ["ruff", "format", "--check", *SOURCES],
    "lint-imports": ["lint-imports", "--no-logo", "--no-cache"],
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_lint_passes(name: str) -> None:
    tool, *args = CHECKS[name]
    exe = BIN / tool
    assert exe.exists(), f"{exe} is missing: install the dev tools with `pip install -e '.[dev]'`"
    done = subprocess.run(
        [str(exe), *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    code = done.returncode  # a plain int keeps pytest from repeating the whole output
    assert code == 0, f"`{tool} {' '.join(args)}` exited {code}:\n{done.stdout}\n{done.stderr}"
