"""Offline-safe Prefect defaults, applied before Prefect is imported.

A plain ``python -m flows.pipeline`` on a fresh machine must work with no Prefect server, no
network and nothing written outside the checkout. So, unless the caller chose otherwise:

- ``PREFECT_HOME`` is ``<repo>/.prefect`` (git- and DVC-ignored) when neither ``PREFECT_HOME``
  nor ``PREFECT_API_URL`` is set; the API URL stays unset, so Prefect starts its ephemeral
  server (a local SQLite database under ``PREFECT_HOME``).
- telemetry is off: server analytics, client analytics (``DO_NOT_TRACK``) and Prefect Cloud's
  orchestration telemetry.

Explicit environment variables always win (``os.environ.setdefault``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout these flows belong to (flows/ sits at the repository root).
REPO_ROOT = Path(__file__).resolve().parents[1]

TELEMETRY_OFF = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


def apply_offline_defaults(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set the offline defaults in ``environ`` (``os.environ`` by default); return what was set."""
    env = os.environ if environ is None else environ
    changed: dict[str, str] = {}
    wanted = dict(TELEMETRY_OFF)
    if not env.get("PREFECT_HOME") and not env.get("PREFECT_API_URL"):
        wanted["PREFECT_HOME"] = str(REPO_ROOT / ".prefect")
    # The ephemeral server needs a few seconds more than the default on a loaded 2-core machine.
    wanted["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    for key, value in wanted.items():
        if key not in env:
            env[key] = value
            changed[key] = value
    return changed
