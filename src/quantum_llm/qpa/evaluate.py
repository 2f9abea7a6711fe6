"""Perplexity of an output layer on cached test features, under two labelled protocols.

- ``masked`` (the real number): next-token cross-entropy over real tokens only; padding is
  never a target.
- ``padded`` (the paper's protocol, reported only to compare with its numbers): every
  position of the sequence padded to ``padded_length`` is a target, pads included, as in the
  official code (labels = input_ids including padding). Predicting EOS after EOS is easy, which
  is why the paper's perplexities are ~1.6.
"""

from __future__ import annotations

import math
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


def run_rows(weight: torch.Tensor, test: dict[str, torch.Tensor], runs: Path, generated: Path,
             seeds: list[int]) -> list[dict]:
    """One row per (variant, seed): the base model, LoRA (``runs/lora-<seed>/adapter``), and every
    generated variant (``generated/<seed>/<variant>``: QPA exact, shots, noise; the control).
    Only the seeds asked for are read, so outputs of removed seeds are never averaged in."""
    import json

    from ..stage import InputError
    from .adapter import load_factors, merged_weight

    def trainable(method: str, seed: int) -> int:
        return json.loads((runs / f"{method}-{seed}" / "manifest.json").read_text())["trainable_params"]

    def row(variant: str, seed: int, w: torch.Tensor, n_params: int) -> dict:
        ppl = perplexities(test["h"], test["ids"], test["real"], w)
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
            a, b, scaling = load_factors(folder)
            rows.append(row(variant, seed, merged_weight(weight, a, b, scaling), trainable(method, seed)))
    return rows
