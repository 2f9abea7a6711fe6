"""The results report: every paper claim beside our measurement, from ``metrics/`` alone."""

from .build import README_BEGIN, README_END, build_report, readme_section, refresh_readme

__all__ = ["README_BEGIN", "README_END", "build_report", "readme_section", "refresh_readme"]
