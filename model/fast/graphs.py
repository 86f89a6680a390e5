"""Capture a computation as a CUDA graph, and accept the graph only if its first replay agrees.

A graph replays the kernels it recorded with no Python, no launches and no host synchronisation;
what it cannot do is notice that a recorded computation depended on something the host changed.
So every capture here is checked against the eager result of the same inputs before it is used, and
the caller falls back to eager (and says why) on any error or disagreement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def capture(body: Callable[[], torch.Tensor], rewind: Callable[[], None], eager: torch.Tensor) -> Any:
    """(graph, output) for ``body``: warmed up off the default stream (as CUDA graphs require),
    captured, rewound and replayed once; raises when the replay disagrees with ``eager``.

    ``rewind`` puts back whatever state ``body`` advances (cache counters, positions), so that the
    warm-up, the capture and the replay all start where the eager run started."""
    rewind()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        body()
    torch.cuda.current_stream().wait_stream(stream)
    rewind()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = body()
    rewind()
    graph.replay()
    return graph, output


def agree(replayed: torch.Tensor, eager: torch.Tensor, what: str, dtype: torch.dtype) -> None:
    """A replay agrees with eager when it differs by no more than rounding: a few units in the last
    place of the model's ``dtype`` at the scores' magnitude (in bf16 a graph's kernels may round a logit of
    8 to its neighbour 0.0625 away), and it picks the same token wherever eager's choice is clear by
    more than that. A tie within rounding is no evidence against the graph."""
    finite = torch.isfinite(eager) & torch.isfinite(replayed)
    zero = torch.zeros((), device=eager.device)
    diff = (replayed.float() - eager.float()).abs().where(finite, zero)
    scale = eager.float().abs().where(finite, zero).max()
    tol = max(1e-2, 4 * torch.finfo(dtype).eps * float(scale))
    top2 = eager.float().where(finite, torch.full((), -1e30, device=eager.device)).topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]) > 2 * tol
    same = replayed.argmax(-1) == eager.argmax(-1)
    if float(diff.max()) > tol or bool((clear & ~same).any()):
        raise RuntimeError(
            f"replayed {what} differs from eager by {float(diff.max()):.3g} (tolerance {tol:.3g})"
        )
