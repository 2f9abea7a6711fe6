"""PEFT LoRA plumbing shared by the LoRA baseline, QPA and the classical control.

All three use the same PEFT LoRA layers (same modules, rank, alpha, dropout). The baseline
trains their ``lora_A`` / ``lora_B`` parameters; QPA and the control leave them untouched and
substitute generated tensors with ``torch.func.functional_call``, so gradients flow from the
loss through PEFT's own LoRA forward into the generator. Saved adapters are ordinary PEFT
folders (``adapter_model.safetensors`` + ``adapter_config.json``).

When only ``lm_head`` is adapted the backbone is frozen and its output does not change, so
training runs on cached final hidden states through :class:`HeadOnly`, whose attribute name
``lm_head`` makes its adapter keys identical to the full model's. Any other target modules are
adapted on the whole model (full backprop); :func:`linear_names` lists the valid names.
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


def trained_factors(peft_model: PeftModel) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    out = {}
    params = dict(peft_model.named_parameters())
    for t in lora_targets(peft_model):
        na, nb = param_names(t.name)
        out[t.name] = (params[na].detach(), params[nb].detach())
    return out


def merged_weight(weight: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scaling: float) -> torch.Tensor:
    """PEFT's merge: W + scaling * B @ A."""
    return weight + scaling * (b @ a)


def linear_names(model: nn.Module) -> list[str]:
    """The names ``target_modules`` may use: last components of the model's Linear modules."""
    return sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, nn.Linear)})


def check_targets(model: nn.Module, targets: list[str]) -> None:
    """Raise a one-line ParamsError when a target names no Linear module of ``model``."""
    from ..config import ParamsError

    valid = linear_names(model)
    bad = [t for t in targets if t not in valid]
    if bad:
        raise ParamsError(f"qpa.target_modules: {bad} name no Linear module of the base model "
                          f"(valid: {', '.join(valid)})")


def is_head_only(targets) -> bool:
    return list(targets) == ["lm_head"]


def skeleton(base_dir: str | Path, targets: list[str], rank: int, alpha: float, dropout: float,
             shape: tuple[int, int] | None = None) -> PeftModel:
    """A PEFT-wrapped model to write adapter folders with: HeadOnly (zeros of ``shape`` = (d_out,
    d_in)) when only lm_head is adapted, otherwise the base model itself."""
    cfg = lora_config(rank, alpha, dropout, targets)
    if is_head_only(targets):
        return wrap(HeadOnly(torch.zeros(shape)), cfg)
    from transformers import AutoModelForCausalLM

    return wrap(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, local_files_only=True), cfg)


def load_all_factors(folder: str | Path) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """({module name: (A, B)}, scaling) of every adapted module of a saved PEFT adapter folder."""
    from safetensors.torch import load_file

    cfg = LoraConfig.from_pretrained(str(folder))
    t = load_file(str(Path(folder) / "adapter_model.safetensors"))
    names = sorted(k.removeprefix(PEFT_PREFIX).removesuffix(".lora_A.weight") for k in t if k.endswith(".lora_A.weight"))
    return ({n: (t[f"{PEFT_PREFIX}{n}.lora_A.weight"], t[f"{PEFT_PREFIX}{n}.lora_B.weight"]) for n in names},
            cfg.lora_alpha / cfg.r)


def load_factors(folder: str | Path, target: str = "lm_head") -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B, scaling) of one target module from a saved PEFT adapter folder."""
    from peft import LoraConfig
    from safetensors.torch import load_file

    cfg = LoraConfig.from_pretrained(str(folder))
    t = load_file(str(Path(folder) / "adapter_model.safetensors"))
    return t[f"{PEFT_PREFIX}{target}.lora_A.weight"], t[f"{PEFT_PREFIX}{target}.lora_B.weight"], cfg.lora_alpha / cfg.r
