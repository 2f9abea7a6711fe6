"""Scale-out over a DVC remote: what DVC's run-cache restores (unit, real DVC in a temp repo), and
the dvc-fanout flow on real engines: a `prefect server start` on 127.0.0.1, process workers in
separate working directories standing for separate machines, a local-directory DVC remote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.dvc_cli import push_run_cache_outputs, ran_stages, stage_graph_and_run_cache
from flows.fanout import coordinator_only, selected
from flows.local_cluster import api, prefect_cluster, tail

from ..conftest import run, set_params

GEN = 'open("o.txt", "w").write("out")\nopen("m.json", "w").write(\'{"acc": 0.5}\')\n'
TOY_DVC_YAML = """stages:
  s:
    cmd: python gen.py
    deps: [gen.py]
    outs: [o.txt]
    metrics:
      - m.json:
          cache: false
  t:
    cmd: python -c "open('r.md', 'w').write('summary')"
    deps: [o.txt]
    outs:
      - r.md:
          cache: false
"""


def toy_repo(path: Path, remote: Path) -> Path:
    path.mkdir()
    (path / "gen.py").write_text(GEN)
    (path / "dvc.yaml").write_text(TOY_DVC_YAML)
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                [sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "-f", "shared", str(remote)],
                ["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "toy"]):
        run(cmd, path)
    return path


def test_uncached_outputs_reach_the_remote_so_another_clone_restores_the_stage(tmp_path):
    remote = tmp_path / "remote"
    a = toy_repo(tmp_path / "a", remote)
    run([sys.executable, "-m", "dvc", "repro"], a)
    run([sys.executable, "-m", "dvc", "push", "--run-cache"], a)

    def clone_and_repro(name: str) -> str:
        run(["git", "clone", "-q", str(a), name], tmp_path)
        b = tmp_path / name
        run([sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "-f", "shared", str(remote)], b)
        return run([sys.executable, "-m", "dvc", "repro", "--pull"], b).stdout

    # DVC saved a run-cache entry for s, none for t (an uncached out that is no metric or plot),
    # as run_cacheable predicts
    assert len(list((a / ".dvc/cache/runs").rglob("*/*/*"))) == 1
    _, _, uncacheable = stage_graph_and_run_cache(a)
    assert uncacheable == {"t"}
    # DVC 3.x alone: the entry is on the remote, the `cache: false` metrics object is not: re-run
    assert ran_stages(clone_and_repro("b")) == ["s", "t"]
    # with the cache: false objects the entry names pushed too, s is restored, not run
    assert push_run_cache_outputs(a) == 1
    out = clone_and_repro("c")
    assert ran_stages(out) == ["t"] and "Stage 's' is cached - skipping run" in out
    assert json.loads((tmp_path / "c/m.json").read_text()) == {"acc": 0.5}


def test_selected_takes_targets_and_their_upstream_in_dvc_order():
    order = ["a", "b@0", "b@1", "c", "d"]
    upstream = {"a": [], "b@0": ["a"], "b@1": ["a"], "c": ["b@0", "b@1"], "d": ["a"]}
    assert selected(order, upstream, None) == order
    assert selected(order, upstream, ["c"]) == ["a", "b@0", "b@1", "c"]
    assert selected(order, upstream, ["b@1", "d"]) == ["a", "b@1", "d"]
    with pytest.raises(ValueError, match="unknown stage"):
        selected(order, upstream, ["nope"])
    # a stage DVC does not run-cache, and everything downstream of it, stays on the coordinator
    assert coordinator_only(order, upstream, {"b@1"}) == {"b@1", "c"}
    assert coordinator_only(order, upstream, set()) == set()
    assert ran_stages("Running stage 'a':\n> x\nStage 'b' is cached - skipping run\nRunning stage 'c@1':") == ["a", "c@1"]


# The QISA branch of the tiny profile, shrunk: a matrix stage's items (train/evaluate x 2
# variants), the stages that depend on them, and `cache: false` metrics all along.
TINY_QISA = {
    "qisa.variants": ["csa", "qisa"], "qisa.seeds": [0], "qisa.model.n_layer": 2, "qisa.train.batch_size": 32,
    "qisa.train.max_iters": 20, "qisa.train.eval_interval": 10, "qisa.train.eval_iters": 2,
    "qisa.eval.windows": 40, "qisa.eval.prompts": 8, "qisa.eval.generate": 8, "qisa.eval.timing_batch": 8,
    "qisa.eval.timing_repeats": 3, "qisa.eval.audit_trials": 1,
}
TARGET = "qisa_summary"
# on the workers; qisa_summary (its summary.md is an uncached out, so DVC never run-caches it)
# runs in the coordinator's final dvc repro
WORKER_STAGES = {"prepare_chars", "train_qisa@csa-0", "train_qisa@qisa-0", "evaluate_qisa@csa-0",
                 "evaluate_qisa@qisa-0"}
STAGES = WORKER_STAGES | {TARGET}
TIMING_KEYS = ("lineage", "inference", "seconds", "time", "created")  # wall clocks and provenance, not science


def science(obj):
    """A metrics document without its timings and provenance (they differ between any two runs)."""
    if isinstance(obj, dict):
        return {k: science(v) for k, v in obj.items() if not any(t in k for t in TIMING_KEYS)}
    if isinstance(obj, list):
        return [science(v) for v in obj]
    return obj


def metrics_of(repo: Path) -> dict[str, object]:
    return {str(p.relative_to(repo)): science(json.loads(p.read_text())) for p in sorted((repo / "metrics/qisa").rglob("*.json"))}


def model_files(repo: Path) -> dict[str, bytes]:
    """The trained models' files, but their manifests (which carry the time they were written)."""
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted((repo / "models/qisa").rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def machine_of(workspace: str, machines: list[Path]) -> str:
    return next(m.name for m in machines if workspace.startswith(str(m)))


@pytest.mark.integration
def test_fanout_runs_each_stage_once_across_two_workers_and_the_coordinator_only_restores(tiny_repo, tmp_path):
    workers_n = int(os.environ.get("QLLM_FANOUT_WORKERS", "2"))
    set_params(tiny_repo / "params.yaml", TINY_QISA)
    # a profile that never ran: the committed dvc.lock records the default profile's outputs,
    # which are on no remote here (see docs/orchestration.md: push what dvc.lock records)
    run(["git", "rm", "-q", "dvc.lock"], tiny_repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny qisa"], tiny_repo)
    remote = tmp_path / "dvc-remote"
    run([sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "-f", "shared", str(remote)], tiny_repo)

    # the single-machine reference: plain dvc repro in another clone
    run(["git", "clone", "-q", str(tiny_repo), "single"], tmp_path)
    t0 = time.monotonic()
    assert set(ran_stages(run([sys.executable, "-m", "dvc", "repro", TARGET], tmp_path / "single").stdout)) == STAGES
    single_s = time.monotonic() - t0

    with prefect_cluster(tmp_path, tiny_repo, tiny_repo, remote, "stage", workers_n) as (env, machines, logs):
        t0 = time.monotonic()
        coord = subprocess.run([sys.executable, "-m", "flows.fanout", "--repo", str(tiny_repo), "--stages", TARGET],
                               cwd=tiny_repo, env=env, capture_output=True, text=True, timeout=600)
        fanout_s = time.monotonic() - t0
        out = coord.stdout + coord.stderr
        assert coord.returncode == 0, out[-6000:] + "\n".join(tail(p, 3000) for p in logs[1:])
        arts = api(env["PREFECT_API_URL"], "/artifacts/filter", {
            "artifacts": {"key": {"any_": ["dvc-stage-run"]}}, "limit": 100, "offset": 0, "sort": "CREATED_DESC"})

    # every stage ran exactly once: on a worker, or (qisa_summary) in the coordinator's dvc repro,
    # and the workers shared the work
    rows = [json.loads(a["data"])[0] for a in arts]
    assert sorted(r["stage"] for r in rows) == sorted(WORKER_STAGES) and all(r["ran"] for r in rows), rows
    assert len({machine_of(r["workspace"], machines) for r in rows}) == workers_n, rows
    # the coordinator's dvc repro restored the workers' stages from the run-cache, ran none of them
    # (Prefect's console log prefixes each DVC line, so not ran_stages, which reads DVC's output)
    assert re.findall(r"Running stage '([^']+)'", out) == [TARGET], out[-6000:]
    assert all(f"Stage '{s}' is cached - skipping run" in out for s in WORKER_STAGES), out[-6000:]
    assert run([sys.executable, "-m", "dvc", "status", TARGET], tiny_repo).stdout.strip().endswith(
        "Data and pipelines are up to date.")
    # the results of a single-machine run: the same models, the same science metrics
    assert model_files(tiny_repo) == model_files(tmp_path / "single") != {}
    assert metrics_of(tiny_repo) == metrics_of(tmp_path / "single") != {}
    overhead = [(r["stage"], r["pull_s"], r["repro_s"], r["push_s"]) for r in rows]
    print(f"\nsingle-machine dvc repro {single_s:.0f} s; fan-out on {workers_n} worker(s) {fanout_s:.0f} s; "
          f"per stage (pull, repro, push) s: {overhead}; load {os.getloadavg()}")


@pytest.mark.integration
def test_sweep_experiments_run_on_the_workers_and_are_compared_on_the_coordinator(tiny_repo, tmp_path):
    shared = tmp_path / "shared.git"  # stands for the shared git remote
    run(["git", "clone", "-q", "--bare", str(tiny_repo), str(shared)], tmp_path)
    run(["git", "remote", "add", "origin", str(shared)], tiny_repo)
    run(["git", "fetch", "-q", "origin"], tiny_repo)
    remote = tmp_path / "dvc-remote"
    run([sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "-f", "shared", str(remote)], tiny_repo)

    with prefect_cluster(tmp_path, tiny_repo, shared, remote, "experiment", 2) as (env, machines, logs):
        coord = subprocess.run([sys.executable, "-m", "flows.sweep", "--repo", str(tiny_repo), "--key", "seed",
                                "--values", "1", "2", "--stages", "prepare_chars",
                                "--deployment", "dvc-experiment/experiment"],
                               cwd=tiny_repo, env=env, capture_output=True, text=True, timeout=600)
        out = coord.stdout + coord.stderr
        assert coord.returncode == 0, out[-6000:] + "\n".join(tail(p, 3000) for p in logs[1:])
        runs = api(env["PREFECT_API_URL"], "/flow_runs/filter", {"flow_runs": {"name": {"like_": "exp-"}},
                                                                 "limit": 10, "offset": 0})
        table = api(env["PREFECT_API_URL"], "/artifacts/filter", {
            "artifacts": {"key": {"any_": ["sweep-seed"]}}, "limit": 1, "offset": 0, "sort": "CREATED_DESC"})

    # each experiment ran on a worker, one on each "machine", none in the coordinator's checkout
    assert len(runs) == 2 and all(r["state_type"] == "COMPLETED" for r in runs), runs
    assert all((m / "worker.log").read_text(errors="replace").count("Finished in state Completed()") == 1
               for m in machines), [tail(m / "worker.log", 2000) for m in machines]
    assert not (tiny_repo / "data/prepared/chars").exists()
    # the experiments came back through the shared git remote: DVC on the coordinator shows them
    rows = json.loads(table[0]["data"])
    assert [(r["seed"], r["state"]) for r in rows] == [(1, "success"), (2, "success")], rows
    shown = json.loads(run([sys.executable, "-m", "dvc", "exp", "show", "--json"], tiny_repo).stdout)
    names = {e["name"] for b in shown for e in (b.get("experiments") or [])}
    assert {r["experiment"] for r in rows} <= names
    refs = run(["git", "for-each-ref", "refs/exps"], shared).stdout
    assert all(r["experiment"] in refs for r in rows)
