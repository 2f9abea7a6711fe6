"""Lineage: what each artifact records about its origin, and the chain back to params,
inputs and commit.

Every artifact folder carries ``manifest.json`` (see :func:`write_manifest`):
stage name, the params it used and their hash, sha256 of every input, git commit and dirty
flag, library versions, the device torch ran on, and extras such as a circuit hash. :func:`trace` combines the
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


def _git(cwd: str | Path, *args: str) -> str:
    """stdout of a git command, unstripped (``status --porcelain`` lines start with a space)."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def _dotted(d: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return _MISSING
        d = d[part]
    return d


_MISSING = object()


def stage_deps(stage: str, root: str | Path = ".") -> tuple[list[str], dict[str, list[str]]] | None:
    """The code deps and params a stage declares in ``root/dvc.yaml``: (paths, {params file: keys}).

    ``stage`` may carry a matrix item (``train_qisa@csa-0``: the declaration is shared). Deps that
    are outputs of a stage (metrics, models, data) and templated paths are left out: they are
    data, pinned by their hashes, not code. None when dvc.yaml has no such stage.
    """
    f = Path(root) / "dvc.yaml"
    if not f.is_file():
        return None
    stages = (yaml.safe_load(f.read_text()) or {}).get("stages") or {}
    st = stages.get(stage.split("@", 1)[0])
    if st is None:
        return None
    outputs = _declared_outputs(stages)
    code = [d for d in (st.get("deps") or []) if "${" not in d and not _under_any(d, outputs)]
    params: dict[str, list[str]] = {}
    for p in st.get("params") or []:
        if isinstance(p, str):
            params.setdefault("params.yaml", []).append(p)
        else:
            for file, keys in p.items():
                params.setdefault(file, []).extend(keys or [])
    return code, params


def _declared_outputs(stages: dict[str, Any]) -> list[str]:
    """Every outs/metrics/plots path of every stage; a templated one as its prefix up to the
    first ``${`` followed by ``*`` (``models/qisa/${item.variant}-${item.seed}`` -> ``models/qisa/*``)."""
    out = []
    for st in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for o in st.get(kind) or []:
                path = o if isinstance(o, str) else next(iter(o))
                out.append(path.split("${", 1)[0] + "*" if "${" in path else path.rstrip("/"))
    return out


def _under_any(path: str, outputs: list[str]) -> bool:
    """Whether ``path`` is one of ``outputs``, inside one, or a folder holding one (see
    :func:`_declared_outputs`)."""
    path = path.rstrip("/")
    return any((path.startswith(o[:-1]) if o.endswith("*") else path == o or path.startswith(o + "/"))
               or o.startswith(path + "/") for o in outputs)


def _changed_params(root: Path, params: dict[str, list[str]]) -> list[str]:
    """'file:key' for every declared param whose value differs from the committed file."""
    changed = []
    for file, keys in params.items():
        now = yaml.safe_load((root / file).read_text()) if (root / file).is_file() else {}
        try:
            head = yaml.safe_load(_git(root, "show", f"HEAD:{file}")) or {}
        except subprocess.CalledProcessError:
            head = {}
        changed += [f"{file}:{k}" for k in keys if _dotted(now, k) != _dotted(head, k)]
    return changed


def _changed_paths(root: Path, paths: list[str] | None) -> list[str]:
    """Tracked (and, under declared paths, untracked) files that differ from HEAD."""
    args = ["status", "--porcelain"]
    args += ["--untracked-files=all", "--", *paths] if paths is not None else ["--untracked-files=no"]
    if paths == []:
        return []
    lines = _git(root, *args).splitlines()
    return sorted(line[3:].split(" -> ")[-1] for line in lines if line.strip())


def git_state(cwd: str | Path = ".", stage: str | None = None) -> dict[str, Any]:
    """Commit, dirty flag and what is dirty, for the code that ``stage`` ran.

    Dirty means: one of the stage's declared code deps (``dvc.yaml`` ``deps:`` that are not
    stage outputs) differs from the commit, or one of its declared params differs from the
    committed ``params.yaml``. Its own outputs, other stages' outputs (metrics/, reports/) and
    ``dvc.lock`` never count. Without a stage (or one dvc.yaml does not declare), every tracked
    file except stage outputs and dvc.lock counts.
    """
    try:
        root = Path(_git(cwd, "rev-parse", "--show-toplevel").strip())
        commit = _git(root, "rev-parse", "HEAD").strip()
        declared = stage_deps(stage, root) if stage else None
        if declared is not None:
            code, params = declared
            changed = _changed_paths(root, code) + _changed_params(root, params)
            scope = f"declared deps and params of stage {stage.split('@', 1)[0]!r} in dvc.yaml"
        else:
            stages = (yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages", {}) \
                if (root / "dvc.yaml").is_file() else {}
            outputs = _declared_outputs(stages) + ["dvc.lock"]
            changed = [p for p in _changed_paths(root, None) if not _under_any(p, outputs)]
            scope = "every tracked file except stage outputs and dvc.lock"
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(changed), "dirty_deps": changed, "scope": scope}


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
    """The manifest of one stage run; ``device`` records where torch ran (QUANTUM_LLM_DEVICE,
    kept out of the params and their hash: see :mod:`quantum_llm.device`)."""
    from .device import device_record  # imports torch: only when a manifest is built

    return {
        "stage": stage,
        "params": params,
        "params_hash": params_hash(params),
        "inputs": {Path(p).as_posix(): sha256_path(p) for p in inputs},
        "git": git_state(stage=stage),
        "versions": library_versions(),
        "device": device_record(),
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


def _commit_text(g: dict[str, Any]) -> str:
    """'abc123 (clean: ...)' / 'abc123 (dirty: a.py, params.yaml:k)'; older manifests carry only the flag."""
    text = (g.get("commit") or "no git")[:12]
    if g.get("dirty") is None:
        return text
    if "dirty_deps" not in g:
        return text + (" (dirty: whole working tree, recorded before per-stage lineage)" if g["dirty"] else " (clean)")
    if g["dirty"]:
        return text + " (dirty: " + ", ".join(g["dirty_deps"]) + ")"
    return text + f" (clean: {g.get('scope', 'declared deps')} match the commit)"


def format_trace(link: Link, indent: int = 0) -> str:
    pad = "  " * indent
    if link.stage is None:
        return f"{pad}{link.path}  (not a stage output in dvc.lock)"
    if link.cmd is None:
        return f"{pad}{link.path}  <- stage {link.stage!r} (see above)"
    lines = [f"{pad}{link.path}  <- stage {link.stage!r}: {link.cmd}"]
    m = link.manifest
    if m:
        commit = _commit_text(m.get("git") or {})
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
