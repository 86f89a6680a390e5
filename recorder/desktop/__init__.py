"""The desktop seam: everything a game needs from the display server, behind one small protocol.

``protocol.Desktop`` names what a game needs (find and track its window, focus, capture, its GUI and
cursor state, inject, listen to the person, place windows, release everything); ``session.detect``
tells which display server this is and which backend can play there; ``backends.open_desktop`` opens
it. X11 (``x11``) is the first backend and XWayland (``xwayland``: a Wayland session, the game an X11
client of its XWayland server) the second. A Windows or macOS backend plugs in at the same place.
"""
