"""PEFT LoRA plumbing shared by every QPA row: saving trained or generated factors as ordinary
PEFT adapter folders (``adapter_model.safetensors`` + ``adapter_config.json``) and reading them back.

Only ``lm_head`` is adapted: :class:`HeadOnly` (the frozen output layer on cached final hidden
states, attribute name ``lm_head``, so its adapter keys are the full model's) is the PEFT model
the adapters are written with, and the oracle the cached-logit training path is tested against.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer
from torch import nn

from .generator import LoraTarget

PEFT_PREFIX = "base_model.model."


class HeadOnly(nn.Module):
    """The frozen output layer of a causal LM applied to cached final hidden states."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        d_out, d_in = weight.shape
        self.lm_head = nn.Linear(d_in, d_out, bias=False)
        self.lm_head.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (T, d) -> (T, vocab)
        return self.lm_head(h)


def lora_config(rank: int, alpha: float, dropout: float, target_modules: list[str]) -> LoraConfig:
    return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, bias="none")


def wrap(model: nn.Module, cfg: LoraConfig) -> PeftModel:
    peft_model = get_peft_model(model, cfg)
    for name, p in peft_model.named_parameters():
        p.requires_grad_("lora_" in name)
    return peft_model


def lora_targets(peft_model: PeftModel) -> tuple[LoraTarget, ...]:
    """The adapted modules, in module order, with their shapes (from the actual layers)."""
    out = []
    for name, mod in peft_model.named_modules():
        if isinstance(mod, LoraLayer):
            base = mod.get_base_layer()
            out.append(LoraTarget(name.removeprefix(PEFT_PREFIX), base.in_features, base.out_features))
    return tuple(out)


def param_names(target: str, adapter: str = "default") -> tuple[str, str]:
    return (f"{PEFT_PREFIX}{target}.lora_A.{adapter}.weight", f"{PEFT_PREFIX}{target}.lora_B.{adapter}.weight")


def substitution(factors: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Generated factors as a ``functional_call`` parameter dict."""
    out = {}
    for target, (a, b) in factors.items():
        na, nb = param_names(target)
        out[na], out[nb] = a, b
    return out


def save_adapter(folder: str | Path, peft_model: PeftModel,
                 factors: dict[str, tuple[torch.Tensor, torch.Tensor]], base_model: str) -> None:
    """Load ``factors`` into the PEFT layers and let PEFT write the adapter folder
    (``adapter_model.safetensors`` + ``adapter_config.json``), loadable by
    ``PeftModel.from_pretrained(base, folder)``."""
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for target, (a, b) in factors.items():
            na, nb = param_names(target)
            params[na].copy_(a)
            params[nb].copy_(b)
    peft_model.peft_config["default"].base_model_name_or_path = base_model
    # lm_head is not an embedding to save: only the LoRA factors go into the adapter
    peft_model.save_pretrained(str(folder), save_embedding_layers=False)


def skeleton(base_dir: str | Path, targets: list[str], rank: int, alpha: float, dropout: float,
             shape: tuple[int, int]) -> PeftModel:
    """A PEFT-wrapped HeadOnly (zeros of ``shape`` = (d_out, d_in)) to write lm_head adapter folders with."""
    if list(targets) != ["lm_head"]:
        raise ValueError(f"only lm_head is adapted, got {targets}")
    return wrap(HeadOnly(torch.zeros(shape)), lora_config(rank, alpha, dropout, targets))


def load_factors(folder: str | Path, target: str = "lm_head") -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B, scaling) of one target module from a saved PEFT adapter folder."""
    from peft import LoraConfig
    from safetensors.torch import load_file

    cfg = LoraConfig.from_pretrained(str(folder))
    t = load_file(str(Path(folder) / "adapter_model.safetensors"))
    return t[f"{PEFT_PREFIX}{target}.lora_A.weight"], t[f"{PEFT_PREFIX}{target}.lora_B.weight"], cfg.lora_alpha / cfg.r
