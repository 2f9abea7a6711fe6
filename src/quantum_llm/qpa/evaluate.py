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
