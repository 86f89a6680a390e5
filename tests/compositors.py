"""Real Wayland compositors, headless, each with its XWayland: the desktops of issue 20's tests.

* ``sway_session``: sway 1.7 (wlroots) on its headless backend. sway refuses to run as root, so as
  root it runs as the unprivileged ``nobody`` in a private 0700 ``XDG_RUNTIME_DIR``, as a person's
  session does; its XWayland then refuses other users' clients until the session's user allows
  them, so the session runs ``xhost +si:localuser:root`` (x11-xserver-utils), as a person would.
* ``mutter_session``: mutter 43 (GNOME's compositor) with ``--headless --wayland --virtual-monitor``
  on a private D-Bus session bus; its XWayland wants the auth file mutter writes.

Each yields a ``Compositor``: the environment a program started in that session has (``DISPLAY`` of
the XWayland, ``WAYLAND_DISPLAY``, ``XDG_RUNTIME_DIR``, ``XAUTHORITY``, ``SWAYSOCK``,
``XDG_CURRENT_DESKTOP``). Both skip with what to install when the compositor is missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recorder.desktop import parent_death_signal, sway_ipc

START_TIMEOUT_S = 30.0


@dataclass
class Compositor:
    name: str  # sway, mutter
    display: str  # its XWayland's DISPLAY
    env: dict[str, str]  # what a program of that session has in its environment
    log: Path

    def client_env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.env, **extra}

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


def _need(*binaries: str) -> None:
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (apt-get install sway mutter xwayland x11-xserver-utils)"
        )


def _wait(what: str, predicate, proc: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT_S):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the compositor exited ({proc.returncode}). Log:\n{_tail(log)}")
        time.sleep(0.05)
    raise TimeoutError(f"{what} within {timeout:.0f} s. Log:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Its whole process group (the compositor, its XWayland, a bus), SIGTERM then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def sway_session(width: int = 1280, height: int = 720) -> Iterator[Compositor]:
    _need("sway", "Xwayland", "xhost")
    runtime = Path(tempfile.mkdtemp(prefix="jarvis-sway-"))
    uid = gid = None
    if os.geteuid() == 0:  # sway: "Unable to drop root ... refusing to start"
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        os.chown(runtime, uid, gid)
    runtime.chmod(0o700)
    config = runtime / "config"
    config.write_text(f"xwayland enable\noutput HEADLESS-1 resolution {width}x{height}\n")
    log = Path(tempfile.mkstemp(prefix="jarvis-sway-", suffix=".log")[1])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(runtime),
        "XDG_RUNTIME_DIR": str(runtime),
        "WLR_BACKENDS": "headless",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "WLR_RENDERER": "pixman",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["sway", "-c", str(config)],
            env=env,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        sock = _wait(
            "sway's IPC socket", lambda: next(iter(runtime.glob("sway-ipc.*.sock")), None), proc, log
        )
        wayland = _wait(
            "sway's Wayland socket", lambda: next(iter(runtime.glob("wayland-[0-9]")), None), proc, log
        )
        # XWayland starts with its first client: the session's own xhost, which lets root's clients in
        shown = runtime / "display"
        allow = "xhost +si:localuser:root >/dev/null && " if uid is not None else ""
        sway_ipc.command(
            str(sock), f"exec sh -c '{allow}echo $DISPLAY > {shown}.tmp && mv {shown}.tmp {shown}'"
        )
        display = _wait("sway's XWayland", lambda: shown.exists() and shown.read_text().strip(), proc, log)
        yield Compositor(
            "sway",
            display,
            {
                "DISPLAY": display,
                "WAYLAND_DISPLAY": wayland.name,
                "XDG_RUNTIME_DIR": str(runtime),
                "SWAYSOCK": str(sock),
                "XDG_CURRENT_DESKTOP": "sway",
                "XDG_SESSION_TYPE": "wayland",
            },
            log,
        )
    finally:
        _stop(proc)
        shutil.rmtree(runtime, ignore_errors=True)
        log.unlink(missing_ok=True)


def _x11_socket_dir() -> None:
    """/tmp/.X11-unix open to all (1777), as an X server leaves it: mutter refuses to start XWayland
    when the folder is not writable by all, and when the folder is missing it creates it itself under
    the umask (1755), then refuses that. On a fresh machine no Xvfb has run before the first mutter."""
    folder = Path("/tmp/.X11-unix")
    folder.mkdir(exist_ok=True)
    if folder.stat().st_mode & 0o1777 != 0o1777 and folder.stat().st_uid == os.getuid():
        folder.chmod(0o1777)


@contextlib.contextmanager
def mutter_session(width: int = 1280, height: int = 720) -> Iterator[Compositor]:
    _need("mutter", "Xwayland", "dbus-run-session")
    _x11_socket_dir()
    runtime = Path(tempfile.mkdtemp(prefix="jarvis-mutter-"))
    runtime.chmod(0o700)
    log = Path(tempfile.mkstemp(prefix="jarvis-mutter-", suffix=".log")[1])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(runtime),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    cmd = ["dbus-run-session", "--", "mutter", "--headless", "--wayland", "--wayland-display",
           "wayland-jarvis", "--virtual-monitor", f"{width}x{height}"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=parent_death_signal,
        )  # fmt: skip

    def xwayland() -> str | None:
        found = re.search(r"Using public X11 display (:\d+)", _tail(log))
        auth = next(iter(runtime.glob(".mutter-Xwaylandauth.*")), None)
        return (
            found.group(1)
            if found and auth and Path(f"/tmp/.X11-unix/X{found.group(1)[1:]}").exists()
            else None
        )

    try:
        display = _wait("mutter's XWayland", xwayland, proc, log)
        auth = next(iter(runtime.glob(".mutter-Xwaylandauth.*")))
        yield Compositor(
            "mutter",
            display,
            {
                "DISPLAY": display,
                "WAYLAND_DISPLAY": "wayland-jarvis",
                "XDG_RUNTIME_DIR": str(runtime),
                "XAUTHORITY": str(auth),
                "XDG_CURRENT_DESKTOP": "GNOME",
                "XDG_SESSION_TYPE": "wayland",
            },
            log,
        )
    finally:
        _stop(proc)
        shutil.rmtree(runtime, ignore_errors=True)
        log.unlink(missing_ok=True)
