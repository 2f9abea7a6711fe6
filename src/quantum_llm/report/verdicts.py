"""Turn an interval into a verdict by a claim's rule, and into a row of the claims table.

The only place a verdict is decided: :func:`judge` applies the claim's :class:`~quantum_llm.stats.Rule`
to the interval; a claim the paper does not make is "not claimed by the paper" whatever the
interval says (the rule's outcome is still printed as our answer); an interval from a single
seed (n = 1) cannot show its uncertainty, so it is "inconclusive" unless the quantity is exact
(a parameter count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..stats import INCONCLUSIVE, NOT_CLAIMED, Interval, format_interval, t_interval
from .claims import Claim
from .model import Verdict


def judge(claim: Claim, iv: Interval) -> str:
    if not claim.claimed:
        return NOT_CLAIMED
    return rule_outcome(claim, iv)


def rule_outcome(claim: Claim, iv: Interval) -> str:
    """What the rule says about the interval (for unclaimed questions: our answer)."""
    if iv.n < 2 and not claim.exact:
        return INCONCLUSIVE
    return claim.rule.apply(iv)


def interval_text(claim: Claim, iv: Interval, digits: int = 2) -> str:
    unit = claim.rule.unit
    how = iv.describe() if iv.n > 1 else "n = 1: no interval (one seed)"
    text = f"{format_interval(iv, digits, unit)} ({how})"
    if not claim.claimed:
        text += f"; by the rule: {rule_outcome(claim, iv)}"
    return text


def verdict(claim: Claim, protocol: str, measured: str, values: Sequence[float] | Mapping[object, float],
            lineage: list[str], digits: int = 2) -> Verdict:
    """Judge ``claim`` on per-seed ``values`` (one number per seed: a difference, a ratio...):
    t interval over seeds (today's metrics carry no per-item data)."""
    xs = list(values.values()) if isinstance(values, Mapping) else list(values)
    iv = t_interval(xs, over="seeds")
    return judged(claim, protocol, measured, iv, lineage, digits)


def judged(claim: Claim, protocol: str, measured: str, iv: Interval, lineage: list[str],
           digits: int = 2) -> Verdict:
    """Judge ``claim`` on an interval already computed (e.g. a bootstrap over test items from a metrics file)."""
    return Verdict(claim.key, claim.text, claim.paper_value, protocol, measured, iv, interval_text(claim, iv, digits),
                   claim.rule_text(), judge(claim, iv), lineage)
