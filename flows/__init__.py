"""Prefect flows that orchestrate the DVC pipeline (they run DVC, never bypass it).

Importing this package applies the offline-safe Prefect defaults of ``flows.settings`` before
any flow module imports Prefect.
"""

from .settings import apply_offline_defaults

apply_offline_defaults()
