"""The overlay as data: what it says for an action, without painting anything."""

from __future__ import annotations

from app.gui.overlay import BADGES, overlay_for
from model.actions.env import normalize


def test_held_keys_are_labelled_with_their_bindings() -> None:
    ov = overlay_for(normalize({"forward": 1, "attack": 1, "hotbar.3": 1}), "agent")
    assert ov.keys == ("LMB", "W", "3")  # BUTTONS order: attack, forward, ..., hotbar
    rebound = overlay_for(normalize({"forward": 1}), "agent", bindings={"forward": "key.keyboard.up"})
    assert rebound.keys == ("Up",)


def test_arrow_points_where_the_view_turns() -> None:
    right_down = overlay_for(normalize({"camera": [4.0, 6.0]}), "agent").arrow
    assert right_down is not None
    assert right_down.x1 > right_down.x0 and right_down.y1 > right_down.y0
    left_up = overlay_for(normalize({"camera": [-4.0, -6.0]}), "agent").arrow
    assert left_up is not None
    assert left_up.x1 < left_up.x0 and left_up.y1 < left_up.y0
    # a bigger move draws a longer arrow, up to the cap at the largest bin (10°)
    small = overlay_for(normalize({"camera": [0.0, 1.0]}), "agent").arrow
    big = overlay_for(normalize({"camera": [0.0, 9.0]}), "agent").arrow
    huge = overlay_for(normalize({"camera": [0.0, 40.0]}), "agent").arrow
    assert small and big and huge
    assert small.x1 - small.x0 < big.x1 - big.x0 < huge.x1 - huge.x0 + 1e-9
    assert huge.x1 <= 1.0


def test_camera_text_and_null_action() -> None:
    ov = overlay_for(normalize({"camera": [5.2, -1.8]}), "agent")
    assert ov.camera_text == "5.2° down, 1.8° left"
    null = overlay_for(normalize({}), "agent")
    assert null.keys == () and null.arrow is None and null.camera_text == ""


def test_badge_says_who_is_in_control() -> None:
    for mode, word in (("agent", "AGENT"), ("human", "YOU"), ("paused", "PAUSED")):
        ov = overlay_for(None, mode, instruction="Mine the oak log.")
        assert ov.badge == word
        assert ov.badge_color == BADGES[mode][1]
        assert ov.instruction == "Mine the oak log."
    colors = {BADGES[m][1] for m in ("agent", "human", "paused")}
    assert len(colors) == 3  # unmistakable: three different colours
