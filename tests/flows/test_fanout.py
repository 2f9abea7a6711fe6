"""Scale-out over a DVC remote: what DVC's run-cache restores (unit, real DVC in a temp repo), and
the dvc-fanout flow on real engines: a `prefect server start` on 127.0.0.1, process workers in
separate working directories standing for separate machines, a local-directory DVC remote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flows.dvc_cli import push_run_cache_outputs, ran_stages
from flows.fanout import selected

from ..conftest import run, set_params
from .test_scheduled_run import HOST, api, free_port, start, stop, tail

GEN = 'open("o.txt", "w").write("out")\nopen("m.json", "w").write(\'{"acc": 0.5}\')\n'
TOY_DVC_YAML = """stages:
  s:
    cmd: python gen.py
    deps: [gen.py]
    outs: [o.txt]
    metrics:
      - m.json:
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

    # DVC 3.x alone: the entry is on the remote, the `cache: false` metrics object is not: re-run
    assert ran_stages(clone_and_repro("b")) == ["s"]
    # with the cache: false objects the entry names pushed too, the stage is restored, not run
    assert push_run_cache_outputs(a) == 1
    out = clone_and_repro("c")
    assert ran_stages(out) == [] and "Stage 's' is cached - skipping run" in out
    assert json.loads((tmp_path / "c/m.json").read_text()) == {"acc": 0.5}


def test_selected_takes_targets_and_their_upstream_in_dvc_order():
    order = ["a", "b@0", "b@1", "c", "d"]
    upstream = {"a": [], "b@0": ["a"], "b@1": ["a"], "c": ["b@0", "b@1"], "d": ["a"]}
    assert selected(order, upstream, None) == order
    assert selected(order, upstream, ["c"]) == ["a", "b@0", "b@1", "c"]
    assert selected(order, upstream, ["b@1", "d"]) == ["a", "b@1", "d"]
    with pytest.raises(ValueError, match="unknown stage"):
        selected(order, upstream, ["nope"])
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
STAGES = {"prepare_chars", "train_qisa@csa-0", "train_qisa@qisa-0", "evaluate_qisa@csa-0", "evaluate_qisa@qisa-0",
          TARGET}
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


def cached_outs(repo: Path) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for s in STAGES for o in lock[s].get("outs", []) if o["path"].startswith("models/")}


@pytest.mark.integration
def test_fanout_runs_each_stage_once_across_two_workers_and_the_coordinator_only_restores(tiny_repo, tmp_path):
    workers_n = int(os.environ.get("QLLM_FANOUT_WORKERS", "2"))
    set_params(tiny_repo / "params.yaml", TINY_QISA)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny qisa"], tiny_repo)
    remote = tmp_path / "dvc-remote"
    run([sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "-f", "shared", str(remote)], tiny_repo)

    # the single-machine reference: plain dvc repro in another clone
    run(["git", "clone", "-q", str(tiny_repo), "single"], tmp_path)
    t0 = time.monotonic()
    assert set(ran_stages(run([sys.executable, "-m", "dvc", "repro", TARGET], tmp_path / "single").stdout)) == STAGES
    single_s = time.monotonic() - t0

    port = free_port()
    url = f"http://{HOST}:{port}/api"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": HOST, "PREFECT_SERVER_API_PORT": str(port), "PREFECT_WORKER_QUERY_SECONDS": "1",
           "QUANTUM_LLM_REPO_URL": str(tiny_repo), "QUANTUM_LLM_DVC_REMOTE": str(remote)}
    env.pop("PREFECT_PROFILES_PATH", None)
    spec = yaml.safe_load((tiny_repo / "prefect.yaml").read_text())
    spec["deployments"] = [d for d in spec["deployments"] if d["name"] == "stage"]
    (tmp_path / "prefect-test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))

    procs, logs = [], []
    try:
        logs.append(tmp_path / "server.log")
        procs.append(start([sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
                           tmp_path, env, logs[-1]))
        t_start = time.monotonic()
        while True:
            assert procs[0].poll() is None and time.monotonic() - t_start < 120, f"no server:\n{tail(logs[0])}"
            try:
                if api(url, "/health", timeout=2) is True:
                    break
            except OSError:
                pass
            time.sleep(1)
        run([sys.executable, "-m", "prefect", "work-pool", "create", "quantum-llm", "--type", "process"], tmp_path)
        deploy = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--prefect-file",
                                 str(tmp_path / "prefect-test.yaml"), "--name", "stage"],
                                cwd=tiny_repo, env=env, capture_output=True, text=True)
        assert "successfully created" in deploy.stdout, deploy.stdout[-3000:] + deploy.stderr[-3000:]

        machines = [tmp_path / f"machine-{i}" for i in range(workers_n)]
        for m in machines:  # each "machine": its own working and temporary directories
            (m / "tmp").mkdir(parents=True)
            logs.append(m / "worker.log")
            procs.append(start([sys.executable, "-m", "prefect", "worker", "start", "--pool", "quantum-llm",
                                "--limit", "1", "--name", m.name], m, {**env, "TMPDIR": str(m / "tmp")}, logs[-1]))

        t0 = time.monotonic()
        coord = subprocess.run([sys.executable, "-m", "flows.fanout", "--repo", str(tiny_repo), "--stages", TARGET],
                               cwd=tiny_repo, env=env, capture_output=True, text=True, timeout=600)
        fanout_s = time.monotonic() - t0
        out = coord.stdout + coord.stderr
        assert coord.returncode == 0, out[-6000:] + "\n".join(tail(p, 3000) for p in logs[1:])

        # every stage ran exactly once, on a worker, and the workers shared the work
        arts = api(url, "/artifacts/filter", {"artifacts": {"key": {"any_": ["dvc-stage-run"]}}, "limit": 100,
                                              "offset": 0, "sort": "CREATED_DESC"})
        rows = [json.loads(a["data"])[0] for a in arts]
        assert sorted(r["stage"] for r in rows) == sorted(STAGES) and all(r["ran"] for r in rows), rows
        used = {next(m.name for m in machines if r["workspace"].startswith(str(m))) for r in rows}
        assert len(used) == workers_n, rows
        # the coordinator's dvc repro restored everything from the run-cache and ran nothing
        assert ran_stages(out) == [], out[-6000:]
        assert all(f"Stage '{s}' is cached - skipping run" in out for s in STAGES), out[-6000:]
        assert run([sys.executable, "-m", "dvc", "status", TARGET], tiny_repo).stdout.strip().endswith(
            "Data and pipelines are up to date.")
        # the results of a single-machine run
        assert cached_outs(tiny_repo) == cached_outs(tmp_path / "single")
        assert metrics_of(tiny_repo) == metrics_of(tmp_path / "single") != {}
        overhead = [(r["stage"], r["pull_s"], r["repro_s"], r["push_s"]) for r in rows]
        print(f"\nsingle-machine dvc repro {single_s:.0f} s; fan-out on {workers_n} worker(s) {fanout_s:.0f} s; "
              f"per stage (pull, repro, push) s: {overhead}; load {os.getloadavg()}")
    finally:
        for p in reversed(procs):
            stop(p)
