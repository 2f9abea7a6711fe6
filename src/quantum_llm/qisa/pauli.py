"""Pauli strings for QISA's quantum-inspired values, and their quadratic forms without matrices.

A Pauli string on n qubits is stored as ``(x_mask, z_mask, n_y)``: bit q of ``x_mask`` is set
where the string has X or Y on qubit q, bit q of ``z_mask`` where it has Z or Y. Qubit 0 is
the most significant bit of a basis index, the order of ``kron(P_0, P_1, ..., P_{n-1})``.

For a real vector u of length 2**n, P acts as a signed, phased permutation:

    (P u)_j = i**n_y * (-1)**popcount(k & z_mask) * u[k],   k = j XOR x_mask

(X|b> = |1-b>, Z|b> = (-1)**b |b>, Y|b> = i (-1)**b |1-b>). Hence

    Re(u^T P u) = Re(i**n_y) * sum_j u_j * (-1)**popcount((j ^ x_mask) & z_mask) * u[j ^ x_mask],

and a string with an odd number of Y's gives 0 identically for real u (the sum is real,
times a purely imaginary phase). No 2**n x 2**n matrix is formed anywhere except in
:func:`dense_pauli_matrix`, the test oracle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

PAULI_CHARS = "IXYZ"
P_IDENTITY = 0.9  # probability of I per qubit (spec: I w.p. 0.9, else X, Y or Z uniformly)


def n_qubits_for(dim: int) -> int:
    """n = ceil(log2 d): the number of qubits whose state vector holds a d-vector."""
    if dim < 1:
        raise ValueError(f"dimension must be >= 1, got {dim}")
    return max(1, math.ceil(math.log2(dim)))


def sample_pauli_strings(count: int, n_qubits: int, rng: np.random.Generator) -> list[str]:
    """``count`` strings like "IIZX": each character I w.p. 0.9, else X/Y/Z uniformly; all-I rejected."""
    out: list[str] = []
    while len(out) < count:
        chars = ["I" if rng.random() < P_IDENTITY else "XYZ"[rng.integers(3)] for _ in range(n_qubits)]
        if any(c != "I" for c in chars):
            out.append("".join(chars))
    return out


@dataclass(frozen=True)
class PauliString:
    """One Pauli string in (x-mask, z-mask, number of Y's) form."""

    x_mask: int
    z_mask: int
    n_y: int
    n_qubits: int

    @classmethod
    def parse(cls, s: str) -> PauliString:
        if not s or any(c not in PAULI_CHARS for c in s):
            raise ValueError(f"not a Pauli string: {s!r} (characters I, X, Y, Z)")
        n = len(s)
        x = z = 0
        for q, c in enumerate(s):
            bit = 1 << (n - 1 - q)  # qubit 0 is the most significant bit
            if c in "XY":
                x |= bit
            if c in "ZY":
                z |= bit
        return cls(x, z, s.count("Y"), n)

    @property
    def real_phase(self) -> int:
        """Re(i**n_y): +1, 0 or -1. Zero means Re(u^T P u) = 0 for every real u."""
        return (1, 0, -1, 0)[self.n_y % 4]


def dense_pauli_matrix(s: str) -> torch.Tensor:
    """The 2**n x 2**n complex matrix kron(P_0, ..., P_{n-1}); the oracle for tests only."""
    mats = {
        "I": torch.eye(2, dtype=torch.complex128),
        "X": torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128),
        "Y": torch.tensor([[0, -1j], [1j, 0]], dtype=torch.complex128),
        "Z": torch.tensor([[1, 0], [0, -1]], dtype=torch.complex128),
    }
    out = torch.ones(1, 1, dtype=torch.complex128)
    for c in s:
        out = torch.kron(out, mats[c])
    return out


def _popcount_parity(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    parity = np.zeros_like(a)
    while a.any():
        parity ^= a & 1
        a >>= 1
    return parity


def index_sign_tables(strings: list[str], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather indices and real signs, both (h, dim), such that for real u of length ``dim``
    (implicitly zero-padded to 2**n): Re(u^T P_i u) = sum_j u[j] * sign[i, j] * u[idx[i, j]].

    Entries whose partner index j ^ x_mask falls in the zero padding (>= dim) get sign 0 and a
    harmless in-range index; odd-Y strings get an all-zero row.
    """
    j = np.arange(dim)
    idx = np.empty((len(strings), dim), dtype=np.int64)
    sign = np.empty((len(strings), dim), dtype=np.float32)
    for i, s in enumerate(strings):
        p = PauliString.parse(s)
        if 2 ** p.n_qubits < dim:
            raise ValueError(f"{s!r} has {p.n_qubits} qubits, too few for dimension {dim}")
        k = j ^ p.x_mask
        valid = k < dim
        idx[i] = np.where(valid, k, j)
        sgn = 1 - 2 * _popcount_parity(k & p.z_mask)
        sign[i] = np.where(valid, p.real_phase * sgn, 0)
    return torch.from_numpy(idx), torch.from_numpy(sign)


def pauli_forms_gather(u: torch.Tensor, idx: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """Reference fast form: v_i = sum_j u_j * sign_ij * u[idx_ij] for all strings at once.
    u: (..., dim) real; idx, sign: (h, dim); returns (..., h). Gather + multiply + sum."""
    h, dim = idx.shape
    partner = u[..., idx.reshape(-1)].reshape(*u.shape[:-1], h, dim)  # (..., h, dim)
    return (partner * sign * u.unsqueeze(-2)).sum(-1)  # (..., h)


def pauli_pair_table(strings: list[str], dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The forms as a sparse bilinear map over distinct index pairs (a <= b):

        Re(u^T P_i u) = sum_p table[p, i] * u[left[p]] * u[right[p]].

    Built from :func:`index_sign_tables` by adding sign[i, j] into the pair {j, j ^ x_mask};
    pairs whose coefficients are all zero (odd-Y strings, padding) are dropped. Returns
    left, right: (P,) and table: (P, h). P <= dim + (dim / 2) * (distinct non-zero x-masks).
    """
    idx, sign = index_sign_tables(strings, dim)
    coeff: dict[tuple[int, int], np.ndarray] = {}
    for i in range(len(strings)):
        for j in range(dim):
            if sign[i, j] != 0:
                pair = (min(j, int(idx[i, j])), max(j, int(idx[i, j])))
                coeff.setdefault(pair, np.zeros(len(strings), dtype=np.float32))[i] += float(sign[i, j])
    pairs = sorted(p for p, c in coeff.items() if np.any(c != 0))
    left = torch.tensor([a for a, _ in pairs], dtype=torch.long)
    right = torch.tensor([b for _, b in pairs], dtype=torch.long)
    table = torch.from_numpy(np.stack([coeff[p] for p in pairs])) if pairs else torch.zeros(0, len(strings))
    return left, right, table


class PauliValueMap(torch.nn.Module):
    """v_i = Re(u^T O_i u) for fixed Pauli strings O_1..O_h: v = (u[left] * u[right]) @ table.

    One gather of the P needed index pairs, one multiply, one (P, h) matmul; no 2**n x 2**n
    or per-string d x d matrix. Because u = W_v x is linear, QISAttention gathers the rows of
    W_v instead of u (``left``/``right`` below), so no activation is ever indexed. The strings
    are part of the model config, so they are saved and restored with the model.
    """

    def __init__(self, strings: list[str], dim: int):
        super().__init__()
        self.strings = list(strings)
        self.dim = dim
        left, right, table = pauli_pair_table(self.strings, dim)
        self.register_buffer("left", left, persistent=False)  # (P,)
        self.register_buffer("right", right, persistent=False)  # (P,)
        self.register_buffer("table", table, persistent=False)  # (P, h)

    @property
    def n_pairs(self) -> int:
        return int(self.left.numel())

    def forward(self, u: torch.Tensor) -> torch.Tensor:  # u: (..., dim) -> (..., h)
        return (u[..., self.left] * u[..., self.right]) @ self.table

    def extra_repr(self) -> str:
        return f"dim={self.dim}, strings={self.strings}, pairs={self.n_pairs}"
