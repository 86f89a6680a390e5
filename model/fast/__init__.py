"""The fast constrained decoder (``--engine fast``): ``VLA.generate``'s action tokens, less overhead.

A constrained step is one prefill (about 300 image tokens plus the text) and k+1 one-token decode
steps for an action with k button groups. In eager transformers both are bound by Python, kernel
launches (hundreds per layer pass) and host synchronisations inside the model code (rope index,
image-token checks, vision splits), not by the GPU. Here, one module per piece:

* ``layout``: the token layout is computed once per prompt shape (ids, multimodal rope positions,
  image slots), so a tick needs no tokenizer and no rope-index code;
* ``cache``: a ``StaticCache`` allocated once; the prompt head (system message, instruction) stays
  in it while the instruction stands, and only the rest (image, closing tags) is run each tick;
* ``resize`` and ``pixels``: the captured 640×360 frame goes to the device as bytes and is resized
  there bit for bit as PIL does, then rescaled, normalised and cut into patches with the processor's
  own arithmetic; each new layout is checked against PIL and the processor, which stay in use where
  they differ;
* ``vision``: the vision tower through SDPA over each image's span (known on the host), checked
  against the library's tower on the first image;
* ``grammar``: logits of the 75 action ids only, the action grammar as device masks, and the choice
  of the token (argmax, or a Gumbel-max draw) on the device;
* ``graphs``: the prefill (cache rewind, resize, pixels, vision, language model, head, first choice)
  and the decode step (one token in, the next chosen) are each one CUDA graph, captured the second
  time a layout is seen and checked against eager on their first replay; per token the host replays
  one graph and reads one id (it must, to stop after the yaw token);
* ``engine``: ``FastVLA``, which runs a tick with these, or eagerly where a graph is not possible
  (a CPU, a failed capture: the same bodies, the graph-free equivalent) and says why in ``mode``.

Greedy decoding gives the plain path's tokens (checked by tests on CPU, and by ``make gpu-check`` on a
GPU). Sampling draws from the same distribution with a different random stream. Unconstrained
requests go to the plain path.
"""

from model.fast.engine import FastVLA

__all__ = ["FastVLA"]
