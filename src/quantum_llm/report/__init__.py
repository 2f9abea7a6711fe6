"""The results report: every paper claim beside our measurement, from ``metrics/`` alone.

Modules: ``claims`` (the papers' claims and rules, as data), ``load`` (metrics files and
lineage), ``verdicts`` (interval + rule -> verdict), ``sections/`` (one builder per method),
``render`` (Jinja2 templates), ``plots`` (figures), ``build`` (the page, its Markdown twin and
the README block), ``docs`` (numbers quoted in docs/*.md, filled from metrics/).

The names below are imported lazily, so a stage that only draws a plot (``report.plots``) does
not import the report's builders.
"""

from __future__ import annotations

__all__ = ["README_BEGIN", "README_END", "build_report", "readme_section", "refresh_readme"]


def __getattr__(name: str):
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
