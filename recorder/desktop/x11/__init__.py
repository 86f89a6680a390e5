"""The X11 backend: an X server, Xorg or Xvfb (and XWayland, through ``recorder.desktop.xwayland``).

Importing it gives every python-xlib connection its own extension tables (``xlib_tables``).
"""

from recorder.desktop.x11 import xlib_tables  # noqa: F401  (patches python-xlib on import)
