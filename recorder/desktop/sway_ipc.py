"""sway's IPC (the i3 protocol) in the two requests jarvis-play needs: run a command, read the tree.

sway decides keyboard focus itself: an X11 client's focus request only marks a window urgent under
its default ``focus_on_window_activation``, so the XWayland backend asks sway through ``$SWAYSOCK``.
The tree says which windows are native Wayland (``shell: xdg_shell``) and which XWayland.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from recorder.desktop.protocol import DesktopError

MAGIC = b"i3-ipc"
RUN_COMMAND = 0
GET_TREE = 4


class SwayError(DesktopError):
    """sway did not answer, or refused the command."""


def request(path: str, kind: int, payload: str = "", timeout: float = 2.0) -> Any:
    body = payload.encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(MAGIC + struct.pack("=II", len(body), kind) + body)
            header = _read(sock, len(MAGIC) + 8)
            length, _ = struct.unpack("=II", header[len(MAGIC) :])
            return json.loads(_read(sock, length))
    except (OSError, ValueError) as exc:
        raise SwayError(f"sway's IPC at {path} did not answer: {exc}") from exc


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def command(path: str, text: str) -> None:
    replies = request(path, RUN_COMMAND, text)
    failed = [r.get("error", "failed") for r in replies if not r.get("success")]
    if failed:
        raise SwayError(f"sway refused {text!r}: {'; '.join(failed)}")


def views(path: str) -> list[dict[str, Any]]:
    """Every window sway shows (tiled and floating), with its ``shell`` and ``name``."""
    out: list[dict[str, Any]] = []
    stack = [request(path, GET_TREE)]
    while stack:
        node = stack.pop()
        if node.get("type") in ("con", "floating_con") and node.get("shell"):
            out.append(node)
        stack.extend(node.get("nodes", []))
        stack.extend(node.get("floating_nodes", []))
    return out


def native_window(path: str, title: str | None) -> str | None:
    """The name of a native Wayland window whose title contains ``title``, or None."""
    if not title:
        return None
    try:
        found = views(path)
    except SwayError:
        return None
    for view in found:
        name = str(view.get("name") or "")
        if view.get("shell") == "xdg_shell" and title.lower() in name.lower():
            return name
    return None
