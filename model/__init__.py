"""Everything that knows about JARVIS-VLA: action tokens, prompts, weights and training.

Nothing here imports Qt, pynput or mss; the heavy ML packages are imported where they are used,
so the codec and prompt code stay usable (and fast to import) without torch.
"""

import os

# Torch's OpenMP threads spin while they wait for each other (libgomp's ACTIVE policy). With the game,
# the window, capture and a training or test process sharing a few cores, a spinning thread holds a core
# its partner needs: measured here on 2 cores under load, a 2808x64 by 64x16 matmul took 22-35 ms with
# the default policy and 0.7 ms with PASSIVE (1.6 ms on one thread). libgomp reads this once, when torch
# loads, so it is set before anything below imports torch; a value the person set still wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
