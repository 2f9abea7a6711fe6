"""Fixtures of the flow tests: a private PREFECT_HOME (set before Prefect is imported, so
nothing is written to ~/.prefect) and one Prefect test harness (a temporary SQLite-backed
server) shared by the tests that run flows."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

if not os.environ.get("PREFECT_HOME"):
    _home = tempfile.mkdtemp(prefix="qllm-prefect-home-")
    os.environ["PREFECT_HOME"] = _home
    atexit.register(shutil.rmtree, _home, True)
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def api_post(path: str, body: dict):
    """POST to the current Prefect API (the harness's) and return the JSON answer."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    res = httpx.post(f"{PREFECT_API_URL.value()}{path}", json=body, timeout=30)
    res.raise_for_status()
    return res.json()


def task_runs_of(flow_run_id) -> list[dict]:
    """Task runs of one flow run, from the harness's API."""
    return api_post("/task_runs/filter", {"flow_runs": {"id": {"any_": [str(flow_run_id)]}},
                                          "sort": "EXPECTED_START_TIME_ASC", "limit": 200, "offset": 0})


def artifact(key: str) -> dict | None:
    """The latest artifact with this key, from the harness's API."""
    found = api_post("/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC",
                                           "limit": 1, "offset": 0})
    return found[0] if found else None
