"""Frames, human input and episodes on disk. The bottom layer: imports nothing from app/ or model/
except the env-action vocabulary and codec, and never steers the agent.

``recorder.input`` is what a person does to the game; ``recorder.episodes`` is what lands on disk.
The modules left at this level read the desktop (capture, X11 windows, GUI state, virtual displays).
"""
