"""One module per method; each exposes ``build(metrics: Path) -> Section``.

A builder reads its metrics files (``load``), judges each claim on per-seed (or per-item)
values (``verdicts``), and adds tables, figures and lineage. To re-point a method at new metrics,
change only its module here.
"""
