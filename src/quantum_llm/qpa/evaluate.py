"""Test perplexity of lm_head adapters, per test line, and the statistics the verdicts need.

Every adapter is scored on the cached final hidden states of the test lines: the base logits
of a chunk of test tokens are computed once and each adapter adds its rank-r delta (the same
numbers as the merged weight, see :func:`quantum_llm.qpa.train.adapted_nll`). Only real tokens
are targets (no padding). Per line we keep the NLL sum and the token count, so the perplexity
ratio of two rows, exp(sum nll_row / sum tok - sum nll_ref / sum tok), can be resampled by line.

Statistics come from :mod:`quantum_llm.stats`: mean ± std over seeds, per-seed differences to
the reference row (LoRA r4) with a t interval over seeds, and a paired percentile bootstrap
over test lines of the perplexity ratio to the reference (per-line NLL sums pooled over seeds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from .. import stats
from ..device import parse_device, resolve_device, to_numpy
from .train import Split, adapted_nll, base_logits


@torch.no_grad()
def line_nll(weight: torch.Tensor, test: Split, adapters: Mapping[str, tuple[torch.Tensor, torch.Tensor, float] | None],
             chunk: int = 1024, device: torch.device | str | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({name: per-line NLL sums (n_lines,)}, tokens per line (n_lines,)); ``None`` = the base model.

    Computed on ``device`` (default: :func:`~quantum_llm.device.resolve_device`); the inputs may
    live anywhere, the results are NumPy arrays."""
    device = resolve_device() if device is None else parse_device(str(device))
    weight, test = weight.to(device), test.to(device)
    adapters = {k: None if ad is None else (ad[0].to(device), ad[1].to(device), ad[2]) for k, ad in adapters.items()}
    n_lines = int(test.line_of.max()) + 1
    sums = {k: torch.zeros(n_lines, dtype=torch.float64, device=device) for k in adapters}
    buf = torch.empty(min(chunk, len(test.y)), weight.shape[0], dtype=weight.dtype, device=device)   # see adapted_nll
    for i in range(0, len(test.y), chunk):
        h, y, line = test.h[i: i + chunk], test.y[i: i + chunk], test.line_of[i: i + chunk]
        base = base_logits(h, weight)
        for name, ad in adapters.items():
            if ad is None:
                nll = torch.logsumexp(base, 1) - base.gather(1, y[:, None]).squeeze(1)
            else:
                nll = adapted_nll(h, base, y, *ad, out=buf[: len(y)])
            sums[name].index_add_(0, line, nll.double())
    tokens = to_numpy(torch.bincount(test.line_of, minlength=n_lines))
    return {k: to_numpy(v) for k, v in sums.items()}, tokens


def perplexity(nll: np.ndarray, tokens: np.ndarray) -> float:
    return math.exp(float(nll.sum()) / float(tokens.sum()))


def _log_ratio(a, b, t, axis=-1):
    """Perplexity ratio of a to b from per-line NLL sums a, b and token counts t (vectorised)."""
    return np.exp((np.sum(a, axis=axis) - np.sum(b, axis=axis)) / np.sum(t, axis=axis))


def ratio_interval(nll_row: Mapping[int, np.ndarray], nll_ref: Mapping[int, np.ndarray], tokens: np.ndarray,
                   n_resamples: int, seed: int = 0) -> stats.Interval:
    """Paired bootstrap over test lines of PPL(row) / PPL(ref), NLL sums pooled over the shared seeds."""
    seeds = [s for s in nll_row if s in nll_ref]
    a = np.sum([nll_row[s] for s in seeds], 0)
    b = np.sum([nll_ref[s] for s in seeds], 0)
    return stats.bootstrap_interval([a, b, tokens * len(seeds)], _log_ratio, paired=True, seed=seed,
                                    n_resamples=n_resamples)


def compare(ppl_row: Mapping[int, float], ppl_ref: Mapping[int, float], nll_row: Mapping[int, np.ndarray],
            nll_ref: Mapping[int, np.ndarray], tokens: np.ndarray, n_resamples: int) -> dict:
    """Per-seed PPL differences (row - ref) with their t interval over seeds, and the bootstrap
    interval over test lines of the PPL ratio row / ref."""
    diffs = stats.paired_differences(ppl_row, ppl_ref)
    return {"diff_per_seed": {str(k): v for k, v in diffs.items()},
            "diff_interval": stats.t_interval(list(diffs.values())).to_dict(),
            "ratio_interval": ratio_interval(nll_row, nll_ref, tokens, n_resamples).to_dict()}
