"""Pointer moves every injector shares: clamp to the screen, write the move in the ledger, then send.

The ledger must hold exactly the position the display server will report, or the listener would
take the agent's own move for the person's; an injector supplies ``_warp`` and ``pointer`` only.
"""

from __future__ import annotations

from recorder.desktop.protocol import Ledger, Point


class LedgeredPointer:
    ledger: Ledger
    screen: tuple[int, int]

    def _warp(self, x: int, y: int) -> None:
        raise NotImplementedError

    def pointer(self) -> Point:
        raise NotImplementedError

    def _clamp(self, x: int, y: int) -> Point:
        # the server clamps to the screen anyway; clamping here keeps the ledger's record exact
        return min(max(x, 0), self.screen[0] - 1), min(max(y, 0), self.screen[1] - 1)

    def move_by(self, dx: int, dy: int) -> None:
        if not (dx or dy):
            return
        x0, y0 = self.pointer()
        x, y = self._clamp(x0 + dx, y0 + dy)
        self.ledger.expect_move(x, y, origin=(x0, y0))
        self._warp(x, y)

    def move_to(self, x: int, y: int) -> None:
        x, y = self._clamp(x, y)
        self.ledger.expect_move(x, y)
        self._warp(x, y)
