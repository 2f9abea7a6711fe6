"""Statistics shared by every method: summaries, paired differences, intervals, verdicts.

One place for the numbers a verdict is computed from. Every interval says what it resamples
(``over``: "seeds" or "test items") and how (``method``), so a reader can re-derive it.

* ``summarize``: mean, sample standard deviation (ddof = 1) and n; n = 1 has no spread (``std``
  is None) and is formatted as "(n = 1)", never as "± 0.00".
* ``paired_differences``: per-key differences a - b over the keys (seeds) both sides share.
* ``t_interval``: Student-t interval of a mean over seeds (few, roughly normal values: the
  bootstrap of 3 values has only 10 distinct resamples, so over seeds the t interval is the default).
* ``bootstrap_interval``: percentile bootstrap (``scipy.stats.bootstrap``) of any statistic over
  test items, paired when several samples share their items.
* ``verdict``: a rule (a comparison of an interval with a threshold) applied to an interval:
  holds / does not hold / inconclusive (the interval straddles the threshold).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

LEVEL = 0.95
N_RESAMPLES = 10_000

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive"
NOT_CLAIMED = "not claimed by the paper"
VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_CLAIMED)


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float | None  # None when n == 1 (no spread can be estimated)
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    estimate: float
    level: float
    over: str    # what was resampled: "seeds" or "test items"
    method: str  # "t" or "bootstrap percentile"
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Interval:
        return cls(**{k: d[k] for k in ("low", "high", "estimate", "level", "over", "method", "n")})

    def describe(self) -> str:
        """e.g. '95 % t interval over 3 seeds'."""
        unit = "seed" if self.over == "seeds" else "test item"
        return f"{self.level:.0%} {self.method} interval over {self.n} {unit}{'s' if self.n != 1 else ''}"


def _finite(xs: Sequence[float]) -> np.ndarray:
    a = np.asarray(list(xs), dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError("need a non-empty 1-d sequence of numbers")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"non-finite values in {a.tolist()}")
    return a


def summarize(xs: Sequence[float]) -> Summary:
    a = _finite(xs)
    return Summary(float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else None, int(a.size))


def paired_differences(a: Mapping[Any, float], b: Mapping[Any, float]) -> dict[Any, float]:
    """a[k] - b[k] for every key (seed) in both; raises when they share none."""
    keys = [k for k in a if k in b]
    if not keys:
        raise ValueError(f"no shared keys to pair: {sorted(a)} vs {sorted(b)}")
    return {k: float(a[k]) - float(b[k]) for k in keys}


def t_interval(xs: Sequence[float], level: float = LEVEL, over: str = "seeds") -> Interval:
    """Student-t interval of the mean; n = 1 gives the degenerate [x, x] (flagged by n)."""
    a = _finite(xs)
    m = float(a.mean())
    if a.size == 1:
        return Interval(m, m, m, level, over, "t", 1)
    half = float(sps.t.ppf(0.5 + level / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size))
    return Interval(m - half, m + half, m, level, over, "t", int(a.size))


def bootstrap_interval(samples: Sequence[Sequence[float]] | Sequence[float],
                       statistic: Callable[..., Any] = np.mean, *, paired: bool = True,
                       level: float = LEVEL, over: str = "test items", seed: int = 0,
                       n_resamples: int = N_RESAMPLES) -> Interval:
    """Percentile bootstrap of ``statistic`` (vectorised, ``axis`` keyword) over items.

    ``samples`` is one sequence, or several of equal length sharing their items (``paired``):
    e.g. per-line losses of two models on the same test lines, resampled together.
    """
    if len(samples) and np.ndim(samples[0]) == 0:
        samples = [samples]  # type: ignore[list-item]
    arrs = [_finite(s) for s in samples]
    est = float(statistic(*arrs, axis=-1))
    if arrs[0].size == 1:
        return Interval(est, est, est, level, over, "bootstrap percentile", 1)
    res = sps.bootstrap(tuple(arrs), statistic, paired=paired and len(arrs) > 1, vectorized=True,
                        confidence_level=level, n_resamples=n_resamples, method="percentile",
                        rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Interval(lo, hi, est, level, over, "bootstrap percentile", int(arrs[0].size))


Comparison = Literal["above", "below", "within"]


@dataclass(frozen=True)
class Rule:
    """Holds when the whole interval is ``above``/``below`` ``threshold``, or ``within``
    [threshold_low, threshold] for equivalence; does not hold when the whole interval is on the
    other side (outside, for ``within``); inconclusive otherwise."""

    comparison: Comparison
    threshold: float
    threshold_low: float | None = None  # for "within"
    quantity: str = "the value"
    unit: str = ""

    def prose(self) -> str:
        u = self.unit
        if self.comparison == "within":
            return (f"holds if the 95 % interval of {self.quantity} lies within "
                    f"[{self.threshold_low:g}{u}, {self.threshold:g}{u}]; does not hold if it lies wholly outside; "
                    "inconclusive otherwise")
        side = "above" if self.comparison == "above" else "below"
        other = "below" if self.comparison == "above" else "above"
        return (f"holds if the 95 % interval of {self.quantity} lies wholly {side} {self.threshold:g}{u}; "
                f"does not hold if it lies wholly {other} it; inconclusive if it straddles it")

    def apply(self, iv: Interval) -> str:
        lo, hi, t = iv.low, iv.high, self.threshold
        if self.comparison == "above":
            return HOLDS if lo > t else DOES_NOT_HOLD if hi < t else INCONCLUSIVE
        if self.comparison == "below":
            return HOLDS if hi < t else DOES_NOT_HOLD if lo > t else INCONCLUSIVE
        tl = self.threshold_low if self.threshold_low is not None else -t
        if tl <= lo and hi <= t:
            return HOLDS
        if hi < tl or lo > t:
            return DOES_NOT_HOLD
        return INCONCLUSIVE


def format_summary(s: Summary, digits: int = 2, unit: str = "") -> str:
    """'m ± s (n = k)'; n = 1 as 'm (n = 1)'."""
    if s.std is None:
        return f"{s.mean:,.{digits}f}{unit} (n = 1)"
    return f"{s.mean:,.{digits}f} ± {s.std:,.{digits}f}{unit} (n = {s.n})"


def format_interval(iv: Interval, digits: int = 2, unit: str = "") -> str:
    """'[lo, hi]' with the estimate: 'e [lo, hi]'."""
    return f"{iv.estimate:,.{digits}f}{unit} [{iv.low:,.{digits}f}, {iv.high:,.{digits}f}]"
