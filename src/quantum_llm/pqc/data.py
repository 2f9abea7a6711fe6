"""SST-2 embedding splits as arrays, and their amplitude encoding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_parquet, sha256_path
from ..stage import InputError

SPLITS = ("train", "validation", "test")
# the same numbers as quantum.circuits (not imported: that package loads torch and cirq)
EMBEDDING_DIM = 384
ENCODER_QUBITS = 9     # 384 -> 512 = 2**9 amplitudes


@dataclass(frozen=True)
class Split:
    """Frozen sentence embeddings ``x`` (n, 384) float32 and labels ``y`` (n,) int64 in {0, 1}."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def load_split(folder: str | Path, split: str) -> Split:
    """One split of the prepare_sst2 output (``<split>.parquet``: embedding, label)."""
    path = Path(folder) / f"{split}.parquet"
    if not path.is_file():
        raise InputError(f"{path} not found (run `dvc repro prepare_sst2`)")
    table = read_parquet(path, ["embedding", "label"], stage="prepare_sst2")
    x = np.array(table.column("embedding").combine_chunks().flatten(), dtype=np.float32)  # a writable copy
    x = x.reshape(table.num_rows, -1)
    if x.shape[1] != EMBEDDING_DIM:
        raise InputError(f"{path}: embeddings have {x.shape[1]} dimensions, the PQC head expects {EMBEDDING_DIM}")
    y = table.column("label").to_numpy().astype(np.int64)
    if not set(np.unique(y)) <= {0, 1}:
        raise InputError(f"{path}: labels must be 0/1, found {sorted(set(np.unique(y)))}")
    return Split(x, y)


def load_splits(folder: str | Path) -> dict[str, Split]:
    return {s: load_split(folder, s) for s in SPLITS}


def data_hash(folder: str | Path) -> str:
    """sha256 over the three split files (the data identity recorded in lineage)."""
    import hashlib
    h = hashlib.sha256()
    for s in SPLITS:
        h.update(f"{s}\0{sha256_path(Path(folder) / f'{s}.parquet')}\n".encode())
    return h.hexdigest()


def amplitude_states(x: np.ndarray) -> np.ndarray:
    """(n, 384) embeddings -> (n, 512) float64 unit vectors: L2-normalised, zero-padded to 2**9."""
    n, d = x.shape
    out = np.zeros((n, 2**ENCODER_QUBITS), dtype=np.float64)
    out[:, :d] = x
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise InputError("an embedding is all zeros and cannot be amplitude-encoded")
    return out / norms
