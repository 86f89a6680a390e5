"""Screen capture of one X11 screen rectangle, delivered as the model's 640×360 RGB frame.

mss grabs BGRA into a buffer; numpy views it without copying and OpenCV does the one resize (area
averaging, only when the rectangle is not already 640×360) and the BGRA->RGB conversion in C.
That keeps a 640×360 grab well under a millisecond on Xvfb. An ``mss`` instance is tied to the
thread that made it, so ``ScreenCapture`` opens it lazily on first use, on the capturing thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from recorder.desktop.frames import to_rgb

Rect = tuple[int, int, int, int]  # left, top, width, height


class ScreenCapture:
    def __init__(
        self,
        region: Rect | Callable[[], Rect],
        size: tuple[int, int] = (640, 360),
        display: str | None = None,
    ) -> None:
        self._region = region
        self.size = size  # output width, height
        self.display = display
        self._local = threading.local()

    def _sct(self) -> Any:
        sct = getattr(self._local, "sct", None)
        if sct is None:
            import mss  # needs a display

            kwargs: dict[str, Any] = {}
            if self.display:
                kwargs["display"] = self.display
            sct = mss.MSS(**kwargs)
            self._local.sct = sct
        return sct

    def region(self) -> Rect:
        return self._region() if callable(self._region) else self._region

    def grab_bgra(self) -> np.ndarray:
        """The raw rectangle, H×W×4 BGRA (a view of mss's buffer, valid until the next grab)."""
        left, top, width, height = self.region()
        shot = self._sct().grab({"left": left, "top": top, "width": width, "height": height})
        return np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4)

    def grab(self) -> np.ndarray:
        """RGB uint8 of shape (height, width, 3) at ``self.size``."""
        return to_rgb(self.grab_bgra(), self.size)

    def close(self) -> None:
        sct = getattr(self._local, "sct", None)
        if sct is not None:
            sct.close()
            self._local.sct = None
