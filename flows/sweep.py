"""Prefect flow: a parameter sweep as DVC experiments.

For each value of one params key it queues ``dvc exp run --queue -S key=value``, runs the queue
with ``dvc exp run --run-all -j N`` (N DVC queue workers, each experiment in its own temp
workspace), waits for it, collects ``dvc exp show --json`` and publishes a comparison table and,
when a numeric metric exists, a plot. The flow's own DVC commands run one at a time (a
workspace file lock), so two of them never run at once in one workspace.

    python -m flows.sweep --key qubits --values 4 6 8 10 -j 2
    python -m flows.sweep --key seed --values 1 2 --stages prepare_sst2

Across machines (``--deployment dvc-experiment/experiment``): each experiment is a run of the
``dvc-experiment`` flow on any worker of the work pool, in its own clone at this checkout's
commit: ``dvc exp run --pull`` (upstream stages restored from the DVC remote's run-cache), then
``dvc exp push origin`` (the experiment's git ref to the repository it cloned, outputs and run-cache to the DVC
remote). This flow waits for them, pulls them with ``dvc exp pull`` from the same git remote and builds
the comparison here.

    python -m flows.sweep --key qubits --values 4 6 8 10 --deployment dvc-experiment/experiment
"""

from __future__ import annotations

import argparse
import base64
import io
import math
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import flows  # noqa: F401  (offline Prefect defaults, applied before Prefect is imported)

# isort: split
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.dvc_cli import git, push_run_cache_outputs, ran_stages, resolve_root, run_dvc, run_dvc_json
from flows.fanout import MAX_IN_FLIGHT
from flows.pipeline import STAGE_RETRIES, STAGE_RETRY_DELAY_S, retry_if_transient
from quantum_llm.lineage import flatten


def slug(value: object) -> str:
    """A piece of an experiment name (a valid git ref component)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(value)).strip("_") or "x"


def format_value(value: object) -> str:
    """A params value as ``-S`` takes it (YAML): booleans lower-case, the rest as written."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@task(name="queue-experiment", task_run_name="queue-{name}", retries=STAGE_RETRIES,
      retry_delay_seconds=STAGE_RETRY_DELAY_S, retry_condition_fn=retry_if_transient)
def queue_experiment(root: str, key: str, value: object, name: str, stages: list[str] | None = None) -> str:
    """``dvc exp run --queue -n NAME -S KEY=VALUE [STAGES]``."""
    run_dvc(["exp", "run", "--queue", "-n", name, "-S", f"{key}={format_value(value)}", *(stages or [])],
            resolve_root(root), get_run_logger())
    return name


@task(name="run-queue", retries=STAGE_RETRIES, retry_delay_seconds=STAGE_RETRY_DELAY_S,
      retry_condition_fn=retry_if_transient)
def run_queue(root: str, jobs: int) -> None:
    """``dvc exp run --run-all -j JOBS``: start JOBS queue workers and wait for the queue."""
    run_dvc(["exp", "run", "--run-all", "-j", str(jobs)], resolve_root(root), get_run_logger())


@flow(name="dvc-experiment", flow_run_name="exp-{name}")
def experiment_run(name: str, key: str, value: int | float | str, commit: str, stages: list[str] | None = None,
                   repo: str | None = None) -> dict:
    """One experiment of a sweep on a worker, in this clone at ``commit``: ``dvc exp run --pull``,
    then ``dvc exp push origin NAME`` (``origin``: the shared repository this run cloned) with the
    run-cache (and the ``cache: false`` objects of its entries,
    :func:`flows.dvc_cli.push_run_cache_outputs`)."""
    log = get_run_logger()
    root = resolve_root(repo)
    git(["checkout", "--quiet", "--detach", commit], root)
    out = run_dvc(["exp", "run", "--pull", "-n", name, "-S", f"{key}={format_value(value)}", *(stages or [])],
                  root, log)
    run_dvc(["exp", "push", "--run-cache", "origin", name], root, log)
    push_run_cache_outputs(root, log)
    return {"experiment": name, "ran": ran_stages(out), "workspace": str(root)}


@task(name="dispatch-experiment", task_run_name="dispatch-{name}")
def dispatch_experiment(deployment: str, name: str, key: str, value: object, commit: str,
                        stages: list[str] | None) -> str:
    """Start one experiment on the work pool and wait for it."""
    # one flow run per experiment of this sweep, as in flows.fanout: if the create call is retried
    # (a slow server), the server returns the run it already created instead of starting a second one
    run = run_deployment(deployment, timeout=None, poll_interval=2, flow_run_name=f"exp-{name}",
                         parameters={"name": name, "key": key, "value": value, "commit": commit,
                                     "stages": stages},
                         idempotency_key=f"{flow_run.id}-{name}" if flow_run.id else None)
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"experiment {name}: flow run {run.name} ended "
                           f"{run.state.type if run.state else None}: {run.state.message if run.state else ''}")
    return name


@task(name="pull-experiments", retries=STAGE_RETRIES, retry_delay_seconds=STAGE_RETRY_DELAY_S,
      retry_condition_fn=retry_if_transient)
def pull_experiments(root: str, git_remote: str, names: list[str]) -> None:
    """``dvc exp pull --no-cache GIT_REMOTE NAMES``: the experiments' git refs (params, metrics,
    ``dvc.lock``); their cached outputs stay on the DVC remote until ``dvc exp pull`` without
    ``--no-cache`` or ``dvc exp apply`` + ``dvc pull``."""
    run_dvc(["exp", "pull", "--no-cache", git_remote, *names], resolve_root(root), get_run_logger())


def check_commit_on_remote(root: str, commit: str, git_remote: str) -> None:
    """The workers clone the shared git remote: the sweep's commit must be on it."""
    git(["fetch", "--quiet", git_remote], Path(root))
    if not git(["branch", "--remotes", "--contains", commit], Path(root)):
        raise ValueError(f"commit {commit[:12]} is not on git remote '{git_remote}', which the workers clone: "
                         f"git push {git_remote} first")


@task(name="collect-experiments", retries=STAGE_RETRIES, retry_delay_seconds=STAGE_RETRY_DELAY_S,
      retry_condition_fn=retry_if_transient)
def collect(root: str, key: str, names: list[str], baseline: str) -> list[dict[str, object]]:
    """One row per experiment of ``names`` from ``dvc exp show --json``: name, state, the swept
    param, and every metric (``file:metric``). Read at the commit the experiments were queued on,
    so a commit made while the sweep runs does not hide them."""
    show = run_dvc_json(["exp", "show", "--json", "--rev", baseline], resolve_root(root), get_run_logger())
    return comparison_rows(show, key, names)


def comparison_rows(show: list[dict], key: str, names: list[str]) -> list[dict[str, object]]:
    """Rows of :func:`collect` from parsed ``dvc exp show --json`` output; an experiment that is
    missing (failed before DVC recorded it) gets ``state = "missing"``."""
    found: dict[str, dict[str, object]] = {}
    for baseline in show:
        for exp in baseline.get("experiments") or []:
            name = exp.get("name")
            if name not in names:
                continue
            state = ((exp.get("executor") or {}).get("state")) or "success"
            revs = exp.get("revs") or [{}]
            data = (revs[0].get("data") or {})
            row: dict[str, object] = {"experiment": name, "state": state, "rev": (revs[0].get("rev") or "")[:7]}
            params = flatten(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})
            row[key] = params.get(key)
            for path, metrics in sorted((data.get("metrics") or {}).items()):
                for metric, value in flatten((metrics or {}).get("data") or {}).items():
                    row[f"{path}:{metric}"] = value
            if revs[0].get("error"):
                row["state"] = "failed"
            found[name] = row
    return [found.get(n, {"experiment": n, "state": "missing", "rev": "", key: None}) for n in names]


def numeric_columns(rows: list[dict[str, object]], skip: set[str]) -> list[str]:
    cols = {c for r in rows for c in r} - skip
    return sorted(c for c in cols if any(_is_number(r.get(c)) for r in rows))


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def plot_png(rows: list[dict[str, object]], key: str, metrics: list[str]) -> bytes:
    """One panel per numeric metric: metric against the swept value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(metrics), 1, figsize=(6, 2.6 * len(metrics)), squeeze=False)
    xs = [r.get(key) for r in rows]
    numeric_x = all(_is_number(x) for x in xs)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        pts = [(x if numeric_x else str(x), r.get(metric)) for x, r in zip(xs, rows, strict=True)
               if _is_number(r.get(metric))]
        if numeric_x:
            pts.sort(key=lambda p: p[0])
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o")
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


@task(name="publish-comparison")
def publish(root: str, key: str, tag: str, rows: list[dict[str, object]]) -> str | None:
    """Table artifact of the experiments; a plot (file + markdown artifact) if any metric is
    numeric. Returns the plot's path or None."""
    log = get_run_logger()
    artifact_key = f"sweep-{slug(key).lower().replace('_', '-')}"
    metrics = numeric_columns(rows, {"experiment", "state", "rev", key})
    note = "" if metrics else "\n\nNo numeric metrics yet (dvc.yaml declares none), so no plot."
    create_table_artifact(key=artifact_key, table=rows,
                          description=f"# Sweep of `{key}` ({tag})\nDVC experiments, from `dvc exp show --json`.{note}")
    if not metrics:
        log.info("no numeric metrics in the experiments; published the table only")
        return None
    png = plot_png(rows, key, metrics)
    out = Path(root) / ".prefect" / "sweeps" / f"{tag}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    create_markdown_artifact(
        key=f"{artifact_key}-plot",
        markdown=f"# Sweep of `{key}` ({tag})\n\n![plot](data:image/png;base64,{base64.b64encode(png).decode()})\n\n"
                 f"Saved at `{out}`.",
        description=f"metrics against {key}")
    log.info("plot written to %s", out)
    return str(out)


@flow(name="dvc-sweep", task_runner=ThreadPoolTaskRunner(max_workers=MAX_IN_FLIGHT))
def sweep(key: str = "qubits", values: list[int | float | str] | None = None, jobs: int = 2,
          stages: list[str] | None = None, repo: str | None = None, deployment: str | None = None,
          git_remote: str = "origin") -> list[dict[str, object]]:
    """Run one DVC experiment per value of params key ``key``, restricted to ``stages`` if given,
    in ``repo`` (default: this checkout); publish the comparison. Without ``deployment``, DVC's
    queue runs them here, ``jobs`` at a time; with it (``dvc-experiment/experiment``), each is a
    run of that deployment on the work pool, shared through ``git_remote``."""
    values = [4, 6, 8, 10] if values is None else list(values)
    if not values:
        raise ValueError("values is empty: nothing to sweep")
    root = str(resolve_root(repo))
    tag = f"{slug(key)}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    names = [f"{tag}-{slug(v)}" for v in values]
    if len(set(names)) != len(names):
        raise ValueError(f"values {values} give duplicate experiment names {names}")
    baseline = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
    if deployment:
        check_commit_on_remote(root, baseline, git_remote)
        futures = [dispatch_experiment.submit(deployment, name, key, value, baseline, stages)
                   for value, name in zip(values, names, strict=True)]
        done = [f.result() for f in futures]
        pull_experiments(root, git_remote, done)
    else:
        for value, name in zip(values, names, strict=True):
            queue_experiment(root, key, value, name, stages)
        run_queue(root, jobs)
    rows = collect(root, key, names, baseline)
    publish(root, key, tag, rows)
    failed = [r["experiment"] for r in rows if r["state"] != "success"]
    if failed:
        raise RuntimeError(f"experiment(s) did not succeed: {failed} (see `dvc queue logs <name>`, or the worker run's logs)")
    return rows


def _value(text: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", default="qubits", help="params key to sweep (dotted), default qubits")
    parser.add_argument("--values", nargs="+", type=_value, default=[4, 6, 8, 10])
    parser.add_argument("-j", "--jobs", type=int, default=2, help="DVC queue workers")
    parser.add_argument("--stages", nargs="+", help="only these stages (and their upstream)")
    parser.add_argument("--repo", help="DVC workspace (default: this checkout)")
    parser.add_argument("--deployment", help="run each experiment on the work pool through this deployment "
                        "(dvc-experiment/experiment of prefect.yaml); default: DVC's queue, here")
    parser.add_argument("--git-remote", default="origin", help="git remote the workers clone and push "
                        "experiments to (with --deployment), default origin")
    args = parser.parse_args(argv)
    sweep(key=args.key, values=args.values, jobs=args.jobs, stages=args.stages, repo=args.repo,
          deployment=args.deployment, git_remote=args.git_remote)


if __name__ == "__main__":
    main()
