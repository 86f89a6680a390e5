"""Where the window goes: beside the game, never over it, on screens from 1366×768 up.

The plan is pure geometry (rectangles in screen pixels, frames including the window manager's
decorations), so it is tested without a display. The demo game is ours: it is moved to the
top-left corner first. A foreign game stays where it is and the window takes the largest free
space beside it. The work area, the game's frame and moving it come from the game's desktop
(``recorder.desktop``: ``work_area``, ``frame``, ``move_frame``).
"""

from __future__ import annotations

from dataclasses import dataclass

Rect = tuple[int, int, int, int]  # left, top, width, height

# the smallest frame the window's layout fits in (a 1366×768 screen beside the 640×360 demo game
# leaves about 700×740)
MIN_WIDTH = 640
MIN_HEIGHT = 560


@dataclass(frozen=True)
class Placement:
    window: Rect  # our frame
    game_to: tuple[int, int] | None = None  # move the game's frame here first (the demo game)
    overlaps: bool = False  # no free space was big enough: we overlap the game


def overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def inside(a: Rect, outer: Rect) -> bool:
    return (
        a[0] >= outer[0]
        and a[1] >= outer[1]
        and a[0] + a[2] <= outer[0] + outer[2]
        and a[1] + a[3] <= outer[1] + outer[3]
    )


def free_spaces(screen: Rect, game: Rect) -> list[Rect]:
    """The four bands of ``screen`` beside ``game``'s frame: right, left, below, above."""
    sx, sy, sw, sh = screen
    gx, gy, gw, gh = game
    right = gx + gw
    bottom = gy + gh
    spaces = [
        (right, sy, sx + sw - right, sh),
        (sx, sy, gx - sx, sh),
        (sx, bottom, sw, sy + sh - bottom),
        (sx, sy, sw, gy - sy),
    ]
    return [s for s in spaces if s[2] > 0 and s[3] > 0]


def plan(
    screen: Rect,
    game: Rect | None,
    *,
    own_game: bool = False,
    minimum: tuple[int, int] = (MIN_WIDTH, MIN_HEIGHT),
    saved: Rect | None = None,
) -> Placement:
    """Where our frame goes. ``game`` is the game's frame (None: no game window); ``own_game``: it
    may be moved (to the top-left corner); ``saved``: where the person last had the window, kept
    when it fits the screen and stays clear of the game."""
    if game is not None:
        game = _clip(game, screen)
    game_to = None
    if game is not None and own_game:
        game_to = (screen[0], screen[1])
        game = (screen[0], screen[1], game[2], game[3])
    if saved is not None and inside(saved, screen) and (game is None or not overlap(saved, game)):
        return Placement(saved, game_to)
    if game is None:
        w, h = min(screen[2], 1280), min(screen[3], 860)
        return Placement((screen[0] + (screen[2] - w) // 2, screen[1] + (screen[3] - h) // 2, w, h))
    fits = [s for s in free_spaces(screen, game) if s[2] >= minimum[0] and s[3] >= minimum[1]]
    if fits:
        best = max(fits, key=lambda s: s[2] * s[3])
        return Placement(best, game_to)
    # nothing fits: the widest band anyway, at least the minimum, overlapping as little as possible
    spaces = free_spaces(screen, game) or [screen]
    best = max(spaces, key=lambda s: s[2] * s[3])
    w, h = max(best[2], minimum[0]), max(best[3], minimum[1])
    x = min(best[0], screen[0] + screen[2] - w)
    y = min(best[1], screen[1] + screen[3] - h)
    return Placement(
        (max(screen[0], x), max(screen[1], y), min(w, screen[2]), min(h, screen[3])), game_to, True
    )


def _clip(r: Rect, screen: Rect) -> Rect:
    x0, y0 = max(r[0], screen[0]), max(r[1], screen[1])
    x1, y1 = min(r[0] + r[2], screen[0] + screen[2]), min(r[1] + r[3], screen[1] + screen[3])
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def parse_rect(text: str) -> Rect | None:
    """``"x,y,w,h"`` (the settings' form) -> a rect; None when empty or malformed."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        return None
    return (x, y, w, h) if w > 0 and h > 0 else None


def format_rect(r: Rect) -> str:
    return ",".join(str(int(v)) for v in r)
