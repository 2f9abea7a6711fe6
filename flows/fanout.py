"""Prefect flows: one DVC pipeline spread over the workers of a work pool, through a DVC remote.

Two flows:

- ``dvc-stage`` (deployment ``dvc-stage/stage`` of prefect.yaml, run by any worker of the
  ``quantum-llm`` pool, in its own fresh clone): check out the coordinator's commit, restore the
  stage's upstream stages from the DVC remote's run-cache (``dvc repro --pull <upstream>``, which
  runs nothing when they are there), run ``dvc repro --pull --single-item <stage>``, push the
  outputs and the run-cache (``dvc push --run-cache``, plus the ``cache: false`` outputs the
  run-cache entry records, see :func:`flows.dvc_cli.push_run_cache_outputs`). It publishes a
  ``dvc-stage-run`` table artifact: which stage ran, where, and how long pull, run and push took.
- ``dvc-fanout`` (run where your checkout is): pushes what the checkout already has (outputs
  of ``dvc.lock``, run-cache), reads DVC's stage graph, starts one ``dvc-stage``
  run per stage (``foreach``/``matrix`` items included) as soon as the stages it depends on have
  finished, so independent items run at once on as many workers as are free; then runs
  ``dvc repro --pull`` in the checkout, which restores every stage from the run-cache without
  re-running it, and publishes the metrics table. ``dvc.lock`` and the metrics are those of a
  single-machine ``dvc repro``.

    python -m flows.fanout                          # the whole pipeline (needs PREFECT_API_URL)
    python -m flows.fanout --stages qisa_summary    # a target and its upstream stages
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

import flows  # noqa: F401  (offline Prefect defaults, applied before Prefect is imported)

# isort: split
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.dvc_cli import (
    git,
    push_run_cache_outputs,
    ran_stages,
    resolve_root,
    run_dvc,
    stage_graph,
    stage_graph_and_run_cache,
)
from flows.pipeline import publish_metrics

STAGE_DEPLOYMENT = "dvc-stage/stage"
# Dispatch threads only wait on the server; Prefect's default pool (CPU count + 4 threads) would
# cap how many stage runs are in flight at once, whatever the number of workers.
MAX_IN_FLIGHT = 128
ARTIFACT_KEY = "dvc-stage-run"


@flow(name="dvc-stage", flow_run_name="stage-{stage}")
def stage_run(stage: str, commit: str | None = None, repo: str | None = None) -> dict:
    """Run one stage (item) of the pipeline in this clone at ``commit``: pull its upstream
    stages' outputs, ``dvc repro --single-item``, push outputs and run-cache."""
    log = get_run_logger()
    root = resolve_root(repo)
    if commit:
        git(["checkout", "--quiet", "--detach", commit], root)
    log.info("DVC workspace: %s at %s", root, git(["rev-parse", "HEAD"], root))
    _, upstream = stage_graph(root)
    if stage not in upstream:
        raise ValueError(f"unknown stage {stage!r}; dvc.yaml has {sorted(upstream)}")

    t0 = time.monotonic()
    if upstream[stage]:
        # restores the upstream chain from the remote's run-cache; nothing may run here
        restored = run_dvc(["repro", "--pull", *upstream[stage]], root, log)
        if ran_stages(restored):
            raise RuntimeError(
                f"upstream stage(s) {ran_stages(restored)} of {stage} could not be restored from the DVC remote "
                "and ran here: dvc.lock at this commit records outputs that are on no remote (push them with "
                "`dvc push --run-cache` from a checkout that has them), or an upstream run's push failed")
    t1 = time.monotonic()
    out = run_dvc(["repro", "--pull", "--single-item", stage], root, log)
    t2 = time.monotonic()
    run_dvc(["push", "--run-cache"], root, log)
    push_run_cache_outputs(root, log)
    t3 = time.monotonic()
    row = {"stage": stage, "ran": stage in ran_stages(out), "host": socket.gethostname(), "workspace": str(root),
           "pull_s": round(t1 - t0, 2), "repro_s": round(t2 - t1, 2), "push_s": round(t3 - t2, 2)}
    create_table_artifact(key=ARTIFACT_KEY, table=[row], description=f"# DVC stage `{stage}` on a worker")
    return row


def selected(order: list[str], upstream: dict[str, list[str]], targets: list[str] | None) -> list[str]:
    """``targets`` and every stage they depend on, in DVC's order (all stages when no target)."""
    if not targets:
        return order
    unknown = sorted(set(targets) - set(order))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; dvc.yaml has {order}")
    keep, todo = set(), list(targets)
    while todo:
        s = todo.pop()
        if s not in keep:
            keep.add(s)
            todo.extend(upstream[s])
    return [s for s in order if s in keep]


def coordinator_only(order: list[str], upstream: dict[str, list[str]], uncacheable: set[str]) -> set[str]:
    """Stages the coordinator's ``dvc repro`` must run itself: those DVC does not run-cache (no
    other machine's run can be restored) and every stage downstream of one (a worker could not
    get its inputs)."""
    local: set[str] = set()
    for stage in order:  # DVC's order: a stage's upstream stages come first
        if stage in uncacheable or any(u in local for u in upstream[stage]):
            local.add(stage)
    return local


@task(name="stage-graph")
def plan(root: str, targets: list[str] | None) -> tuple[list[str], dict[str, list[str]], set[str]]:
    """The selected stages in DVC's order, their upstream stages, the coordinator-only ones."""
    order, upstream, uncacheable = stage_graph_and_run_cache(Path(root))
    chosen = selected(order, upstream, targets)
    return chosen, upstream, coordinator_only(chosen, upstream, uncacheable)


@task(name="dispatch", task_run_name="dispatch-{stage}")
def dispatch(stage: str, commit: str, deployment: str) -> dict:
    """Start the stage's ``dvc-stage`` run on the work pool and wait for it; its report row."""
    # one flow run per stage of this coordinator run: if the create call is retried (a slow server),
    # the server returns the run it already created instead of starting the stage twice
    key = f"{flow_run.id}-{stage}" if flow_run.id else None
    run = run_deployment(deployment, parameters={"stage": stage, "commit": commit}, timeout=None,
                         poll_interval=2, flow_run_name=f"stage-{stage}", idempotency_key=key)
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"stage {stage}: flow run {run.name} ended {run.state.type if run.state else None}: "
                           f"{run.state.message if run.state else ''}")
    return worker_report(run.id) or {"stage": stage}


def worker_report(flow_run_id) -> dict | None:
    """The ``dvc-stage-run`` artifact row a worker published (artifacts live on the server, so
    the coordinator reads them wherever the worker ran)."""
    from prefect.client.orchestration import get_client

    # the raw filter request with every field given: ``read_artifacts`` sends explicit nulls,
    # which the FastAPI of some Prefect 3.8 servers rejects (422)
    body = {"artifacts": {"key": {"any_": [ARTIFACT_KEY]}, "flow_run_id": {"any_": [str(flow_run_id)]}},
            "limit": 1, "offset": 0, "sort": "CREATED_DESC"}
    with get_client(sync_client=True) as client:
        found = client.request("POST", "/artifacts/filter", json=body).json()
    data = found[0]["data"] if found else None
    return data[0] if isinstance(data, list) and data else None


@task(name="share-local-results")
def share_local_results(root: str) -> None:
    """Push what this checkout already has (the outputs ``dvc.lock`` records, the run-cache), so
    a worker restores an unchanged stage from the remote instead of recomputing it (with other
    bytes: timestamps), which its downstream stages would then not find. Objects this checkout
    lacks are skipped with DVC's warning."""
    log = get_run_logger()
    run_dvc(["push", "--run-cache"], Path(root), log)
    push_run_cache_outputs(Path(root), log)


@task(name="dvc-repro-from-run-cache")
def finish(root: str, targets: list[str] | None) -> list[str]:
    """``dvc repro --pull [targets]`` in the coordinator's checkout; the stages it ran (only the
    coordinator-only ones, when every worker pushed its stage)."""
    log = get_run_logger()
    return ran_stages(run_dvc(["repro", "--pull", *(targets or [])], Path(root), log))


@flow(name="dvc-fanout", task_runner=ThreadPoolTaskRunner(max_workers=MAX_IN_FLIGHT))
def fanout(repo: str | None = None, stages: list[str] | None = None, deployment: str = STAGE_DEPLOYMENT) -> dict:
    """Run the pipeline of ``repo`` (default: this checkout; ``stages``: these targets and their
    upstream) as one ``deployment`` run per stage item on the work pool, in DVC's graph order;
    then restore everything here with ``dvc repro --pull``."""
    log = get_run_logger()
    root = str(resolve_root(repo))
    commit = git(["rev-parse", "HEAD"], Path(root))
    dirty = git(["status", "--porcelain", "--untracked-files=no"], Path(root))
    if dirty:
        log.warning("uncommitted changes are not seen by the workers (they run %s):\n%s", commit, dirty)
    log.info("DVC workspace: %s; workers run commit %s", root, commit)
    order, upstream, local = plan(root, stages)
    if local:
        log.info("run here by the final dvc repro (DVC does not run-cache them, or they depend on one "
                 "that it does not): %s", sorted(local))
    share_local_results(root)
    futures = {}
    for stage in order:
        if stage not in local:
            futures[stage] = dispatch.submit(stage, commit, deployment,
                                             wait_for=[futures[u] for u in upstream[stage] if u in futures])
    reports = {stage: fut.result() for stage, fut in futures.items()}
    ran_here = finish(root, stages)
    unexpected = sorted(set(ran_here) - local)
    if unexpected:
        log.warning("the final dvc repro ran %s, which a worker had run (not restored from the run-cache)",
                    unexpected)
    metrics = publish_metrics(root, {**{s: "worker" for s in reports}, **{s: "here" for s in ran_here}})
    return {"commit": commit, "stages": reports, "ran_here": ran_here, "metrics": metrics}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", help="DVC workspace (default: this checkout)")
    parser.add_argument("--stages", nargs="+", help="targets (with their upstream stages)")
    parser.add_argument("--deployment", default=STAGE_DEPLOYMENT, help=f"default {STAGE_DEPLOYMENT}")
    args = parser.parse_args(argv)
    fanout(repo=args.repo, stages=args.stages, deployment=args.deployment)


if __name__ == "__main__":
    main()
