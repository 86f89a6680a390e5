"""options.txt: what the connector takes from it and what it tells the user."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.games import minecraft_options
from app.games.mouse_law import degrees_per_count

TRAINING = """version:2586
mouseSensitivity:0.5
rawMouseInput:true
pauseOnLostFocus:false
fov:0.0
gamma:2.0
guiScale:2
autoJump:false
toggleCrouch:false
toggleSprint:false
key_key.forward:key.keyboard.w
key_key.attack:key.mouse.left
"""


def test_training_settings_have_nothing_to_complain_about() -> None:
    opts = minecraft_options.parse(TRAINING)
    assert opts.mouse_sensitivity == 0.5
    assert opts.fov_degrees == pytest.approx(70.0)
    assert opts.findings(window_height=720) == []


def test_everything_wrong_is_reported_in_words() -> None:
    text = TRAINING.replace("pauseOnLostFocus:false", "pauseOnLostFocus:true")
    text = text.replace("rawMouseInput:true", "rawMouseInput:false").replace("fov:0.0", "fov:0.5")
    text = text.replace("gamma:2.0", "gamma:0.5").replace("guiScale:2", "guiScale:0")
    text = text.replace("toggleSprint:false", "toggleSprint:true").replace(
        "mouseSensitivity:0.5", "mouseSensitivity:1.0"
    )
    opts = minecraft_options.parse(text)
    findings = opts.findings(window_height=720)
    by_severity = {f.severity for f in findings}
    text_all = " ".join(f.text for f in findings)
    assert "breaks" in by_severity and "differs" in by_severity
    assert "pauseOnLostFocus" in text_all
    assert "FOV is 90°" in text_all
    assert "gamma" in text_all and "GUI scale is Auto" in text_all
    assert "toggleSprint" in text_all and "rawMouseInput" in text_all
    assert "compensated" in text_all  # sensitivity 1.0 is handled, not a problem
    assert degrees_per_count(opts.mouse_sensitivity) == pytest.approx(0.15 * 8 * 0.8**3)


def test_rebound_keys_are_used() -> None:
    opts = minecraft_options.parse(
        TRAINING + "key_key.forward:key.keyboard.up\nkey_key.jump:key.mouse.right\n"
    )
    binds = opts.bindings()
    assert binds["forward"] == "key.keyboard.up"
    assert binds["jump"] == "key.mouse.right"
    assert binds["back"] == "key.keyboard.s"
    assert any("forward=key.keyboard.up" in f.text for f in opts.findings())


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert minecraft_options.load(tmp_path / "nope.txt") is None
    (tmp_path / "options.txt").write_text(TRAINING)
    loaded = minecraft_options.load(tmp_path / "options.txt")
    assert loaded is not None and loaded.path == tmp_path / "options.txt"
