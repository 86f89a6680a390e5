"""The fast constrained decoder (``--engine fast``): ``VLA.generate``'s action tokens, fewer launches.

A constrained step is one prefill (about 300 image tokens plus the text) and k+2 one-token decode
steps. In eager transformers each decode step is bound by kernel launches (hundreds per token for a
28-layer model) and by ``generate``'s per-token Python, not by the GPU. Here:

* the KV cache is a ``StaticCache`` allocated once (and again only when a longer prompt arrives), so
  every decode step has fixed shapes and fixed addresses;
* on CUDA the one-token step (embedding, decoder, head) is captured once as a CUDA graph and replayed;
  its attention mask is computed inside the graph from a position buffer, so transformers' mask code
  (which synchronises with the host) never runs in it. If capture fails, or the replayed logits do not
  match an eager step on the first use, the decoder stays eager and says why in ``mode``;
* the action grammar is a table of additive masks on the device, indexed by the grammar state; the
  only host work per token is reading the chosen id (needed anyway to stop after the yaw token).

Greedy decoding gives exactly the plain path's tokens (checked by tests on CPU, and by
``bench gpu-check`` on a GPU). Sampling draws from the same distribution with a different random
stream. Unconstrained requests go to the plain path.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from model.actions.grammar import ALLOWED, YAW_IDS, complete
from model.actions.tokens import BEGIN_ID, ID_TO_GROUP_VALUE
from model.prompts import Message
from model.vla import VLA, Generation, Sampling

LOG = logging.getLogger(__name__)
MAX_ACTION_TOKENS = 10  # ≤ 8 button groups + pitch + yaw, as the plain path's max_new_tokens
CACHE_STEP = 256  # cache lengths are rounded up to this, so small prompt changes reuse the cache


def _language_model(model: Any) -> Any:
    """The decoder stack (``Qwen2VLTextModel``), through a PEFT wrapper if there is one."""
    for candidate in (model, getattr(model, "base_model", None)):
        for path in ("model.language_model", "model.model.language_model", "language_model"):
            found = candidate
            for part in path.split("."):
                found = getattr(found, part, None)
            if found is not None:
                return found
    raise TypeError(f"{type(model).__name__}: no language_model found for the fast decoder")


class FastVLA:
    """A ``VLA`` stand-in for ``LocalPolicy``: same ``generate``, ``lock``, ``tokenizer``, ``name``."""

    def __init__(self, vla: VLA, cuda_graph: bool | None = None) -> None:
        import torch

        self.vla = vla
        self.lock = vla.lock
        self.processor = vla.processor
        self.tokenizer = vla.tokenizer
        self.name = vla.name + " (fast)"
        self.device = vla.device
        self.use_graph = (self.device.type == "cuda") if cuda_graph is None else cuda_graph
        self.mode = "eager static cache" + ("" if self.use_graph else " (no CUDA)")
        self._cache: Any = None
        self._cache_len = 0
        self._graph: Any = None
        self._static: dict[str, Any] = {}
        vocab = vla.model.get_output_embeddings().weight.shape[0]
        rows = {state: state + 1 for state in ALLOWED}  # START=-1 -> 0, group g -> g + 1
        masks = torch.full((max(rows.values()) + 1, vocab), float("-inf"))
        for state, allowed in ALLOWED.items():
            masks[rows[state], list(allowed)] = 0.0
        self._masks = masks.to(self.device)
        self._yaw = set(YAW_IDS)

    # ----- the same interface as VLA --------------------------------------------------------------
    @property
    def model(self) -> Any:
        return self.vla.model

    def generate(
        self, messages: list[Message], images: list[Any], sampling: Sampling, constrained: bool = True
    ) -> Generation:
        if not constrained:
            return self.vla.generate(messages, images, sampling, constrained=False)
        import torch

        t0 = time.perf_counter()
        batch = self.vla.inputs(messages, images, force_begin=True)
        t1 = time.perf_counter()
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            new = self._decode(batch, sampling.temperature)
        t2 = time.perf_counter()
        ids = complete(new) if new and new[-1] in self._yaw else [BEGIN_ID, *new]
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        timings = {
            "prepare_ms": (t1 - t0) * 1e3,
            "generate_ms": (t2 - t1) * 1e3,
            "new_tokens": float(len(new)),
        }
        return Generation(ids=ids, text=text, timings_ms=timings)

    # ----- decoding -------------------------------------------------------------------------------
    def _decode(self, batch: Any, temperature: float) -> list[int]:
        import torch

        length = int(batch["input_ids"].shape[1])
        self._ensure_cache(length + MAX_ACTION_TOKENS + 1)
        self._cache.reset()
        out = self.vla.model(**batch, **{self._cache_kw: self._cache}, use_cache=True, logits_to_keep=1)
        rope_deltas = getattr(_inner(self.vla.model), "rope_deltas", None)
        delta = int(rope_deltas.reshape(-1)[0]) if rope_deltas is not None else 0
        logits = out.logits[:, -1]
        state, new = -1, []
        for step in range(MAX_ACTION_TOKENS):
            scores = logits.float() + self._masks[state + 1]
            if temperature > 0:
                token = torch.multinomial(torch.softmax(scores / temperature, dim=-1), 1)
            else:
                token = scores.argmax(dim=-1, keepdim=True)
            chosen = int(token)
            new.append(chosen)
            if chosen in self._yaw:
                break
            state = ID_TO_GROUP_VALUE[chosen][0]
            logits = self._step(token.view(1, 1), length + step, delta)
        return new

    def _ensure_cache(self, needed: int) -> None:
        from transformers import StaticCache

        if self._cache is not None and self._cache_len >= needed:
            return
        self._cache_len = -(-needed // CACHE_STEP) * CACHE_STEP
        self._cache = StaticCache(config=self.vla.model.config, max_cache_len=self._cache_len)
        self._graph = None  # bound to the old cache's tensors
        self._static = {}

    @property
    def _cache_kw(self) -> str:
        """transformers renamed ``past_key_values`` to ``cache`` (5.2x); use what this version takes."""
        names = inspect.signature(_language_model(self.vla.model).forward).parameters
        return "cache" if "cache" in names else "past_key_values"

    def _step(self, token: Any, position: int, delta: int) -> Any:
        """Logits after feeding ``token`` at cache index ``position`` (rope position + ``delta``)."""
        import torch

        if not self._static:
            device = self.device
            self._static = {
                "token": torch.zeros((1, 1), dtype=torch.long, device=device),
                "rope": torch.zeros((3, 1, 1), dtype=torch.long, device=device),
                "index": torch.zeros((), dtype=torch.long, device=device),
                "kv": torch.arange(self._cache_len, device=device),
                "cache_kw": self._cache_kw,
            }
        s = self._static
        s["token"].copy_(token)
        s["rope"].fill_(position + delta)
        s["index"].fill_(position)
        if not self.use_graph:
            return self._forward()
        if self._graph is None:
            return self._capture(position)
        self._graph.replay()
        return s["logits"]

    def _forward(self) -> Any:
        s = self._static
        model = self.vla.model
        mask = (s["kv"] <= s["index"]).view(1, 1, 1, -1)
        out = _language_model(model)(
            inputs_embeds=model.get_input_embeddings()(s["token"]),
            position_ids=s["rope"],
            attention_mask={"full_attention": mask, "sliding_attention": mask},
            use_cache=True,
            **{s["cache_kw"]: self._cache},
        )
        return model.get_output_embeddings()(out.last_hidden_state[:, -1])

    def _capture(self, position: int) -> Any:
        """Eager step (the answer for this token), then capture; the first replay must agree with it."""
        import torch

        layers = list(self._cache.layers)
        eager = self._forward().clone()
        try:
            for layer in layers:  # capture records, the replay below redoes this token's cache write
                layer.cumulative_length.fill_(position)
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # warm-up off the default stream, as CUDA graphs require
                self._forward()
                for layer in layers:
                    layer.cumulative_length.fill_(position)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._static["logits"] = self._forward()
            for layer in layers:
                layer.cumulative_length.fill_(position)
            graph.replay()
            replayed = self._static["logits"]
            if not torch.equal(replayed.argmax(-1), eager.argmax(-1)) or not torch.allclose(
                replayed.float(), eager.float(), atol=1e-2, rtol=1e-2
            ):
                diff = (replayed.float() - eager.float()).abs().max().item()
                raise RuntimeError(f"replayed logits differ from eager by {diff:.3g}")
        except Exception as exc:
            self.use_graph = False
            self.mode = f"eager static cache (CUDA graph off: {type(exc).__name__}: {exc})"[:300]
            LOG.warning("fast decoder: %s", self.mode)
            for layer in layers:
                layer.cumulative_length.fill_(position + 1)
            return eager
        self._graph = graph
        self.mode = "CUDA graph decode, static cache"
        return replayed


def _inner(model: Any) -> Any:
    """The ``Qwen2VLModel`` that keeps ``rope_deltas``, through a PEFT wrapper if there is one."""
    for candidate in (
        model,
        getattr(model, "base_model", None),
        getattr(getattr(model, "base_model", None), "model", None),
    ):
        inner = getattr(candidate, "model", None)
        if inner is not None and hasattr(inner, "rope_deltas"):
            return inner
    return getattr(model, "model", model)
