"""Every section of the report, in page order: one builder per method (``sections/``)."""

from __future__ import annotations

from pathlib import Path

from .model import Section
from .sections import pqc, qisa, qpa


def collect(metrics: str | Path, timings: bool = False) -> list[Section]:
    """``timings``: also read the per-run ``*.timing.json`` files (wall-clock measurements that DVC
    caches but git does not track). Only the report page built by the pipeline reads them; the
    README and the docs are generated from git-tracked metrics alone, so a fresh clone regenerates
    them byte for byte."""
    metrics = Path(metrics)
    return [qpa.build(metrics), qisa.build(metrics, timings=timings), pqc.build(metrics)]
