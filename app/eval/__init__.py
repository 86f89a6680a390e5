"""In-game evaluation: does the agent now *do* the task? Qt-free, shared by ``jarvis-play eval`` and
the window's Evaluate panel.

``judges`` decides each trial (the demo game's mod where the game can tell, the person's hotkeys
where it cannot), ``runner`` plays arms (base, adapters) in a blinded, interleaved order, ``stats``
gives Wilson intervals and Fisher's exact test, ``results`` writes a run's file and the history across
fine-tune rounds, ``plot`` draws that history as a PNG without Qt or matplotlib.
"""
