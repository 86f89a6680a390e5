"""Where a person's input goes: a door's key, the save-last key, the takeover, or nowhere."""

from __future__ import annotations

from app.runtime.hotkeys import HotkeyRouter, Route, binding
from app.settings import Settings
from recorder.input import InputEvent


def key(kind: str, name: str) -> InputEvent:
    return InputEvent(kind, 0.0, key=name)  # type: ignore[arg-type]


def test_each_key_goes_where_it_belongs() -> None:
    pressed: list[str] = []
    router = HotkeyRouter(Settings(), {"key.keyboard.f6": lambda: pressed.append("f6")})
    assert router.route(key("key_down", "key.keyboard.f6")) is Route.DOOR and pressed == ["f6"]
    assert router.route(key("key_up", "key.keyboard.f6")) is Route.DROP and pressed == ["f6"]
    assert router.route(key("key_down", "key.keyboard.f8")) is Route.SAVE
    assert router.route(key("key_up", "key.keyboard.f8")) is Route.DROP  # saving is never a takeover
    assert router.route(key("key_down", "key.keyboard.f12")) is Route.PLAY  # panic: to the takeover
    assert router.route(key("key_down", "key.keyboard.w")) is Route.PLAY
    assert router.global_keys == {"key.keyboard.f12", "key.keyboard.f9", "key.keyboard.f8", "key.keyboard.f6"}


def test_ignored_input_is_dropped_but_the_global_keys_still_work() -> None:
    router = HotkeyRouter(Settings(), ignore=lambda e: True)  # e.g. everything lands in our own window
    assert router.route(key("button_down", "key.mouse.left")) is Route.DROP
    assert router.route(key("key_down", "key.keyboard.f9")) is Route.PLAY
    assert router.route(key("key_down", "key.keyboard.f8")) is Route.SAVE


def test_a_key_changed_in_the_settings_applies_at_the_next_event() -> None:
    settings = Settings()
    router = HotkeyRouter(settings)
    settings.save_last_key = "f7"
    assert router.route(key("key_down", "key.keyboard.f7")) is Route.SAVE
    assert router.route(key("key_down", "key.keyboard.f8")) is Route.PLAY
    assert binding("f7") == "key.keyboard.f7" and binding("no such key") == "no such key"
