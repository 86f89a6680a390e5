"""The window's download view when the fit check refuses: it offers the precision that fits, as a button.

The real window, controller and session load a hub model from ``tests.fake_hub`` (the real hub client,
in this process); a planned GPU of 10 GiB and a fit table in which this model needs 17.2 GiB in bf16
and 8.2 GiB in 4-bit make the check refuse bf16 and name 4-bit. No weight byte may move throughout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import Qt

from model.fit import checkpoint_params_b
from tests.app.gui.gui_fixtures import Gui, gui  # noqa: F401
from tests.fake_hub import FakeHub, serving

REPO = "test-org/tiny-jarvis"
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def hub(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with serving({REPO: tiny_model_dir}, tmp_path / "hub-cache", monkeypatch) as server:
        table = tmp_path / "fit-table.json"
        rows = [{"precision": "bf16", "weights_gib": 15.5, "peak_gib": 15.7, "actions_per_s": 15.7},
                {"precision": "4bit", "weights_gib": 6.5, "peak_gib": 6.7, "actions_per_s": 9.0}]  # fmt: skip
        params = checkpoint_params_b(tiny_model_dir)  # the table is for a model of this size
        table.write_text(json.dumps({"params_b": params, "source": "test", "rows": rows}))
        monkeypatch.setenv("JARVIS_PLAY_FIT_TABLE", str(table))
        monkeypatch.setenv("JARVIS_PLAY_GPU_FREE_GIB", "10")
        yield server


def test_a_refused_fit_offers_the_precision_that_fits(qtbot: Any, gui: Gui, hub: FakeHub) -> None:  # noqa: F811
    view = gui.window.download_view
    gui.window.model_picker.set_spec(REPO)
    qtbot.mouseClick(gui.window.model_picker.load, LEFT)
    qtbot.waitUntil(lambda: view.use_offer.isVisible(), timeout=60_000)
    assert view.use_offer.text() == "Use 4bit" and not view.download.isVisible()
    banner = gui.window.banner.text.text()
    assert (
        "needs about 17.2 GiB" in banner
        and "Use 4bit (about 8.2 GiB" in banner
        and "--quantize" not in banner
    )

    qtbot.mouseClick(view.use_offer, LEFT)  # take the offer: the plan comes back for 4-bit
    qtbot.waitUntil(lambda: view.download.isVisible(), timeout=60_000)
    assert gui.session.settings.quantize == "4bit" and gui.saved[-1].quantize == "4bit"
    assert "4bit needs about 8.2 GiB of the 10.0 GiB free" in view.text.text()

    qtbot.mouseClick(view.cancel, LEFT)  # and decline it: nothing large was fetched
    qtbot.waitUntil(lambda: not gui.controller.jobs, timeout=20_000)
    assert not view.isVisible() and gui.session.policy is None
    assert hub.weight_bytes() == 0
