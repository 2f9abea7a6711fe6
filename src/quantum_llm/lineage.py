"""Lineage: what each artifact records about its origin, and the chain back to params,
inputs and commit.

Every artifact folder carries ``manifest.json`` (see :func:`write_manifest`):
stage name, the params it used and their hash, sha256 of every input, git commit and dirty
flag, library versions, and extras such as a circuit hash. :func:`trace` combines the
manifest with ``dvc.lock`` (DVC's own record of what ran with which deps and params) and
follows each dependency that is itself a stage output, back to the raw data.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from .io import canonical_json, sha256_path, write_json

MANIFEST = "manifest.json"
_VERSIONED = (
    "quantum-llm", "torch", "transformers", "peft", "datasets", "pyarrow", "sentence-transformers",
    "cirq-core", "qsimcirq", "dvc", "prefect", "numpy", "scikit-learn",
)
# what a metrics file's ``lineage`` block copies from its stage's manifest (see lineage_block); not
# ``created``, a wall-clock time: a rerun with the same results must leave git-tracked metrics unchanged
LINEAGE_KEYS = ("params_hash", "git")


def params_hash(params: Any) -> str:
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


def git_state(cwd: str | Path = ".") -> dict[str, Any]:
    """Commit and dirty flag of the repository; dirty ignores untracked files (stage outputs)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def build_manifest(stage: str, params: dict[str, Any], inputs: list[str | Path],
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "stage": stage,
        "params": params,
        "params_hash": params_hash(params),
        "inputs": {Path(p).as_posix(): sha256_path(p) for p in inputs},
        "git": git_state(),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }


def lineage_block(manifest: dict[str, Any], /, *, keys: tuple[str, ...] = LINEAGE_KEYS,
                  **extra: Any) -> dict[str, Any]:
    """The ``lineage`` block a stage puts in its metrics JSON: ``keys`` taken from ``manifest``
    (params_hash, git commit/dirty), plus ``extra`` (a circuit hash, data hash, inputs...)."""
    return {**{k: manifest[k] for k in keys}, **extra}


def write_manifest(folder: str | Path, stage: str, params: dict[str, Any], inputs: list[str | Path],
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest = build_manifest(stage, params, inputs, extra)
    write_json(Path(folder) / MANIFEST, manifest)
    return manifest


def find_manifest(path: str | Path) -> Path | None:
    """The manifest of the artifact folder that holds ``path`` (the folder itself or a parent)."""
    path = Path(path).resolve()
    for folder in [path, *path.parents] if path.is_dir() else list(path.parents):
        if (folder / MANIFEST).is_file():
            return folder / MANIFEST
    return None


# ---------------------------------------------------------------- trace
@dataclass
class Link:
    path: str
    stage: str | None
    cmd: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    deps: dict[str, str] = field(default_factory=dict)   # path -> DVC md5
    manifest: dict[str, Any] | None = None
    parents: list[Link] = field(default_factory=list)


def _lock_outputs(lock: dict[str, Any]) -> dict[str, str]:
    """Map every output path in dvc.lock to the stage that produced it."""
    return {o["path"]: name for name, st in lock.get("stages", {}).items() for o in st.get("outs", [])}


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data.lm": {"max_lines": 0}} -> {"data.lm.max_lines": 0}: one line per param in a trace."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(flatten(v, f"{key}.") if isinstance(v, dict) and v else {key: v})
    return out


def _owner(path: str, outs: dict[str, str]) -> tuple[str | None, str | None]:
    p = Path(path)
    for out, stage in outs.items():
        if p == Path(out) or Path(out) in p.parents:
            return out, stage
    return None, None


def trace(path: str | Path, root: str | Path = ".") -> Link:
    root = Path(root).resolve()
    lock_file = root / "dvc.lock"
    lock = yaml.safe_load(lock_file.read_text()) if lock_file.is_file() else {}
    outs = _lock_outputs(lock)
    seen: set[str] = set()

    def visit(rel: str) -> Link:
        out, stage = _owner(rel, outs)
        if stage is None:
            return Link(path=rel, stage=None)
        if out in seen:  # a shared dependency: its chain is printed once, where it first appears
            return Link(path=out, stage=stage, cmd=None)
        seen.add(out)
        st = lock["stages"][stage]
        mf_path = find_manifest(root / out)
        manifest = yaml.safe_load(mf_path.read_text()) if mf_path else None  # JSON is YAML
        flat_params = flatten({k: v for f in st.get("params", {}).values() for k, v in f.items()})
        link = Link(path=out, stage=stage, cmd=st.get("cmd"), params=flat_params,
                    deps={d["path"]: d.get("md5", "") for d in st.get("deps", [])}, manifest=manifest)
        link.parents = [visit(d) for d in link.deps if _owner(d, outs)[1] is not None]
        return link

    rel = Path(path).resolve().relative_to(root).as_posix() if Path(path).is_absolute() else Path(path).as_posix()
    return visit(rel)


def format_trace(link: Link, indent: int = 0) -> str:
    pad = "  " * indent
    if link.stage is None:
        return f"{pad}{link.path}  (not a stage output in dvc.lock)"
    if link.cmd is None:
        return f"{pad}{link.path}  <- stage {link.stage!r} (see above)"
    lines = [f"{pad}{link.path}  <- stage {link.stage!r}: {link.cmd}"]
    m = link.manifest
    if m:
        g = m.get("git", {})
        commit = (g.get("commit") or "no git")[:12] + (" (dirty)" if g.get("dirty") else "")
        lines.append(f"{pad}  commit {commit}  params_hash {m.get('params_hash', '')[:12]}  created {m.get('created')}")
        for key in ("circuit_hash", "source"):
            if key in m:
                lines.append(f"{pad}  {key}: {m[key]}")
    else:
        lines.append(f"{pad}  (no {MANIFEST} in the artifact folder)")
    for k, v in sorted(link.params.items()):
        lines.append(f"{pad}  param {k} = {v!r}")
    for d, md5 in link.deps.items():
        lines.append(f"{pad}  dep {d}  md5 {md5[:12]}")
    for parent in link.parents:
        lines.append(format_trace(parent, indent + 1))
    return "\n".join(lines)
