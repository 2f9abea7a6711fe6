"""Every section of the report, in page order: one builder per method (``sections/``)."""

from __future__ import annotations

from pathlib import Path

from .model import Section
from .sections import pqc, qisa, qpa

BUILDERS = (qpa.build, qisa.build, pqc.build)


def collect(metrics: str | Path) -> list[Section]:
    metrics = Path(metrics)
    return [build(metrics) for build in BUILDERS]
