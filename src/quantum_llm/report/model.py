"""The report's data model: what a method's section holds before it is rendered.

A :class:`Section` is built by one small function per method (``sections/<method>.py``) from the
metrics files; the renderer (``render.py``, Jinja2 templates) and the plots (``plots.py``) only
read these objects, so re-pointing a section at new metrics touches one builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..stats import Interval


@dataclass
class Lineage:
    ref: str
    sources: list[str]
    params_hash: str | None
    circuit_hash: str | None
    data_hash: str | None
    commit: str | None
    dirty: bool | None
    dirty_deps: list[str] | None = None  # which declared code/params deps differed (newer manifests)


@dataclass
class Verdict:
    """One claim judged under one protocol: the numbers, the interval, the rule and the outcome."""

    key: str            # the claim's key in claims.CLAIMS
    claim: str          # the claim's text
    paper: str          # the paper's value
    protocol: str       # "paper's", "corrected", or "same" when no defect is known
    measured: str       # our numbers in words (mean ± std (n = k) per side)
    interval: Interval
    interval_text: str  # "estimate [low, high]" and how it was computed
    rule: str           # generated from the claim's Rule
    verdict: str        # one of stats.VERDICTS
    lineage: list[str]


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Figure:
    name: str           # file name under img/
    caption: str
    kind: str           # key in plots.DRAW
    data: Any


@dataclass
class Section:
    key: str
    title: str
    paper: str
    source: str
    protocols: dict[str, str]
    summary: list[str]
    verdicts: list[Verdict]
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    lineage: list[Lineage] = field(default_factory=list)
