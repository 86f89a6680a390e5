"""A Wayland session under sway 1.7, headless, run as an unprivileged user as a person's
session is, with its XWayland.

minetest runs under XWayland and is played, listened to, covered and watched through jarvis-play's
doors; the checks are in xwayland_suite.py, the same for every compositor.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compositors import sway_session
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
    yield from wayland_game(sway_session())


def test_a_native_wayland_game_is_named_as_such_from_sways_tree(
    wl: WaylandGame, capsys: pytest.CaptureFixture[str]
) -> None:
    """sway says which windows are native Wayland (xdg_shell): such a game is refused in one sentence
    saying so and how to start it under XWayland (weston-terminal stands in for the game)."""
    import shutil
    import time

    from recorder.desktop import sway_ipc
    from tests.desktops.xwayland_suite import cli

    if shutil.which("weston-terminal") is None:
        pytest.skip("weston-terminal is not installed (apt-get install weston)")
    sock = wl.compositor.env["SWAYSOCK"]
    sway_ipc.command(sock, "exec weston-terminal")
    native: list[dict] = []
    try:
        deadline = time.monotonic() + 20
        while not native:
            native = [v for v in sway_ipc.views(sock) if v.get("shell") == "xdg_shell" and v.get("name")]
            assert time.monotonic() < deadline, "weston-terminal did not open"
            time.sleep(0.1)
        title = str(native[0]["name"])
        code = cli("run", "--window", title, "--model", "scripted:/dev/null", "--seconds", "1")
        err = capsys.readouterr().err
    finally:
        for view in native:
            sway_ipc.command(sock, f"[con_id={view['id']}] kill")
    print(err)
    assert code == 2 and "Traceback" not in err
    assert f"{title!r} is a native Wayland window" in err and "under XWayland" in err
    assert "start the game first" not in err  # one sentence: the game runs, but not where we can play it
