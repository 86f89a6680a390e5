"""The X11 backend: an X server, Xorg or Xvfb (and XWayland, through ``recorder.desktop.xwayland``)."""
