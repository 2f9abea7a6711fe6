"""Wall time of the whole pipeline fanned out over N Prefect workers on this machine, and what
each stage run on a worker costs beside the stage itself.

For a profile (``tiny``: the tests' tiny profile, i.e. the tiny LM built by the tests as base
model and the small data/training limits of the integration tests, all branches; ``default``:
params.yaml as committed) and each worker count, in a fresh temporary folder:

- a bare git repository holding the current commit plus one commit that applies the profile and
  drops ``dvc.lock`` (a commit that never ran, so every stage runs), the coordinator's clone of
  it (its DVC cache inside the temporary folder), an empty local DVC remote;
- a real Prefect server on a free 127.0.0.1 port with its own PREFECT_HOME and N process workers,
  each in its own folder (``flows.local_cluster``, as ``tests/flows/test_fanout.py``);
- ``python -m flows.fanout`` in the coordinator's clone, timed from outside.

From the server it reads each worker run's ``dvc-stage-run`` artifact (seconds of pull, run,
push) and the flow run's times: *start* is from the moment the run could start (created, or the
end of the worker's previous run if later) to its Running state (worker pick-up, new process,
git clone, prefect.yaml's pull steps); *other* is the rest of the run outside pull/run/push
(Prefect and DVC imports, checkout, DVC's stage graph, the artifact). ``--plain`` also times a
plain ``dvc repro`` of the same commit in another fresh clone. Everything lives in the temporary
folder and is removed afterwards; the server and workers are stopped even on Ctrl-C.

    python benchmarks/fanout_times.py --profile tiny --workers 1 2 --plain
    python benchmarks/fanout_times.py --profile default --workers 1 2 --json /tmp/fanout.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from flows.dvc_cli import stage_graph  # noqa: E402
from flows.local_cluster import api, prefect_cluster, start, stop, tail  # noqa: E402

RUNNING = re.compile(r"Running stage '([^']+)'")
PHASES = ("dispatch_s", "start_s", "pull_s", "repro_s", "push_s", "other_s")


def sh(cmd: list[str], cwd: Path, env: dict | None = None, timeout: float | None = None) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res.stdout + res.stderr


def dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def tiny_overrides(tmp: Path) -> dict:
    """The tests' tiny profile (tests/conftest.py and the integration tests' branch profiles),
    with the tiny LM built here."""
    from tests.conftest import TINY_PARAMS, build_tiny_lm
    from tests.integration.test_pqc_pipeline import TINY_PQC
    from tests.integration.test_qisa_pipeline import TINY_QISA
    from tests.integration.test_qpa_pipeline import TINY_QPA

    lm = build_tiny_lm(tmp / "tiny-lm")
    return {**TINY_PARAMS, **TINY_QPA, **TINY_PQC, **TINY_QISA, "base_model.source": f"path:{lm}"}


def make_origin(tmp: Path, profile: str, env: dict) -> Path:
    """A bare repository with HEAD of this checkout plus the profile's commit (no dvc.lock)."""
    from tests.conftest import set_params

    origin = tmp / "origin.git"
    sh(["git", "init", "-q", "--bare", str(origin)], tmp)
    sh(["git", "push", "-q", str(origin), "HEAD:refs/heads/main"], ROOT)
    sh(["git", "symbolic-ref", "HEAD", "refs/heads/main"], origin)
    work = tmp / "profile-commit"
    sh(["git", "clone", "-q", str(origin), str(work)], tmp)
    if profile == "tiny":
        set_params(work / "params.yaml", tiny_overrides(tmp))
    sh(["quantum-llm", "check-params"], work, env)
    if (work / "dvc.lock").exists():
        sh(["git", "rm", "-q", "dvc.lock"], work)
    sh(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qam",
        f"{profile} profile, never run"], work)
    sh(["git", "push", "-q", "origin", "HEAD:main"], work)
    shutil.rmtree(work)
    return origin


def clone(origin: Path, dest: Path, remote: Path | None, env: dict) -> Path:
    """A clone of ``origin`` with its DVC cache inside it (explicitly: no global cache dir)."""
    sh(["git", "clone", "-q", str(origin), str(dest)], dest.parent)
    sh(dvc("cache", "dir", "--local", str(dest / ".dvc" / "cache")), dest, env)
    if remote is not None:
        sh(dvc("remote", "add", "--local", "-d", "-f", "shared", str(remote)), dest, env)
    return dest


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def plain_repro(origin: Path, tmp: Path, env: dict, stages: list[str] | None) -> dict:
    repo = clone(origin, tmp / "plain", None, env)
    before = load()
    log = tmp / "plain-repro.log"
    t0 = time.monotonic()
    # in a session of its own, as the workers: on Ctrl-C or an error `stop` ends the stage
    # processes DVC started too (subprocess.run would leave them running)
    proc = start(dvc("repro", *(stages or [])), repo, env, log)
    try:
        rc = proc.wait()
    finally:
        stop(proc)
    wall = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError(f"plain `dvc repro` failed ({rc}):\n{tail(log)}")
    return {"wall_s": wall, "stages_run": len(RUNNING.findall(log.read_text(errors="replace"))),
            "load_before": before, "load_after": load()}


def ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def stage_rows(url: str, machines: list[Path], upstream: dict[str, list[str]]) -> list[dict]:
    """One row per worker run: the worker's artifact row and the phases around it."""
    arts = api(url, "/artifacts/filter", {"artifacts": {"key": {"any_": ["dvc-stage-run"]}},
                                          "limit": 200, "offset": 0, "sort": "CREATED_DESC"})
    runs = {r["id"]: r for r in api(url, "/flow_runs/filter", {"limit": 200, "offset": 0})}
    rows = []
    for a in arts:
        row = json.loads(a["data"])[0] if isinstance(a["data"], str) else a["data"][0]
        fr = runs[a["flow_run_id"]]
        row.update(machine=next(m.name for m in machines if row["workspace"].startswith(str(m))),
                   created=ts(fr["created"]), started=ts(fr["start_time"]), ended=ts(fr["end_time"]))
        rows.append(row)
    last_end: dict[str, float] = {}
    for row in sorted(rows, key=lambda r: r["started"]):
        row["start_s"] = row["started"] - max(row["created"], last_end.get(row["machine"], 0.0))
        row["other_s"] = row["ended"] - row["started"] - row["pull_s"] - row["repro_s"] - row["push_s"]
        last_end[row["machine"]] = row["ended"]
    ended = {row["stage"]: row["ended"] for row in rows}
    for row in rows:
        ups = [ended[u] for u in upstream.get(row["stage"], []) if u in ended]
        row["dispatch_s"] = row["created"] - max(ups) if ups else None
    return rows


def fanout_run(origin: Path, tmp: Path, workers: int, env: dict, timeout: float, stages: list[str] | None) -> dict:
    remote = tmp / "dvc-remote"
    coord = clone(origin, tmp / "coordinator", remote, env)
    with prefect_cluster(tmp, coord, origin, remote, "stage", workers) as (cenv, machines, logs):
        log = tmp / "coordinator.log"
        cmd = [sys.executable, "-m", "flows.fanout", "--repo", str(coord), *(["--stages", *stages] if stages else [])]
        before = load()
        t0 = time.monotonic()
        proc = start(cmd, coord, {**cenv, "PYTHONPATH": str(coord / "src")}, log)  # its own process group
        try:
            rc = proc.wait(timeout)
        finally:
            stop(proc)
        wall = time.monotonic() - t0
        after = load()
        out = log.read_text(errors="replace")
        if rc != 0:
            raise RuntimeError(f"flows.fanout failed:\n{out[-6000:]}\n" + "\n".join(tail(p, 3000) for p in logs[1:]))
        print(f"fan-out on {workers} worker(s): {wall:.0f} s", flush=True)
        try:
            rows = stage_rows(cenv["PREFECT_API_URL"], machines, stage_graph(coord)[1])
        except Exception as exc:  # keep the wall time of a long run even if the breakdown fails
            print(f"no per-stage breakdown: {exc!r}", flush=True)
            rows = []
    here = RUNNING.findall(out)
    return {"wall_s": wall, "worker_stages": len(rows), "ran_on_workers": sum(r["ran"] for r in rows),
            "coordinator_stages": here, "load_before": before, "load_after": after, "rows": rows}


def one(profile: str, workers: int | None, timeout: float, stages: list[str] | None = None) -> dict:
    """One measurement (``workers`` None: plain ``dvc repro``) in its own temporary folder."""
    with tempfile.TemporaryDirectory(prefix=f"qllm-fanout-{profile}-") as name:
        tmp = Path(name)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "PYTHONPATH": str(ROOT / "src"), "DVC_SITE_CACHE_DIR": str(tmp / "dvc-site")}
        env.pop("QUANTUM_LLM_DVC_CACHE", None)
        os.environ["DVC_SITE_CACHE_DIR"] = env["DVC_SITE_CACHE_DIR"]  # the workers inherit it
        origin = make_origin(tmp, profile, env)
        if workers is None:
            return {"profile": profile, "workers": 0, **plain_repro(origin, tmp, env, stages)}
        return {"profile": profile, "workers": workers, **fanout_run(origin, tmp, workers, env, timeout, stages)}


def summary(r: dict) -> str:
    if r["workers"] == 0:
        return (f"| {r['profile']} | plain `dvc repro` | {r['wall_s']:.0f} | {r['stages_run']} | - | - | - | - | - | - | "
                f"{r['load_before']} / {r['load_after']} |")
    rows = r["rows"]
    cells = []
    for k in PHASES:
        vals = [row[k] for row in rows if row[k] is not None]
        cells.append(f"{statistics.median(vals):.1f} ({sum(vals):.0f})" if vals else "-")
    return (f"| {r['profile']} | {r['workers']} | {r['wall_s']:.0f} | {r['ran_on_workers']} + "
            f"{len(r['coordinator_stages'])} | " + " | ".join(cells) + f" | {r['load_before']} / {r['load_after']} |")


HEADER = ("| profile | workers | wall s | stages run (workers + coordinator) | dispatch s | start s | pull s | run s | push s | "
          "other s | load before / after |\n|---|---|---|---|---|---|---|---|---|---|---|")


def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    # SIGTERM, and SIGINT even when started in the background (where it is ignored), unwind the
    # with-blocks: the server, the workers and their runs are stopped, the temporary folder removed
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["tiny", "default"], default="tiny")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--plain", action="store_true", help="also time a plain dvc repro")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per fan-out run (default 3600)")
    parser.add_argument("--stages", nargs="+", help="only these targets and their upstream stages")
    parser.add_argument("--json", type=Path, help="also write the results (per-stage rows included) here")
    args = parser.parse_args(argv)
    results = []
    for w in args.workers + ([None] if args.plain else []):
        r = one(args.profile, w, args.timeout, args.stages)
        results.append(r)
        print(f"{args.profile}, {'plain' if w is None else f'{w} worker(s)'}: {r['wall_s']:.0f} s "
              f"(load {r['load_before']} -> {r['load_after']})", flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    print("\nper stage run on a worker: median (sum) seconds\n" + HEADER)
    print("\n".join(summary(r) for r in results))
    by_w = {r["workers"]: r["wall_s"] for r in results}
    if 1 in by_w and 2 in by_w:
        print(f"\n2 vs 1 worker: {by_w[1] / by_w[2]:.2f}x")


if __name__ == "__main__":
    main()
