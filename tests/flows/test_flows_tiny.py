"""The flows under Prefect's test harness, on the tiny profile of the real pipeline."""

from __future__ import annotations

import json

import pytest
import yaml

from flows import pipeline as pipeline_module
from flows.dvc_cli import DvcCommandError, metrics_rows, run_dvc_json, stage_order
from flows.pipeline import pipeline
from flows.sweep import sweep

from ..conftest import set_params
from .conftest import artifact, task_runs_of

pytestmark = pytest.mark.integration
CHEAP = ["prepare_lm", "prepare_chars", "base_model"]  # no sentence encoder, no training


def repro_runs(flow_run_id) -> dict[str, int]:
    return {tr["name"]: tr["run_count"] for tr in task_runs_of(flow_run_id) if tr["name"].startswith("repro-")}


def test_pipeline_runs_stages_in_dvc_order_records_them_in_dvc_lock_and_is_idempotent(prefect_harness, tiny_repo):
    state = pipeline(repo=str(tiny_repo), stages=CHEAP, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    order = [s for s in stage_order(tiny_repo) if s in CHEAP]
    assert order.index("base_model") < order.index("prepare_lm")
    assert list(result["stages"]) == order and set(result["stages"].values()) == {"ran"}
    # one task per stage, each ran once
    assert repro_runs(state.state_details.flow_run_id) == {f"repro-{s}": 1 for s in CHEAP}

    # DVC is the record of what ran
    lock = yaml.safe_load((tiny_repo / "dvc.lock").read_text())["stages"]
    assert set(CHEAP) <= set(lock)
    assert lock["prepare_lm"]["deps"] and any(d["path"] == "models/base" for d in lock["prepare_lm"]["deps"])
    status = run_dvc_json(["status", "--json", *CHEAP], tiny_repo)
    assert status == {}, status

    # the metrics table artifact holds exactly what DVC reports for the workspace (an empty
    # table that says so while no declared metrics file exists)
    rows, missing = metrics_rows(run_dvc_json(["metrics", "show", "--json"], tiny_repo))
    table = artifact("dvc-metrics")
    assert table is not None and table["type"] == "table" and json.loads(table["data"]) == rows
    assert ("No metrics yet" in table["description"]) == (not rows)
    assert all(path in table["description"] for path in missing)

    # a second run does nothing
    again = pipeline(repo=str(tiny_repo), stages=CHEAP)
    assert again["stages"] == {s: "unchanged" for s in order}


def test_a_params_error_fails_the_stage_once_without_retry(prefect_harness, tiny_repo):
    set_params(tiny_repo / "params.yaml", {"data.chars.train": 1.5})
    state = pipeline(repo=str(tiny_repo), stages=["prepare_chars"], return_state=True)
    assert state.is_failed()
    with pytest.raises(DvcCommandError) as err:
        state.result()
    assert not err.value.transient and "data.chars.train = 1.5 is invalid" in err.value.tail
    assert repro_runs(state.state_details.flow_run_id) == {"repro-prepare_chars": 1}
    assert not (tiny_repo / "data/prepared/chars").exists()


def test_a_transient_failure_is_retried(prefect_harness, tiny_repo, monkeypatch):
    calls = []

    def flaky_run_dvc(args, root, logger=None, **kw):
        calls.append(args)
        if len(calls) == 1:
            raise DvcCommandError(args, 255, "ERROR: Unable to acquire lock. Most likely another DVC process is "
                                  "running or was terminated abruptly.", transient=True)
        return f"Running stage '{args[-1]}':\n"

    monkeypatch.setattr(pipeline_module, "run_dvc", flaky_run_dvc)
    monkeypatch.setattr(pipeline_module, "repro_stage",
                        pipeline_module.repro_stage.with_options(retry_delay_seconds=0))
    state = pipeline(repo=str(tiny_repo), stages=["prepare_chars"], return_state=True)
    assert state.is_completed(), state.message
    assert len(calls) == 2 and repro_runs(state.state_details.flow_run_id) == {"repro-prepare_chars": 2}


def test_sweep_queues_runs_and_compares_experiments(prefect_harness, tiny_repo):
    rows = sweep(key="seed", values=[1, 2], jobs=2, stages=["prepare_chars"], repo=str(tiny_repo))
    assert [(r["seed"], r["state"]) for r in rows] == [(1, "success"), (2, "success")]
    assert all(r["experiment"].startswith("seed-") for r in rows)

    # DVC holds the experiments; the queue is empty
    shown = run_dvc_json(["exp", "show", "--json"], tiny_repo)
    names = {e["name"] for b in shown for e in (b.get("experiments") or [])}
    assert {r["experiment"] for r in rows} <= names
    table = artifact("sweep-seed")
    assert table is not None and [r["seed"] for r in json.loads(table["data"])] == [1, 2]
    # a plot exactly when the experiments carry numeric metrics (the committed metrics files do)
    from flows.sweep import numeric_columns

    metrics = numeric_columns(rows, {"experiment", "state", "rev", "seed"})
    plots = list((tiny_repo / ".prefect" / "sweeps").glob("*.png"))
    if metrics:
        assert artifact("sweep-seed-plot") is not None and len(plots) == 1 and plots[0].stat().st_size > 1000
    else:
        assert "No numeric metrics" in table["description"] and not plots
