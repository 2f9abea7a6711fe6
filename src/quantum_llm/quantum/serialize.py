"""Circuit files and the canonical circuit hash.

The hash is sha256 of the circuit's Cirq JSON (``cirq.to_json``) re-dumped with sorted keys
and no whitespace, so it depends only on the gates, qubits and symbols -- not on memory
addresses, timestamps or the process -- and it is what lineage records for everything
trained or generated from that circuit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cirq

from ..io import atomic_file, canonical_json


def circuit_json(circuit: cirq.AbstractCircuit) -> str:
    """Cirq's own JSON of the circuit (readable back with ``cirq.read_json``)."""
    return cirq.to_json(circuit)


def canonical_circuit_json(circuit: cirq.AbstractCircuit) -> str:
    return canonical_json(json.loads(circuit_json(circuit)))


def circuit_hash(circuit: cirq.AbstractCircuit) -> str:
    """sha256 hex digest of the canonical JSON; equal circuits give equal hashes in any process."""
    return hashlib.sha256(canonical_circuit_json(circuit).encode()).hexdigest()


def write_circuit(folder: str | Path, name: str, circuit: cirq.AbstractCircuit) -> str:
    """Write ``<name>.json`` (Cirq JSON) and ``<name>.txt`` (text diagram); return the hash."""
    folder = Path(folder)
    with atomic_file(folder / f"{name}.json") as fh:
        fh.write(circuit_json(circuit) + "\n")
    with atomic_file(folder / f"{name}.txt") as fh:
        fh.write(circuit.to_text_diagram(transpose=False) + "\n")
    return circuit_hash(circuit)


def read_circuit(path: str | Path) -> cirq.Circuit:
    return cirq.read_json(Path(path))
