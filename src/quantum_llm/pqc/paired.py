"""Paired differences of per-row correctness (shots or noise vs exact on the same rows), per data
seed and pooled, with intervals from quantum_llm.stats."""

from __future__ import annotations

import math

import numpy as np

from ..stats import bootstrap_interval, summarize, t_interval


def paired_rows(a: dict[int, np.ndarray], b: dict[int, np.ndarray]) -> dict:
    """a, b: data seed -> per-row correctness (0/1) on the same rows. Differences a - b in points:
    per seed, a t interval over seeds, and a paired bootstrap interval over the rows pooled over
    seeds with its standard error (std of the row differences / sqrt(rows))."""
    seeds = [s for s in a if s in b]
    for s in seeds:
        if a[s].shape != b[s].shape:
            raise ValueError(f"seed {s}: {a[s].shape} vs {b[s].shape} rows: not paired")
    per_seed = {str(s): 100 * float(a[s].mean() - b[s].mean()) for s in seeds}
    d = 100 * np.concatenate([a[s].astype(float) - b[s].astype(float) for s in seeds])
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else None
    return {"per_seed": per_seed, "acc": summarize([100 * a[s].mean() for s in seeds]).to_dict(),
            "reference_acc": summarize([100 * b[s].mean() for s in seeds]).to_dict(),
            "over_seeds": t_interval(list(per_seed.values())).to_dict(),
            "pooled_rows": bootstrap_interval(d).to_dict(), "pooled_se": se, "rows_per_seed": int(a[seeds[0]].size),
            "n_rows": int(d.size)}
