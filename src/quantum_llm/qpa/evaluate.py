"""Perplexity of an output layer on cached test features, under two labelled protocols.

- ``masked`` (the real number): next-token cross-entropy over real tokens only; padding is
  never a target.
- ``padded`` (the paper's protocol, reported only to compare with its numbers): every
  position of the sequence padded to ``padded_length`` is a target, pads included, as in the
  official code (labels = input_ids including padding). Predicting EOS after EOS is easy, which
  is why the paper's perplexities are ~1.6.

Adapters of ``lm_head`` alone are evaluated on the cached final hidden states (merged output
weight times cached states); adapters of any other module need the whole model: the merged
weights are swapped into the base model and the padded test lines run through it
(:func:`model_perplexities`, the same numbers for an lm_head-only adapter).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F


@torch.no_grad()
def perplexities(h: torch.Tensor, ids: torch.Tensor, real: torch.Tensor, weight: torch.Tensor,
                 chunk: int = 1024) -> dict[str, float]:
    """h (M, P, d), ids (M, P), real (M, P) bool, weight (V, d) -> {"masked": ppl, "padded": ppl}."""
    x = h[:, :-1].reshape(-1, h.shape[-1])         # (M*(P-1), d): predicts position t+1
    y = ids[:, 1:].reshape(-1)
    keep = real[:, 1:].reshape(-1)
    nll = torch.cat([F.cross_entropy(x[i: i + chunk] @ weight.T, y[i: i + chunk], reduction="none")
                     for i in range(0, len(y), chunk)])
    return {"masked": math.exp(nll[keep].mean().item()), "padded": math.exp(nll.mean().item()),
            "masked_tokens": int(keep.sum()), "padded_tokens": len(y)}


@contextmanager
def swapped_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]):
    """Temporarily replace the ``weight`` of the named Linear modules (a tied lm_head is untied
    for the duration: the input embeddings keep the base weight)."""
    mods = dict(model.named_modules())
    old = {name: mods[name].weight for name in weights}
    try:
        for name, w in weights.items():
            mods[name].weight = torch.nn.Parameter(w, requires_grad=False)
        yield model
    finally:
        for name, w in old.items():
            mods[name].weight = w


@torch.no_grad()
def model_perplexities(model: torch.nn.Module, ids: torch.Tensor, real: torch.Tensor,
                       weights: dict[str, torch.Tensor] | None = None, batch_lines: int = 4) -> dict[str, float]:
    """Full forward of the padded test lines (pads hidden by the attention mask, as in the cached
    features), with ``weights`` ({module name: merged weight}) swapped in."""
    from .features import final_hidden

    model.eval()
    with swapped_weights(model, weights or {}):
        h = torch.cat([final_hidden(model, ids[i: i + batch_lines], real[i: i + batch_lines].long())
                       for i in range(0, len(ids), batch_lines)])
        return perplexities(h, ids, real, model.get_output_embeddings().weight)


def merged_weights(model: torch.nn.Module, factors: dict[str, tuple[torch.Tensor, torch.Tensor]],
                   scaling: float) -> dict[str, torch.Tensor]:
    from .adapter import merged_weight

    mods = dict(model.named_modules())
    return {name: merged_weight(mods[name].weight.detach(), a, b, scaling) for name, (a, b) in factors.items()}


def run_rows(weight: torch.Tensor, test: dict[str, torch.Tensor], runs: Path, generated: Path,
             seeds: list[int], model_loader: Callable[[], torch.nn.Module] | None = None) -> list[dict]:
    """One row per (variant, seed): the base model, LoRA (``runs/lora-<seed>/adapter``), and every
    generated variant (``generated/<seed>/<variant>``: QPA exact, shots, noise; the control).
    Only the seeds asked for are read, so outputs of removed seeds are never averaged in.
    Adapters of modules other than lm_head run through the whole model from ``model_loader``."""
    import json

    from ..stage import InputError
    from .adapter import is_head_only, load_all_factors, merged_weight

    def trainable(method: str, seed: int) -> int:
        return json.loads((runs / f"{method}-{seed}" / "manifest.json").read_text())["trainable_params"]

    model = None

    def full_model() -> torch.nn.Module:
        nonlocal model
        if model is None:
            if model_loader is None:
                raise InputError("adapters of modules other than lm_head need the base model to evaluate")
            model = model_loader()
        return model

    def row(variant: str, seed: int, w: torch.Tensor | None, n_params: int, full: dict | None = None) -> dict:
        if full is None:
            ppl = perplexities(test["h"], test["ids"], test["real"], w)
        else:
            ppl = model_perplexities(full_model(), test["ids"], test["real"], full)
        return {"variant": variant, "seed": seed, "ppl_masked": ppl["masked"], "ppl_padded": ppl["padded"],
                "trainable": n_params, "masked_tokens": ppl["masked_tokens"], "padded_tokens": ppl["padded_tokens"]}

    rows = [row("base", 0, weight, 0)]
    for seed in seeds:
        folders = [(runs / f"lora-{seed}" / "adapter", "lora", "lora")]
        gen = generated / str(seed)
        if not gen.is_dir():
            raise InputError(f"{gen} not found; run `dvc repro generate_qpa` first")
        folders += [(d, d.name, "control" if d.name == "control" else "qpa")
                    for d in sorted(gen.iterdir()) if (d / "adapter_config.json").is_file()]
        for folder, variant, method in folders:
            if not (folder / "adapter_config.json").is_file():
                raise InputError(f"{folder} is not an adapter; run its stage first")
            factors, scaling = load_all_factors(folder)
            if is_head_only(factors):
                a, b = factors["lm_head"]
                rows.append(row(variant, seed, merged_weight(weight, a, b, scaling), trainable(method, seed)))
            else:
                rows.append(row(variant, seed, None, trainable(method, seed),
                                full=merged_weights(full_model(), factors, scaling)))
    return rows
