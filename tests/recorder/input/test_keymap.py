from __future__ import annotations

import pytest

from recorder.input import keymap


def test_defaults_are_minecraft_bindings() -> None:
    b = keymap.DEFAULT_BINDINGS
    assert (b["forward"], b["back"], b["left"], b["right"]) == tuple(f"key.keyboard.{c}" for c in "wsad")
    assert b["jump"] == "key.keyboard.space"
    assert b["sneak"] == "key.keyboard.left.shift" and b["sprint"] == "key.keyboard.left.control"
    assert b["attack"] == "key.mouse.left" and b["use"] == "key.mouse.right"
    assert b["inventory"] == "key.keyboard.e" and b["drop"] == "key.keyboard.q"
    assert all(b[f"hotbar.{i}"] == f"key.keyboard.{i}" for i in range(1, 10))


def test_x11_keysyms() -> None:
    assert keymap.X11_KEYSYMS["key.keyboard.w"] == 0x77
    assert keymap.X11_KEYSYMS["key.keyboard.f12"] == 0xFFC9
    assert keymap.X11_KEYSYMS["key.keyboard.left.shift"] == 0xFFE1
    assert keymap.from_keysym(0x20) == "key.keyboard.space"
    assert keymap.from_keysym(0x57) is None  # uppercase W is not a key of its own


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("F12", "key.keyboard.f12"),
        ("w", "key.keyboard.w"),
        ("esc", "key.keyboard.escape"),
        ("mouse.left", "key.mouse.left"),
        ("key.keyboard.space", "key.keyboard.space"),
        ("ctrl", "key.keyboard.left.control"),
    ],
)
def test_binding_names(text: str, name: str) -> None:
    assert keymap.binding_name(text) == name


def test_rebinding_is_validated() -> None:
    assert keymap.resolve_bindings({"forward": "up"})["forward"] == "key.keyboard.up"
    with pytest.raises(ValueError, match="not an env action key"):
        keymap.resolve_bindings({"fly": "w"})
    with pytest.raises(ValueError, match="unknown key"):
        keymap.binding_name("hyper")
