"""Reading ``metrics/``: JSON files with clear errors, and the lineage of every number.

Only files under ``metrics/`` are read (each carries or sits beside its lineage), so the report
is a pure function of what DVC tracks as metrics. Each number cites a lineage entry (``L1``,
``L2`` ...): the params hash, circuit hash, data hash and commit of the run that made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import read_json
from ..stage import InputError
from ..stats import format_summary, summarize
from .model import Lineage

NA = "n/a"


def load_json(path: Path, stage: str) -> Any:
    """metrics/ JSON (see :func:`quantum_llm.io.read_json`)."""
    return read_json(path, stage)


def need(d: dict, key: str, where: Path) -> Any:
    if key not in d:
        raise InputError(f"{where} has no '{key}': it was written by an older version; re-run its stage")
    return d[key]


def summary(values: Sequence[float], digits: int = 2, unit: str = "") -> str:
    """'m ± s (n = k)' of per-seed values; n = 1 as 'm (n = 1)'."""
    return format_summary(summarize(values), digits, unit)


class LineageBook:
    """Collects lineage records; identical (params, circuit, data, commit) share one ref."""

    def __init__(self) -> None:
        self.entries: list[Lineage] = []

    def add(self, source: str, rec: dict[str, Any]) -> str:
        key = (rec.get("params_hash"), rec.get("circuit_hash"), rec.get("data_hash"), rec.get("commit"))
        for e in self.entries:
            if (e.params_hash, e.circuit_hash, e.data_hash, e.commit) == key:
                if source not in e.sources:
                    e.sources.append(source)
                return e.ref
        ref = f"L{len(self.entries) + 1}"
        self.entries.append(Lineage(ref, [source], *key, rec.get("dirty"), rec.get("dirty_deps")))
        return ref


def lineage_record(manifest: dict[str, Any], circuit: str | None = None) -> dict[str, Any]:
    """params hash, circuit hash, data hash and commit from a manifest (or a ``lineage`` block).

    ``circuit``: the name in ``circuit_hashes`` to cite; ``None`` = the method has no circuit.
    The data hash is the one recorded as ``data_hash``, else the hash of the data input(s).
    """
    git = manifest.get("git") or {}
    circuit_hash: str | None = NA
    if circuit is not None:
        hashes = manifest.get("circuit_hashes") or {}
        circuit_hash = hashes.get(circuit) or manifest.get("circuit_hash")
    data_hash = manifest.get("data_hash")
    if data_hash is None:
        inputs = manifest.get("inputs") or {}
        items = inputs.items() if isinstance(inputs, dict) else ((i["path"], i["sha256"]) for i in inputs)
        data = sorted(h for p, h in items if p.startswith("data/"))
        data_hash = ",".join(data) or None
    return {
        "params_hash": manifest.get("params_hash"),
        "circuit_hash": circuit_hash,
        "data_hash": data_hash,
        "commit": manifest.get("commit", git.get("commit")),
        "dirty": manifest.get("dirty", git.get("dirty")),
        "dirty_deps": git.get("dirty_deps"),
    }


def circuits(lin: dict) -> str | None:
    """Every circuit hash of a lineage block, 'name: hash, ...'."""
    hashes = lin.get("circuit_hashes") or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(hashes.items())) or lin.get("circuit_hash")
