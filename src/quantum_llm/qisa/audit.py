"""Causality audit: an output at position t must not change when any input at a position > t
changes. Works on a whole character model (token-id inputs) or on a single attention module
(float inputs of shape (B, T, n_embd))."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass
class AuditResult:
    """``causal`` is False when some output at a position <= t moved by more than ``tolerance``
    after inputs at positions > t were replaced; ``first_leak_position`` is the smallest such t."""

    causal: bool
    max_leak: float  # largest |change| of an output at a position <= t, over all t and trials
    first_leak_position: int | None
    tolerance: float
    seq_len: int
    trials: int
    input_kind: str  # "token ids" or "embeddings"

    def to_dict(self) -> dict:
        return asdict(self)


def _input_spec(module: nn.Module) -> tuple[str, int, int | None]:
    """(kind, size, block_size): token ids with vocab size, or embeddings with width n_embd."""
    cfg = getattr(module, "config", None)
    if cfg is not None and hasattr(cfg, "vocab_size"):
        return "token ids", cfg.vocab_size, cfg.block_size
    n_embd = getattr(module, "n_embd", None)
    if n_embd is None:
        first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
        if first is None:
            raise TypeError(f"cannot infer the input width of {type(module).__name__}; pass n_embd")
        n_embd = first.in_features
    return "embeddings", n_embd, None


@torch.no_grad()
def causality_audit(module: nn.Module, seq_len: int | None = None, trials: int = 4, batch: int = 2,
                    tolerance: float = 1e-5, seed: int = 0, n_embd: int | None = None) -> AuditResult:
    """Perturb every input position > t (for each t < seq_len - 1) and check outputs at <= t.

    The module runs in eval mode (dropout off) and its mode is restored afterwards.
    """
    kind, size, block = _input_spec(module) if n_embd is None else ("embeddings", n_embd, None)
    T = seq_len or block or 16
    gen = torch.Generator().manual_seed(seed)  # drawn on the host: the same inputs on every device
    device = next(module.parameters(), torch.empty(0)).device

    def draw() -> torch.Tensor:
        if kind == "token ids":
            return torch.randint(0, size, (batch, T), generator=gen).to(device)
        return torch.randn(batch, T, size, generator=gen).to(device)

    was_training = module.training
    module.eval()
    max_leak, first = 0.0, None
    try:
        for _ in range(trials):
            x = draw()
            base = module(x)  # (B, T, ...)
            for t in range(T - 1):
                x2 = x.clone()
                x2[:, t + 1:] = draw()[:, t + 1:]  # new inputs strictly after t
                leak = (module(x2)[:, : t + 1] - base[:, : t + 1]).abs().max().item()
                max_leak = max(max_leak, leak)
                if leak > tolerance and (first is None or t < first):
                    first = t
    finally:
        module.train(was_training)
    result = AuditResult(first is None, max_leak, first, tolerance, T, trials, kind)
    log.info("causality audit of %s: %s", type(module).__name__, result)
    return result
