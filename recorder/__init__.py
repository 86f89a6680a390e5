"""Frames, human input and episodes on disk. The bottom layer: imports nothing from app/ or model/
except the env-action vocabulary and codec, and never steers the agent."""
