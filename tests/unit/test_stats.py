"""quantum_llm.stats against numpy/scipy references (tolerances stated per test)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from quantum_llm import stats


def test_summary_matches_numpy_and_n1_has_no_spread():
    xs = [1.0, 2.5, 4.0, 7.25]
    s = stats.summarize(xs)
    assert s.n == 4
    assert s.mean == pytest.approx(np.mean(xs), abs=1e-12)
    assert s.std == pytest.approx(np.std(xs, ddof=1), abs=1e-12)
    one = stats.summarize([3.0])
    assert one.std is None and one.n == 1
    assert stats.format_summary(one) == "3.00 (n = 1)"
    assert stats.format_summary(s, 1) == "3.7 ± 2.7 (n = 4)"


def test_t_interval_matches_scipy():
    xs = [30.1, 31.4, 29.8]
    iv = stats.t_interval(xs)
    lo, hi = sps.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=sps.sem(xs))
    assert (iv.low, iv.high) == pytest.approx((lo, hi), abs=1e-10)
    assert iv.over == "seeds" and iv.n == 3 and iv.method == "t"
    assert stats.t_interval([2.0]).low == stats.t_interval([2.0]).high == 2.0


def test_paired_differences_pair_by_key():
    d = stats.paired_differences({0: 3.0, 1: 5.0, 2: 1.0}, {1: 4.0, 0: 1.0})
    assert d == {0: 2.0, 1: 1.0}
    with pytest.raises(ValueError):
        stats.paired_differences({0: 1.0}, {1: 1.0})


def test_bootstrap_mean_covers_normal_theory_interval():
    rng = np.random.default_rng(3)
    x = rng.normal(10.0, 2.0, size=400)
    iv = stats.bootstrap_interval(x, n_resamples=4000)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    # percentile bootstrap of a mean of 400 normal draws: endpoints within 15 % of the half-width
    assert iv.low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert iv.high == pytest.approx(x.mean() + half, abs=0.15 * half)
    assert iv.estimate == pytest.approx(x.mean(), abs=1e-12)
    assert iv.over == "test items" and iv.n == 400


def test_paired_bootstrap_of_a_ratio_resamples_items_together():
    rng = np.random.default_rng(0)
    a = rng.uniform(1, 3, size=200)
    b = a * 1.02  # b is exactly 2 % above a on every item: a paired ratio has no spread

    def ratio(x, y, axis=-1):
        return np.mean(y, axis=axis) / np.mean(x, axis=axis)

    iv = stats.bootstrap_interval([a, b], ratio)
    assert iv.low == pytest.approx(1.02, abs=1e-12) and iv.high == pytest.approx(1.02, abs=1e-12)
    unpaired = stats.bootstrap_interval([a, b], ratio, paired=False)
    assert unpaired.high - unpaired.low > 0.01


@pytest.mark.parametrize(
    ("rule", "low", "high", "expected"),
    [
        (stats.Rule("above", 0.0), 0.5, 2.0, stats.HOLDS),
        (stats.Rule("above", 0.0), -2.0, -0.5, stats.DOES_NOT_HOLD),
        (stats.Rule("above", 0.0), -0.5, 2.0, stats.INCONCLUSIVE),
        (stats.Rule("below", 55.0), 40.0, 50.0, stats.HOLDS),
        (stats.Rule("below", 55.0), 56.0, 60.0, stats.DOES_NOT_HOLD),
        (stats.Rule("below", 55.0), 50.0, 60.0, stats.INCONCLUSIVE),
        (stats.Rule("within", 1.0, -1.0), -0.5, 0.8, stats.HOLDS),
        (stats.Rule("within", 1.0, -1.0), 1.5, 3.0, stats.DOES_NOT_HOLD),
        (stats.Rule("within", 1.0, -1.0), 0.5, 3.0, stats.INCONCLUSIVE),
    ],
)
def test_rule_outcomes(rule, low, high, expected):
    iv = stats.Interval(low, high, (low + high) / 2, 0.95, "seeds", "t", 3)
    assert rule.apply(iv) == expected
    assert rule.prose().startswith("holds if the 95 % interval")
