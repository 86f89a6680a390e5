"""Where the person's input counts as input to the game: the game has focus and the pointer is inside it.

The input listener hears every key and pointer event on the display, including keys typed into
jarvis-play's own dialogs and the pointer crossing other windows. Only what reaches the game is
the person playing; everything else must never become a "human correction" (they are weighted ×3
in training). A scope also knows the game's pointer-grab centre: a game that holds the mouse
(Minecraft, minetest) warps the pointer back there after every move, and such a warp is not a move.

Scopes are asked from the listener's threads (keyboard and mouse run on two). The scopes of a game
window live with the desktop (``recorder.desktop.scopes``: ``WindowScope``, ``FocusedWindowScope``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from recorder.desktop.scopes import grab_centre

Point = tuple[int, int]

__all__ = ["GameScope", "PredicateScope", "grab_centre"]


class GameScope(Protocol):
    def in_game(self, x: float, y: float) -> bool:
        """Whether input now, with the pointer at root (x, y), goes to the game."""
        ...

    def centre(self) -> Point | None:
        """Root coordinates the game warps a held pointer back to; None if it does not hold it."""
        ...

    def close(self) -> None: ...


class PredicateScope:
    """A scope from two plain functions: for callers with their own idea of "the game" and for tests."""

    def __init__(self, in_game: Callable[[float, float], bool], centre: Callable[[], Point | None]) -> None:
        self._in_game = in_game
        self._centre = centre

    def in_game(self, x: float, y: float) -> bool:
        return self._in_game(x, y)

    def centre(self) -> Point | None:
        return self._centre()

    def close(self) -> None:
        pass
