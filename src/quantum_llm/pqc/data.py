"""SST-2 embedding splits as arrays, and their amplitude encoding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_parquet, sha256_path
from ..stage import InputError

SPLITS = ("train", "validation", "test")


def amplitude_qubits(dim: int) -> int:
    """ceil(log2 dim): qubits whose 2**n amplitudes hold a dim-dimensional embedding (384 -> 9, 768 -> 10);
    the same rule as quantum.circuits.encoder_qubits (not imported: that package loads torch and cirq)."""
    return max(1, (dim - 1).bit_length())


@dataclass(frozen=True)
class Split:
    """Frozen sentence embeddings ``x`` (n, d) float32 (d = 384 for MiniLM, 768 for mpnet) and labels ``y`` (n,) int64 in {0, 1}."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def split_path(folder: str | Path, split: str, seed: int | None = None) -> Path:
    """``test.parquet``, or ``seed-<s>/{train,validation}.parquet`` of data seed ``seed``."""
    if split == "test":
        return Path(folder) / "test.parquet"
    if seed is None:
        raise ValueError(f"the {split} split depends on the data seed: pass seed")
    return Path(folder) / f"seed-{seed}" / f"{split}.parquet"


def data_seeds(folder: str | Path) -> list[int]:
    """The data seeds prepare_sst2 wrote (meta.json)."""
    import json
    path = Path(folder) / "meta.json"
    if not path.is_file():
        raise InputError(f"{path} not found (run `dvc repro prepare_sst2`)")
    return [int(s) for s in json.loads(path.read_text())["data_seeds"]]


def check_seeds(folder: str | Path, seeds: list[int], what: str) -> None:
    have = data_seeds(folder)
    missing = [s for s in seeds if s not in have]
    if missing:
        raise InputError(f"{what} {missing} not in the prepared data seeds {have}: add them to data.sst2.seeds")


def load_split(folder: str | Path, split: str, seed: int | None = None) -> Split:
    """One split of the prepare_sst2 output (embedding, label); train/validation of data seed ``seed``."""
    path = split_path(folder, split, seed)
    if not path.is_file():
        raise InputError(f"{path} not found (run `dvc repro prepare_sst2`)")
    table = read_parquet(path, ["embedding", "label"], stage="prepare_sst2")
    x = np.array(table.column("embedding").combine_chunks().flatten(), dtype=np.float32)  # a writable copy
    x = x.reshape(table.num_rows, -1)
    if x.shape[1] < 2:
        raise InputError(f"{path}: embeddings have {x.shape[1]} dimensions, the PQC head needs at least 2 "
                         "(rerun `dvc repro prepare_sst2`)")
    y = table.column("label").to_numpy().astype(np.int64)
    if not set(np.unique(y)) <= {0, 1}:
        raise InputError(f"{path}: labels must be 0/1, found {sorted(set(np.unique(y)))}")
    return Split(x, y)


def load_splits(folder: str | Path, seed: int) -> dict[str, Split]:
    """train / validation of data seed ``seed`` and the shared test split."""
    return {s: load_split(folder, s, seed) for s in SPLITS}


def data_hash(folder: str | Path) -> str:
    """sha256 over every split file of every data seed (the data identity recorded in lineage)."""
    import hashlib
    h = hashlib.sha256()
    for seed in data_seeds(folder):
        for s in ("train", "validation"):
            h.update(f"{seed}/{s}\0{sha256_path(split_path(folder, s, seed))}\n".encode())
    h.update(f"test\0{sha256_path(split_path(folder, 'test'))}\n".encode())
    return h.hexdigest()


def amplitude_states(x: np.ndarray) -> np.ndarray:
    """(n, d) embeddings -> (n, 2**q) float64 unit vectors, q = ceil(log2 d): L2-normalised, zero-padded
    (384 -> 512 on 9 qubits, 768 -> 1024 on 10)."""
    n, d = x.shape
    out = np.zeros((n, 2**amplitude_qubits(d)), dtype=np.float64)
    out[:, :d] = x
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise InputError("an embedding is all zeros and cannot be amplitude-encoded")
    return out / norms


def pca_reduction(x_train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (d,), components (d, k), scale (k,)): z = (x - mean) @ components / scale, |z| <= 1 on train."""
    mean = x_train.mean(0)
    _u, _s, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    comps = vt[:k].T
    proj = (x_train - mean) @ comps
    scale = np.abs(proj).max(0)
    return mean, comps, np.where(scale > 0, scale, 1.0)


def pca_splits(splits: dict[str, Split], k: int) -> dict[str, Split]:
    """The pca_front head's k inputs (fitted on the training split, clipped to [-1, 1]) for every split."""
    mean, comps, scale = pca_reduction(np.asarray(splits["train"].x, np.float64), k)
    return {n: Split(np.clip((s.x.astype(np.float64) - mean) @ comps / scale, -1, 1), s.y) for n, s in splits.items()}
