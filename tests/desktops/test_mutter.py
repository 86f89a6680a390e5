"""A Wayland session under mutter 43 (GNOME's compositor), headless, with its XWayland.

minetest runs under XWayland and is played, listened to, covered and watched through jarvis-play's
doors; the checks are in xwayland_suite.py, the same for every compositor.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compositors import mutter_session
from tests.desktops.xwayland_suite import (
    WaylandGame,
    nothing_left_held_on_xwayland,
    test_a_native_wayland_window_is_refused_with_how_to_run_it_under_xwayland,
    test_a_window_over_the_game_never_reaches_the_model_or_the_recording,
    test_doctor_says_xwayland_and_why,
    test_the_agent_plays_and_the_pose_log_shows_it,
    test_the_panic_key_releases_everything,
    test_the_persons_input_is_human_and_its_labels_match_the_turn,
    test_the_window_opens_and_its_screenshot_shows_the_game,
    wayland_game,
)

pytestmark = [pytest.mark.xvfb, pytest.mark.game, pytest.mark.wayland]

__all__ = [
    "nothing_left_held_on_xwayland",
    "test_a_native_wayland_window_is_refused_with_how_to_run_it_under_xwayland",
    "test_a_window_over_the_game_never_reaches_the_model_or_the_recording",
    "test_doctor_says_xwayland_and_why",
    "test_the_agent_plays_and_the_pose_log_shows_it",
    "test_the_panic_key_releases_everything",
    "test_the_persons_input_is_human_and_its_labels_match_the_turn",
    "test_the_window_opens_and_its_screenshot_shows_the_game",
]


@pytest.fixture(scope="module")
def wl() -> Iterator[WaylandGame]:
    # mutter centres a new window: 1920×1080 leaves room beside the 640×360 game for ours
    yield from wayland_game(mutter_session(1920, 1080))
