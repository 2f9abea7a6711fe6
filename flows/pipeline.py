"""Prefect flow: the DVC pipeline, one Prefect task per stage in DVC's own order.

Each task runs ``dvc repro --single-item <stage>`` (exactly that stage; its upstream stages ran
in the tasks before it), streams DVC's output into the Prefect logs, and is retried only when
it failed transiently (a DVC lock held by another process, a network error). ``dvc.lock`` stays
the single record of what ran. At the end the flow publishes ``dvc metrics show`` as a table
artifact.

    python -m flows.pipeline                          # whole pipeline, no server needed
    python -m flows.pipeline --stages prepare_chars   # a subset, still in DVC's order
    python -m flows.pipeline --push                   # then push outputs + run-cache to the DVC remote
"""

from __future__ import annotations

import argparse

import flows  # noqa: F401  (offline Prefect defaults, applied before Prefect is imported)

# isort: split
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from flows.dvc_cli import (
    is_transient_exception,
    metrics_rows,
    push_run_cache_outputs,
    resolve_root,
    run_dvc,
    run_dvc_json,
    stage_order,
)

STAGE_RETRIES = 2
STAGE_RETRY_DELAY_S = [10, 60]


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry a failed stage only on a transient failure."""
    exc = state.data if isinstance(state.data, BaseException) else None
    return is_transient_exception(exc)


@task(name="stage-order", retries=STAGE_RETRIES, retry_delay_seconds=STAGE_RETRY_DELAY_S,
      retry_condition_fn=retry_if_transient)
def plan(root: str, stages: list[str] | None = None) -> list[str]:
    """DVC's run order of the stages in dvc.yaml, restricted to ``stages`` if given."""
    order = stage_order(resolve_root(root))
    if not stages:
        return order
    unknown = sorted(set(stages) - set(order))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; dvc.yaml has {order}")
    return [s for s in order if s in stages]


@task(name="dvc-repro", task_run_name="repro-{stage}", retries=STAGE_RETRIES,
      retry_delay_seconds=STAGE_RETRY_DELAY_S, retry_condition_fn=retry_if_transient)
def repro_stage(root: str, stage: str, force: bool = False) -> str:
    """``dvc repro --single-item STAGE``; returns ``"ran"`` or ``"unchanged"``."""
    args = ["repro", "--single-item", *(["--force"] if force else []), stage]
    out = run_dvc(args, resolve_root(root), get_run_logger())
    return "ran" if f"Running stage '{stage}'" in out else "unchanged"


@task(name="metrics-table", retries=STAGE_RETRIES, retry_delay_seconds=STAGE_RETRY_DELAY_S,
      retry_condition_fn=retry_if_transient)
def publish_metrics(root: str, stages: dict[str, str]) -> list[dict[str, object]]:
    """Publish ``dvc metrics show --json`` of the workspace as a table artifact: the metrics that
    exist (an empty table, saying so, when none does), and which declared files are missing."""
    log = get_run_logger()
    rows, missing = metrics_rows(run_dvc_json(["metrics", "show", "--json"], resolve_root(root), log))
    summary = ", ".join(f"{s}: {r}" for s, r in stages.items()) or "no stages"
    lines = ["# DVC metrics of the workspace after the pipeline run", f"Stages: {summary}."]
    if not rows:
        lines.append("No metrics yet: no metrics file declared in dvc.yaml exists.")
        log.info("no DVC metrics to publish yet")
    if missing:
        lines.append(f"Declared but not produced (yet): {', '.join(missing)}.")
    create_table_artifact(key="dvc-metrics", table=rows, description="\n\n".join(lines))
    return rows


@task(name="dvc-push", retries=STAGE_RETRIES, retry_delay_seconds=STAGE_RETRY_DELAY_S,
      retry_condition_fn=retry_if_transient)
def push_results(root: str) -> None:
    """``dvc push --run-cache`` and the ``cache: false`` outputs of the run-cache entries, so any
    checkout restores this run with ``dvc repro --pull`` (docs/orchestration.md, section 4)."""
    run_dvc(["push", "--run-cache"], resolve_root(root), get_run_logger())
    push_run_cache_outputs(resolve_root(root), get_run_logger())


@flow(name="dvc-pipeline")
def pipeline(repo: str | None = None, stages: list[str] | None = None, force: bool = False,
             push: bool = False) -> dict:
    """Reproduce the DVC pipeline of ``repo`` (default: this checkout), one task per stage in
    DVC's order; ``stages`` restricts it to a subset, ``force`` re-runs unchanged stages,
    ``push`` sends outputs and run-cache to the DVC remote at the end."""
    root = str(resolve_root(repo))
    get_run_logger().info("DVC workspace: %s", root)
    results: dict[str, str] = {}
    for stage in plan(root, stages):
        results[stage] = repro_stage(root, stage, force)
    if push:
        push_results(root)
    metrics = publish_metrics(root, results)
    return {"stages": results, "metrics": metrics}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", help="DVC workspace (default: this checkout)")
    parser.add_argument("--stages", nargs="+", help="only these stages (run in DVC's order)")
    parser.add_argument("--force", action="store_true", help="re-run stages even if unchanged")
    parser.add_argument("--push", action="store_true", help="push outputs and run-cache to the DVC remote")
    args = parser.parse_args(argv)
    pipeline(repo=args.repo, stages=args.stages, force=args.force, push=args.push)


if __name__ == "__main__":
    main()
