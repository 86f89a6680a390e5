"""The command-line flags that override settings are generated from the Settings fields."""

from __future__ import annotations

import argparse
import dataclasses
import json

from app.commands.connect_args import add_loop_args, add_target_args
from app.settings import Settings, apply_flags
from recorder.episodes import RecordMode

# a value unlike each default, given as a person types it
GIVEN = {
    "tasks_file": ("--tasks", "/x/instructions.json", "/x/instructions.json"),
    "tick_hz": ("--hz", "7.5", 7.5),
    "fallback": ("--fallback", "repeat", "repeat"),
    "policy_timeout_s": ("--policy-timeout", "3", 3.0),
    "deadman_s": ("--deadman", "0", 0.0),
    "engine": ("--engine", "plain", "plain"),
    "quantize": ("--quantize", "8bit", "8bit"),
    "options_file": ("--options", "/x/options.txt", "/x/options.txt"),
    "degrees_per_count": ("--degrees-per-count", "0.15", 0.15),
    "gui_scale": ("--gui-scale", "2", 2.0),
    "require_focus": ("--no-focus-check", None, False),
    "input_anywhere": ("--input-anywhere", None, True),
    "panic_key": ("--panic-key", "f10", "f10"),
    "pause_key": ("--pause-key", "f7", "f7"),
    "resume_after_s": ("--resume-after", "0", 0.0),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_target_args(parser)
    add_loop_args(parser)
    return parser


def test_every_flagged_setting_has_its_flag_and_nothing_else_does() -> None:
    flagged = {f.name for f in dataclasses.fields(Settings) if "flag" in f.metadata}
    assert flagged == set(GIVEN)


def test_each_flag_sets_its_setting_and_only_that() -> None:
    for name, (flag, text, value) in GIVEN.items():
        args = _parser().parse_args([flag] if text is None else [flag, text])
        settings = apply_flags(Settings(), args)
        assert getattr(settings, name) == value, flag
        assert getattr(settings, name) != getattr(Settings(), name), flag
        others = {f.name for f in dataclasses.fields(Settings)} - {name}
        assert all(getattr(settings, n) == getattr(Settings(), n) for n in others), flag


def test_a_flag_not_given_leaves_the_saved_setting() -> None:
    saved = Settings(tick_hz=5.0, require_focus=False, engine="fast")
    assert apply_flags(saved, _parser().parse_args([])) == Settings(
        tick_hz=5.0, require_focus=False, engine="fast"
    )


def test_the_help_shows_the_settings_default_from_the_field() -> None:
    text = _parser().format_help()
    assert f"(default: {Settings().tick_hz:g})" in text
    assert f"(default: {Settings().panic_key})" in text
    assert "{hold,chunk,repeat,null}" in text


def test_a_saved_setting_outside_its_choices_falls_back_to_the_default_with_a_message() -> None:
    from app.settings import from_dict

    settings, messages = from_dict({"fallback": "sometimes", "engine": "plain"})
    assert settings.fallback == Settings().fallback and settings.engine == "plain"
    assert messages == [
        "setting ignored, default used: fallback should be one of hold, chunk, repeat, null, not 'sometimes'"
    ]


def test_the_record_mode_is_kept_as_its_enum_and_a_wrong_one_falls_back_with_a_message() -> None:
    from app.settings import from_dict

    settings, messages = from_dict({"record_mode": "teleop"})
    assert settings.record_mode is RecordMode.TELEOP and messages == []
    assert json.loads(json.dumps(settings.to_dict()))["record_mode"] == "teleop"  # saved as its word
    for wrong in ("sometimes", "ring"):  # ring: what the save-last key keeps, not a mode to pick
        settings, messages = from_dict({"record_mode": wrong})
        assert settings.record_mode is RecordMode.CORRECTIONS
        assert messages == [
            "setting ignored, default used: record_mode should be one of teleop, agent, corrections, "
            f"not {wrong!r}"
        ]
