"""The loaded vision-language-action model: render a conversation, run it, return token ids.

One object owns the transformers model and processor so that the local policy, the HTTP server and
the benchmarks share exactly one code path from messages to ids. It is not thread-safe; callers
serialise access (the server holds a lock, the loop runs one policy worker).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.actions.grammar import ALLOWED, YAW_IDS, complete, state_after
from model.actions.tokens import BEGIN_ID, IM_END_ID, IMAGE_PAD_ID
from model.adapters import base_mismatch, strip_tuner_layers
from model.checkpoint import CheckpointError, load_model, load_processor
from model.fetch import resolve
from model.image import prepare_frame
from model.prompts import Message
from model.quantize import check_quantize, parse_quantize, quantize_model

LOG = logging.getLogger(__name__)


@dataclass
class Sampling:
    """Decoding settings. Only temperature is set, like the official requests (vLLM's top_p/top_k off)."""

    temperature: float = 0.7  # evaluate.py's default; the rollout scripts use 0.6 (mine) to 0.9 (GUI)
    max_new_tokens: int = 1024  # the official request's max_tokens (unconstrained mode)
    seed: int | None = None


@dataclass
class Generation:
    ids: list[int]  # generated ids, the forced BEGIN included in constrained mode
    text: str  # the same ids as text, special tokens kept
    timings_ms: dict[str, float] = field(default_factory=dict)


class VLA:
    def __init__(self, model: Any, processor: Any, name: str) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        self.lock = threading.Lock()  # one generate at a time; held by callers that share the model
        self._masks: dict[int, Any] = {}
        self.adapter: str | None = None
        self.base_path: str | None = None  # the folder the base was loaded from (adapters name theirs)

    @classmethod
    def load(
        cls,
        spec: str,
        adapter: str | None = None,
        device: str | None = None,
        quantize: str | int | None = None,
    ) -> VLA:
        """Load from an HF id or a folder: bf16 on CUDA, fp32 on CPU; ``quantize`` (``int4``, ``fp8``,
        ``4bit``, ``8bit``) puts the language model's linear layers in that form (``model.quantize``),
        loading through host memory so the GPU never holds the bf16 weights."""
        import torch  # heavy: torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kind = parse_quantize(quantize)
        if kind:
            check_quantize(kind, device)
        path = resolve(spec)
        processor = load_processor(path)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        t0 = time.perf_counter()
        if kind:
            model = load_model(path, "cpu", dtype)
            quantize_model(model, kind, device)
            model = model.to(device)
        else:
            model = load_model(path, device, dtype)
        LOG.info("loaded %s on %s in %.1f s", path, device, time.perf_counter() - t0)
        vla = cls(model, processor, name=spec)
        vla.base_path = str(path)
        if adapter:
            vla.load_adapter(adapter)
        return vla

    # ----- adapters -----------------------------------------------------------------------------
    def load_adapter(self, adapter: str) -> None:
        """Attach a PEFT LoRA adapter (replacing any other) without reloading the base.

        Refuses an adapter whose manifest names another base (same shapes load silently and play
        nonsense). If loading fails, the adapter active before is put back, so a failed swap never
        silently drops it.
        """
        from peft import PeftModel  # heavy: peft

        path = Path(adapter).expanduser()
        if not (path / "adapter_config.json").is_file():
            raise CheckpointError(f"{path} is not a PEFT adapter folder (no adapter_config.json)")
        problem = base_mismatch(path, self.name, self.base_path)
        if problem:
            raise CheckpointError(problem)
        previous = self.adapter
        self.unload_adapter()
        try:
            self.model = PeftModel.from_pretrained(self.model, str(path)).eval()
        except Exception as exc:
            strip_tuner_layers(self.model)  # a half-done load may have wrapped layers in place
            if previous is not None:
                try:
                    self.model = PeftModel.from_pretrained(self.model, previous).eval()
                    self.adapter = previous
                except Exception:
                    strip_tuner_layers(self.model)
                    LOG.exception("could not put back the adapter %s", previous)
            raise CheckpointError(
                f"could not load the adapter {path} ({type(exc).__name__}: {exc}); "
                + (f"still using {self.adapter}" if self.adapter else "using the base model")
            ) from exc
        self.adapter = str(path)

    def unload_adapter(self) -> None:
        """Back to the base model: the LoRA layers are removed, the base weights were never changed."""
        from peft import PeftModel  # heavy: peft

        if isinstance(self.model, PeftModel):
            self.model = self.model.unload().eval()
        self.adapter = None

    # ----- prompt -------------------------------------------------------------------------------
    def prepare(self, frame: Any) -> Any:
        """The image this engine is given for a captured frame: the official PIL resize."""
        return prepare_frame(frame)

    def render(self, messages: list[Message]) -> str:
        return str(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def inputs(
        self, messages: list[Message], images: list[Any], force_begin: bool, on_device: bool = True
    ) -> Any:
        """Model inputs for the conversation; with ``force_begin`` the BEGIN tag ends the prompt.

        ``on_device=False`` keeps them on the host (the fast decoder reads the token layout there)."""
        import torch  # heavy: torch

        text = self.render(messages)
        batch = self.processor(text=[text], images=images or None, return_tensors="pt")
        if force_begin:
            # Every per-token tensor grows by one: input ids (BEGIN), the mask (1), and the
            # multimodal token-type ids the processor adds (0 = text).
            length = batch["input_ids"].shape[1]
            fill = {"input_ids": BEGIN_ID, "attention_mask": 1}
            for key, value in list(batch.items()):
                if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[1] == length:
                    tail = torch.full((1, 1), fill.get(key, 0), dtype=value.dtype)
                    batch[key] = torch.cat([value, tail], dim=1)
        return batch.to(self.device) if on_device else batch

    # ----- decoding -----------------------------------------------------------------------------
    def generate(
        self,
        messages: list[Message],
        images: list[Any],
        sampling: Sampling,
        constrained: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generation:
        """``should_stop`` is polled after each token; True ends decoding early (the server's client
        went away, or its time ran out)."""
        import torch  # heavy: torch

        t0 = time.perf_counter()
        batch = self.inputs(messages, images, force_begin=constrained)
        t1 = time.perf_counter()
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        do_sample = sampling.temperature > 0
        options: dict[str, Any] = dict(
            do_sample=do_sample, top_k=None, top_p=None, pad_token_id=self.tokenizer.pad_token_id
        )
        if do_sample:
            options["temperature"] = sampling.temperature
        if constrained:
            options.update(
                max_new_tokens=10,  # ≤ 8 button groups + pitch + yaw
                eos_token_id=list(YAW_IDS),  # END is implied after yaw: one forward pass saved
                logits_processor=[self._grammar_processor(batch["input_ids"].shape[1])],
            )
        else:
            options.update(
                max_new_tokens=sampling.max_new_tokens, eos_token_id=IM_END_ID, bad_words_ids=[[IMAGE_PAD_ID]]
            )
        if should_stop is not None:
            options["stopping_criteria"] = _stopping(should_stop)
        with torch.inference_mode():
            out = self.model.generate(**batch, **options)
        new = out[0, batch["input_ids"].shape[1] :].tolist()
        t2 = time.perf_counter()
        if constrained:
            ids = complete(new) if new and new[-1] in YAW_IDS else [BEGIN_ID, *new]
        else:
            ids = new[:-1] if new and new[-1] == IM_END_ID else new
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        timings = {
            "prepare_ms": (t1 - t0) * 1e3,
            "generate_ms": (t2 - t1) * 1e3,
            "new_tokens": float(len(new)),
        }
        return Generation(ids=ids, text=text, timings_ms=timings)

    def _grammar_processor(self, prompt_len: int) -> Any:
        import torch  # heavy: torch
        from transformers import LogitsProcessor  # heavy: transformers

        vocab = self.model.get_output_embeddings().weight.shape[0]
        if not self._masks:
            for state, allowed in ALLOWED.items():
                mask = torch.full((vocab,), float("-inf"), device=self.device)
                mask[list(allowed)] = 0.0
                self._masks[state] = mask
        masks = self._masks

        class GrammarMask(LogitsProcessor):
            def __call__(self, input_ids: Any, scores: Any) -> Any:
                state = state_after(input_ids[0, prompt_len:].tolist())
                return scores + masks[state][: scores.shape[-1]].to(scores.dtype)

        return GrammarMask()


def _stopping(should_stop: Callable[[], bool]) -> Any:
    import torch  # heavy: torch
    from transformers import StoppingCriteria, StoppingCriteriaList  # heavy: transformers

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            stop = bool(should_stop())
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Stop()])
