"""The demo game answers none of the app's own hotkeys: a person's F6 or F9 must not change the game.

The person-judged evaluation's success key (F6) was minetest's profiler toggle, so after one judged
trial the profiler page covered the game for the rest of the session: every later frame the model saw,
and every frame recorded, was polluted. The truth for what minetest binds is its own defaults
(src/defaultsettings.cpp of minetest 5.6, the Debian package this project tests with; later versions
moved the camera key from F7 to C, which is why both are covered).
"""

from __future__ import annotations

from dataclasses import fields

from app.eval.judges import PersonJudge
from app.games.demo_game import DemoGameConfig, settings
from app.settings import Settings

# minetest 5.6's default bindings of function keys (defaultsettings.cpp), F-keys only
MINETEST_F_KEYS = {
    "keymap_toggle_hud": "KEY_F1",
    "keymap_toggle_chat": "KEY_F2",
    "keymap_toggle_fog": "KEY_F3",
    "keymap_toggle_debug": "KEY_F5",
    "keymap_toggle_profiler": "KEY_F6",
    "keymap_camera_mode": "KEY_F7",
    "keymap_console": "KEY_F10",
    "keymap_screenshot": "KEY_F12",
}


def app_hotkeys() -> set[str]:
    """Every key the app listens for by default, as minetest names keys ("f6" -> "KEY_F6")."""
    keys = {f.default for f in fields(Settings) if f.name.endswith("_key")}
    keys |= {f.default for f in fields(PersonJudge) if f.name.endswith("_key")}
    assert {"f6", "f7", "f8", "f9", "f12"} <= keys, keys  # the table below is worth its name
    return {f"KEY_{str(k).upper()}" for k in keys}


def test_no_minetest_binding_in_the_demo_game_is_one_of_the_apps_hotkeys() -> None:
    ours = settings(DemoGameConfig())
    bound = {**MINETEST_F_KEYS, **{k: v for k, v in ours.items() if k.startswith("keymap_")}}
    clashes = {name: key for name, key in bound.items() if key in app_hotkeys()}
    assert clashes == {}, f"the game acts on the app's hotkeys: {clashes}"


def test_the_demo_game_keeps_minecrafts_function_keys() -> None:
    ours = settings(DemoGameConfig())
    assert ours.get("keymap_toggle_hud", MINETEST_F_KEYS["keymap_toggle_hud"]) == "KEY_F1"
    assert ours["keymap_screenshot"] == "KEY_F2"  # Minecraft: F1 HUD, F2 screenshot, F3 debug, F5 view
    assert ours["keymap_toggle_debug"] == "KEY_F3"
    assert ours["keymap_camera_mode"] == "KEY_F5"
