"""A Prefect cluster on this machine, for the fan-out test and benchmark: a real ``prefect server
start`` on 127.0.0.1, the ``quantum-llm`` process work pool, one deployment of prefect.yaml, and N
process workers, each in its own working and temporary directories standing for a separate
machine, cloning a given git repository and using a given DVC remote.

It only starts Prefect's own commands (``prefect server start``, ``prefect deploy``, ``prefect
worker start``) and stops them, with everything they started, on exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

HOST = "127.0.0.1"
POOL = "quantum-llm"
SERVER_START_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def api(url: str, path: str, body: dict | None = None, timeout: float = 10):
    """GET (or POST ``body`` as JSON) ``url + path`` of a Prefect API; the decoded JSON answer."""
    req = urllib.request.Request(f"{url}{path}", method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as res:
        return json.loads(res.read() or b"null")


def start(cmd: list[str], cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    """Start ``cmd`` with its output in ``log``, in its own session, for :func:`stop`."""
    with log.open("w") as out:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def process_groups(pid: int) -> set[int]:
    """The process groups of ``pid`` and of all its descendants (a process worker starts each
    flow run in a session of its own, which signalling the worker's group would miss)."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid=,pgid="], capture_output=True, text=True).stdout.split()
    rows = [tuple(map(int, table[i:i + 3])) for i in range(0, len(table) - 2, 3)]
    children: dict[int, list[int]] = {}
    for p, pp, _ in rows:
        children.setdefault(pp, []).append(p)
    pgid = {p: g for p, _, g in rows}
    found, todo = {pid}, [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return {pgid[p] for p in found if p in pgid} | {pid}


def signal_groups(groups: set[int], sig: int) -> set[int]:
    """Send ``sig`` to each process group; the groups that still existed."""
    alive = set()
    for g in groups:
        try:
            os.killpg(g, sig)
            alive.add(g)
        except ProcessLookupError:
            pass
    return alive


def stop(proc: subprocess.Popen | None) -> None:
    """Stop ``proc`` and everything it started: SIGTERM to its process group and its
    descendants' groups, SIGKILL to those still alive after 20 s."""
    if proc is None:
        return
    # a process that already exited still leaves its own group (it was a session leader), where
    # what it started may live on; its descendants in other sessions are found only while it runs
    groups = process_groups(proc.pid) if proc.poll() is None else {proc.pid}
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        groups = signal_groups(groups, sig)
        deadline = time.monotonic() + wait
        while groups and time.monotonic() < deadline:
            time.sleep(0.5)
            proc.poll()  # reap our own child, so that its group can empty
            groups = signal_groups(groups, 0)
        if not groups:
            return


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no log)"


def cluster_env(home: Path, port: int, repo_url: Path | str, remote: Path | str) -> dict[str, str]:
    """The environment of the server, the workers and the coordinator: this interpreter first on
    PATH, a private PREFECT_HOME, the API on 127.0.0.1:``port``, no telemetry, workers polling
    every second, and what the pull steps of prefect.yaml read (the git repository to clone, the
    DVC remote; no shared DVC cache, so each run starts with an empty one)."""
    url = f"http://{HOST}:{port}/api"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PREFECT_HOME": str(home), "PREFECT_API_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": HOST, "PREFECT_SERVER_API_PORT": str(port), "PREFECT_WORKER_QUERY_SECONDS": "1",
           "QUANTUM_LLM_REPO_URL": str(repo_url), "QUANTUM_LLM_DVC_REMOTE": str(remote)}
    for key in ("PREFECT_PROFILES_PATH", "QUANTUM_LLM_DVC_CACHE"):
        env.pop(key, None)
    return env


def wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    t0 = time.monotonic()
    while True:
        if server.poll() is not None or time.monotonic() - t0 > SERVER_START_S:
            raise RuntimeError(f"the Prefect server did not come up within {SERVER_START_S} s:\n{tail(log)}")
        try:
            if api(url, "/health", timeout=2) is True:
                return
        except OSError:
            pass
        time.sleep(1)


def deploy(workdir: Path, checkout: Path, deployment: str, env: dict) -> None:
    """Create the process work pool and ``deployment`` of ``checkout``'s prefect.yaml (only it)."""
    spec = yaml.safe_load((checkout / "prefect.yaml").read_text())
    spec["deployments"] = [d for d in spec["deployments"] if d["name"] == deployment]
    prefect_file = workdir / f"prefect-{deployment}.yaml"
    prefect_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    subprocess.run([sys.executable, "-m", "prefect", "work-pool", "create", POOL, "--type", "process"],
                   cwd=workdir, env=env, check=True, capture_output=True)
    res = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--prefect-file",
                          str(prefect_file), "--name", deployment], cwd=checkout, env=env, capture_output=True, text=True)
    # (Prefect 3.8.8 may exit 1 after creating it, so its message decides)
    if "successfully created" not in res.stdout:
        raise RuntimeError(f"`prefect deploy --name {deployment}` failed:\n{res.stdout[-3000:]}{res.stderr[-3000:]}")


@contextmanager
def prefect_cluster(workdir: Path, checkout: Path, repo_url: Path | str, remote: Path | str, deployment: str,
                    workers_n: int) -> Iterator[tuple[dict[str, str], list[Path], list[Path]]]:
    """A Prefect server with ``deployment`` of ``checkout``'s prefect.yaml and ``workers_n``
    workers (``--limit 1`` each), everything under ``workdir``: the server's PREFECT_HOME, and
    per worker ``workdir/machine-<i>`` (its working directory, its TMPDIR where each flow run
    clones ``repo_url``, its log). Yields ``(env, machines, logs)`` (``env`` reaches the server:
    use it for the coordinator; ``logs[0]`` is the server's); stops everything on exit,
    Ctrl-C included."""
    port = free_port()
    env = cluster_env(workdir / "prefect-home", port, repo_url, remote)
    procs: list[subprocess.Popen] = []
    logs = [workdir / "server.log"]
    try:
        procs.append(start([sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
                           workdir, env, logs[0]))
        wait_healthy(env["PREFECT_API_URL"], procs[0], logs[0])
        deploy(workdir, checkout, deployment, env)
        machines = [workdir / f"machine-{i}" for i in range(workers_n)]
        for m in machines:
            (m / "tmp").mkdir(parents=True)
            logs.append(m / "worker.log")
            procs.append(start([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
                                "--limit", "1", "--name", m.name], m, {**env, "TMPDIR": str(m / "tmp")}, logs[-1]))
        yield env, machines, logs
    finally:
        for p in reversed(procs):
            stop(p)
