"""A real Prefect server on loopback, the pipeline deployed from prefect.yaml through a process
work pool with a short interval schedule, a worker: a scheduled run must complete, in its own
fresh clone of the repository. Everything started here is stopped in a finally."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flows.local_cluster import HOST, api, free_port, start, stop, tail, wait_healthy

pytestmark = pytest.mark.integration
DEADLINE_S = 180


def test_a_scheduled_run_completes_through_a_work_pool_in_a_fresh_clone(tiny_repo, tmp_path):
    port = free_port()
    url = f"http://{HOST}:{port}/api"
    home = tmp_path / "prefect-home"
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PREFECT_HOME": str(home), "PREFECT_API_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": HOST, "PREFECT_SERVER_API_PORT": str(port),
           # schedule and pick up runs within seconds, not the production minute
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2", "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "1",
           "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "3", "PREFECT_WORKER_QUERY_SECONDS": "2",
           # what the pull steps of prefect.yaml clone on the worker
           "QUANTUM_LLM_REPO_URL": str(tiny_repo)}
    env.pop("PREFECT_PROFILES_PATH", None)

    # the real prefect.yaml, only the schedule shortened and the run restricted to a cheap stage
    spec = yaml.safe_load((tiny_repo / "prefect.yaml").read_text())
    dep = next(d for d in spec["deployments"] if d["name"] == "pipeline-nightly")
    dep["schedules"] = [{"interval": 10}]
    dep["parameters"] = {"stages": ["prepare_chars"]}
    spec["deployments"] = [dep]
    (tmp_path / "prefect-test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))

    server = worker = None
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    try:
        server = start([sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
                       tmp_path, env, server_log)
        t0 = time.monotonic()
        wait_healthy(url, server, server_log)

        subprocess.run(
            [sys.executable, "-m", "prefect", "work-pool", "create", "quantum-llm", "--type", "process"],
            cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
        deploy = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--prefect-file",
                                 str(tmp_path / "prefect-test.yaml"), "--name", "pipeline-nightly"],
                                cwd=tiny_repo, env=env, capture_output=True, text=True)
        # `prefect deploy` 3.8.8 exits 1 *after* creating the deployment here: its optional
        # "any worker online?" check sends limit=null, which this server (fastapi 0.154) rejects
        # with a 422. The deployment itself is checked through the API just below.
        assert "successfully created" in deploy.stdout, deploy.stdout[-3000:] + deploy.stderr[-3000:]
        deployment = api(url, "/deployments/name/dvc-pipeline/pipeline-nightly")
        assert deployment["schedules"] and deployment["work_pool_name"] == "quantum-llm"

        worker = start([sys.executable, "-m", "prefect", "worker", "start", "--pool", "quantum-llm",
                        "--limit", "1"], tmp_path, env, worker_log)
        done, runs = None, []
        while done is None:
            assert time.monotonic() - t0 < DEADLINE_S, (
                f"no scheduled run completed in {DEADLINE_S} s; runs: {[(r['name'], r['state_type']) for r in runs]}"
                f"\nworker:\n{tail(worker_log)}")
            assert worker.poll() is None, f"worker exited:\n{tail(worker_log)}"
            # Prefect 3.8.8's scheduler cannot insert runs with SQLAlchemy 2.1 (it needs < 2.1)
            assert "Can't evaluate bulk DML statement" not in server_log.read_text(errors="replace"), (
                "the server's scheduler fails with this SQLAlchemy (pin sqlalchemy<2.1):\n" + tail(server_log))
            runs = api(url, "/flow_runs/filter", {"deployments": {"id": {"any_": [deployment["id"]]}},
                                                   "sort": "EXPECTED_START_TIME_ASC", "limit": 20, "offset": 0})
            assert not [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")], (
                f"a scheduled run failed:\n{tail(worker_log, 8000)}")
            done = next((r for r in runs if r["state_type"] == "COMPLETED"), None)
            time.sleep(2)

        assert done["auto_scheduled"] and done["parameters"] == {"stages": ["prepare_chars"]}
        # it ran in a fresh clone, not in the deploying checkout: nothing was reproduced there
        assert not (tiny_repo / "data/prepared/chars").exists()
        logs = api(url, "/logs/filter", {"logs": {"flow_run_id": {"any_": [done["id"]]}}, "limit": 200, "offset": 0,
                                         "sort": "TIMESTAMP_ASC"})
        text = "\n".join(entry["message"] for entry in logs)
        assert "Running stage 'prepare_chars'" in text
        workspace = next(line for line in text.splitlines() if line.startswith("DVC workspace: "))
        assert str(tiny_repo) not in workspace, workspace
    finally:
        stop(worker)
        stop(server)
