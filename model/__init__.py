"""Everything that knows about JARVIS-VLA: action tokens, prompts, weights and training.

Nothing here imports Qt, pynput or mss; the heavy ML packages are imported where they are used,
so the codec and prompt code stay usable (and fast to import) without torch.
"""
