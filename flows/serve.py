"""Serve both flows on their schedules from this checkout: the simplest single-machine option.

    prefect server start                                   # terminal 1 (schedules need a server)
    PREFECT_API_URL=http://127.0.0.1:4200/api python -m flows.serve   # terminal 2

The pipeline runs nightly at 02:00 UTC, the sweep weekly on Sunday at 03:00 UTC. Runs execute in
this process, in this checkout; the flows' workspace lock keeps their DVC commands from
overlapping. For a fresh checkout per run and more machines, use the work-pool deployments of
prefect.yaml instead (docs/orchestration.md).
"""

from __future__ import annotations

import argparse
import sys

import flows  # noqa: F401  (offline Prefect defaults, applied before Prefect is imported)

# isort: split
from prefect import serve
from prefect.schedules import Cron
from prefect.settings import get_current_settings

from flows.pipeline import pipeline
from flows.sweep import sweep

PIPELINE_CRON = "0 2 * * *"   # nightly, 02:00
SWEEP_CRON = "0 3 * * 0"      # weekly, Sunday 03:00
TIMEZONE = "UTC"
SWEEP_PARAMETERS = {"key": "qubits", "values": [4, 6, 8, 10], "jobs": 2}


def deployments(repo: str | None = None) -> list:
    """The two scheduled deployments (Prefect RunnerDeployments) of ``repo``'s flows."""
    where = {"repo": repo} if repo else {}
    return [
        pipeline.to_deployment(name="pipeline-nightly", schedules=[Cron(PIPELINE_CRON, timezone=TIMEZONE)],
                               parameters=where, tags=["quantum-llm", "dvc"]),
        sweep.to_deployment(name="sweep-weekly", schedules=[Cron(SWEEP_CRON, timezone=TIMEZONE)],
                            parameters={**SWEEP_PARAMETERS, **where}, tags=["quantum-llm", "dvc"]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", help="DVC workspace the runs use (default: this checkout)")
    parser.add_argument("--limit", type=int, default=1, help="concurrent runs (default 1)")
    args = parser.parse_args(argv)
    if not get_current_settings().api.url:
        # Prefect's ephemeral server runs flows but never creates scheduled runs.
        sys.exit("error: PREFECT_API_URL is not set. Schedules need a Prefect server: run "
                 "`prefect server start` and then PREFECT_API_URL=http://127.0.0.1:4200/api python -m flows.serve")
    serve(*deployments(args.repo), limit=args.limit)


if __name__ == "__main__":
    main()
