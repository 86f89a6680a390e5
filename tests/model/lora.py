"""Real PEFT adapters for the tiny model, made in a second rather than trained."""

from __future__ import annotations

import json
from pathlib import Path


def make_adapter(base_dir: Path, out: Path, seed: int, manifest_base: str | None) -> Path:
    """A real PEFT adapter for ``base_dir``'s model, with non-zero LoRA weights."""
    import torch
    from peft import LoraConfig, get_peft_model

    from model.vla import VLA

    vla = VLA.load(str(base_dir), device="cpu")
    peft_model = get_peft_model(vla.model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    peft_model.save_pretrained(str(out))
    if manifest_base is not None:
        manifest = {"base_model": manifest_base, "base_path": manifest_base}
        (out / "manifest.json").write_text(json.dumps(manifest))
    return out
