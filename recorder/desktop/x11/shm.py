"""MIT-SHM image reads for python-xlib: the X server writes pixels straight into our memory.

python-xlib has no MIT-SHM binding, and a plain ``GetImage`` of a 1280×720 window sends 3.7 MB
through the socket and parses it in Python (several ms). ``ShmGetImage`` is a 32-byte request whose
reply carries no pixels, so a read costs one round trip plus the server's memcpy, like mss's own
XShmGetImage path. Only two requests are needed (attach a segment, read an image), so they are
declared here with python-xlib's request builder rather than pulling in another X library.

SHM works only when the server shares our System V IPC namespace (a local display): ``attach``
raises ``ShmUnavailable`` otherwise, and the caller reads with plain ``GetImage`` instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numpy as np
from Xlib import X
from Xlib.error import CatchError
from Xlib.protocol import rq

from recorder.errors import RecorderError

EXTNAME = "MIT-SHM"
_IPC_PRIVATE = 0
_IPC_CREAT = 0o1000
_IPC_RMID = 0


class ShmUnavailable(RecorderError, RuntimeError):
    """MIT-SHM cannot be used on this display (remote server, no extension, no IPC)."""


class _Attach(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(1),
        rq.RequestLength(),
        rq.Card32("shmseg"),
        rq.Card32("shmid"),
        rq.Bool("read_only"),
        rq.Pad(3),
    )


class _Detach(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(2), rq.RequestLength(), rq.Card32("shmseg"))


class _GetImage(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(4),
        rq.RequestLength(),
        rq.Drawable("drawable"),
        rq.Int16("x"),
        rq.Int16("y"),
        rq.Card16("width"),
        rq.Card16("height"),
        rq.Card32("plane_mask"),
        rq.Card8("format"),
        rq.Pad(3),
        rq.Card32("shmseg"),
        rq.Card32("offset"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("depth"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("visual"),
        rq.Card32("size"),
        rq.Pad(16),
    )


def _libc() -> Any:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.shmget.argtypes = (ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
    libc.shmget.restype = ctypes.c_int
    libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmdt.argtypes = (ctypes.c_void_p,)
    libc.shmdt.restype = ctypes.c_int
    libc.shmctl.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
    libc.shmctl.restype = ctypes.c_int
    return libc


class ShmImage:
    """One shared segment attached to one X connection; ``read`` fills it from a drawable.

    The returned array is a view of the segment: valid until the next ``read`` (the mss contract).
    """

    def __init__(self, display: Any, size: int) -> None:
        ext = display.query_extension(EXTNAME)  # python-xlib lists only extensions it binds itself
        if ext is None or not ext.present:
            raise ShmUnavailable("the X server has no MIT-SHM extension")
        self._d = display
        self._opcode = ext.major_opcode
        self._libc = _libc()
        self.size = size
        self._shmid = self._libc.shmget(_IPC_PRIVATE, size, _IPC_CREAT | 0o600)
        if self._shmid < 0:
            raise ShmUnavailable(f"shmget failed (errno {ctypes.get_errno()})")
        addr = self._libc.shmat(self._shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            self._libc.shmctl(self._shmid, _IPC_RMID, None)
            raise ShmUnavailable(f"shmat failed (errno {ctypes.get_errno()})")
        self._addr: int | None = addr
        self._seg = display.display.allocate_resource_id()
        catch = CatchError()
        _Attach(
            display=display.display,
            onerror=catch,
            opcode=self._opcode,
            shmseg=self._seg,
            shmid=self._shmid,
            read_only=False,
        )
        display.sync()  # the server attaches now or never: a remote server fails with BadAccess
        # marked for removal once both sides detach, so a crash cannot leak the segment
        self._libc.shmctl(self._shmid, _IPC_RMID, None)
        if catch.get_error() is not None:
            self._attached = False
            self.close()
            raise ShmUnavailable("the X server cannot attach our shared memory (not a local display?)")
        self._attached = True
        self._buffer = (ctypes.c_ubyte * size).from_address(addr)

    def read(self, drawable: Any, width: int, height: int, x: int = 0, y: int = 0) -> np.ndarray:
        """H×W×4 BGRX of ``drawable``'s ``width``×``height`` at (x, y) (depth 24/32, ZPixmap)."""
        if width * height * 4 > self.size:
            raise ValueError(f"{width}×{height} does not fit the {self.size}-byte segment")
        _GetImage(
            display=self._d.display,
            opcode=self._opcode,
            drawable=drawable,
            x=x,
            y=y,
            width=width,
            height=height,
            plane_mask=0xFFFFFFFF,
            format=X.ZPixmap,
            shmseg=self._seg,
            offset=0,
        )
        return np.frombuffer(memoryview(self._buffer), np.uint8, width * height * 4).reshape(height, width, 4)

    def close(self) -> None:
        if getattr(self, "_attached", False):
            self._attached = False
            try:
                _Detach(display=self._d.display, opcode=self._opcode, shmseg=self._seg)
                self._d.sync()
            except Exception:  # the connection may already be gone; the segment dies with it
                pass
        if self._addr is not None:
            self._libc.shmdt(ctypes.c_void_p(self._addr))
            self._addr = None
