"""The torch simulator's small-state path: whole-state ops and plain autograd.

For a small state (QPA's generator at batch 1, a few thousand amplitudes) the blocked path of
:mod:`quantum_llm.quantum.torch_sim` spends its time in per-op Python overhead, not
arithmetic: building each fused block matrix takes a dozen torch calls per gate, and the
adjoint sweep walks the blocks in Python. Here instead

* the 2x2 matrices of all rotations of one kind and parameter source come from one vectorised
  build (one gather, one cos, one sin, one stack);
* a *column* of weight rotations on distinct qubits (an RY column of the QPA ansatz or the PQC
  encoder) is applied as its Kronecker factors over groups of at most ``FACTOR_QUBITS`` qubits:
  one GEMM each on a view of the state. The factors of every column are built together, one
  batched outer product per qubit;
* any other single-qubit gate (per-sample data angles, the PQC main module's long-range
  rotations) is applied alone, as a broadcast multiply and a sum over a
  ``(B, 2**q, 1, 2, R)`` view;
* runs of CNOT / CZ / X / Y / Z (monomial gates: a permutation times phases) are composed at
  compile time into one ``index_select`` and at most one phase multiply, merged across gates
  on other qubits;
* gradients are ordinary autograd through those few ops. Autograd stores one state per op,
  which is why ``path="auto"`` uses this path only for small states (:meth:`SmallProgram.preferred`).

The result equals the blocked path's to float rounding (tested against ``cirq.Simulator`` and
against the blocked path, values and gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# When ``path="auto"`` takes this path (measured on the 2-core machine, docs/quantum.md): for a
# state of at most SMALL_MAX_AMPLITUDES (batch x 2**n) the blocked path's per-op overhead
# dominates; up to COLUMN_MAX_AMPLITUDES this path still wins when most rotations sit in
# Kronecker columns (the QPA ansatz: 2.5x faster at N = 16, batch 1), but gate by gate (the PQC
# main module's long-range layers) it loses to the blocked path's fused GEMMs above ~2**13.
# Beyond that the blocked path's memory bound (no stored activations) matters more.
SMALL_MAX_AMPLITUDES = 1 << 13
COLUMN_MAX_AMPLITUDES = 1 << 16
MAX_GATE_BY_GATE = 0.25     # fraction of rotations applied one by one, above which columns don't pay
FACTOR_QUBITS = 4           # a column's Kronecker factors are at most 16 x 16


@dataclass
class _Rot:
    """One rotation gate: which group built its matrix and its place in that group."""

    qubit: int
    group: tuple[str, bool]        # (kind "rx" | "ry" | "rz", batched data angle?)
    index: int


@dataclass
class _Col:
    """Weight rotations on distinct qubits, applied together: two Kronecker factors when >= 2."""

    rots: list
    qubits: set
    slot: int = -1                 # row of the batched Kronecker build, -1 = gate by gate


@dataclass
class _Const1:
    qubit: int
    matrix: np.ndarray             # (2, 2), not monomial (e.g. H)


@dataclass
class _Mono:
    """new[i] = phase[i] * old[src[i]] over the full 2**n index (composed CNOT/CZ/X/Y/Z gates)."""

    src: np.ndarray
    phase: np.ndarray              # complex128 (2**n,)
    qubits: set


def _monomial(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(column of the nonzero per row, its value) when ``matrix`` has one nonzero per row."""
    nz = np.abs(matrix) > 1e-12
    if not (nz.sum(1) == 1).all():
        return None
    col = nz.argmax(1)
    return col, matrix[np.arange(len(col)), col]


def _gate_action(qubits: tuple[int, ...], col: np.ndarray, val: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The gate's (src, phase) over the full index (qubit 0 is the most significant bit)."""
    idx = np.arange(2**n)
    local = np.zeros(2**n, dtype=np.int64)
    for q in qubits:
        local = 2 * local + ((idx >> (n - 1 - q)) & 1)
    src = idx.copy()
    new_local = col[local]
    for k, q in enumerate(qubits):             # write the source's bits for the gate's qubits
        bit = (new_local >> (len(qubits) - 1 - k)) & 1
        shift = n - 1 - q
        src = (src & ~(1 << shift)) | (bit << shift)
    return src, val[local].astype(np.complex128)


class SmallProgram:
    """A compiled gate list for the small-state path (built by ``TorchCircuit``)."""

    def __init__(self, gates: list, n: int):
        self.n = n
        self.steps: list = []
        self.groups: dict[tuple[str, bool], list] = {}     # group -> [(symbol, coeff, offset)]
        for g in gates:
            self._add(g)
        self._tensors: dict = {}
        # columns of >= 2 gates: one batched Kronecker build for all of them (see :meth:`_krons`)
        self.weight_groups = [k for k in self.groups if not k[1]]
        offsets = np.cumsum([0] + [len(self.groups[k]) for k in self.weight_groups])
        eye_row = int(offsets[-1])                        # the identity, appended to the table
        cols = [st for st in self.steps if isinstance(st, _Col) and len(st.rots) >= 2]
        self.col_index = np.full((len(cols), n), eye_row, dtype=np.int64)
        for c, st in enumerate(cols):
            st.slot = c
            for r in st.rots:
                self.col_index[c, r.qubit] = offsets[self.weight_groups.index(r.group)] + r.index
        k = -(-n // FACTOR_QUBITS)                         # qubit groups of the Kronecker factors
        bounds = [round(i * n / k) for i in range(k + 1)]
        self.factors = list(zip(bounds[:-1], bounds[1:], strict=True))
        n_rot = sum(len(v) for v in self.groups.values())
        in_cols = sum(len(st.rots) for st in cols)
        self.gate_by_gate = (n_rot - in_cols) / n_rot if n_rot else 0.0

    def preferred(self, batch: int) -> bool:
        """Whether ``path="auto"`` simulates a batch of this circuit here (see the module constants)."""
        amplitudes = batch * 2**self.n
        return amplitudes <= SMALL_MAX_AMPLITUDES or (
            amplitudes <= COLUMN_MAX_AMPLITUDES and self.gate_by_gate <= MAX_GATE_BY_GATE)

    def _add(self, g) -> None:
        if g.kind != "fixed":
            if g.symbol < 0:          # a constant angle: a constant 2x2 matrix
                self.steps.append(_Const1(g.qubits[0], _rotation(g.kind, g.offset)))
                return
            key = (g.kind, g.batched)
            rows = self.groups.setdefault(key, [])
            rot = _Rot(g.qubits[0], key, len(rows))
            rows.append((g.symbol, g.coeff, g.offset))
            last = self.steps[-1] if self.steps else None
            if g.batched:
                self.steps.append(rot)
            elif isinstance(last, _Col) and rot.qubit not in last.qubits:
                last.rots.append(rot)
                last.qubits.add(rot.qubit)
            else:
                self.steps.append(_Col([rot], {rot.qubit}))
            return
        mono = _monomial(g.matrix)
        if mono is None:               # H: the only non-monomial gate of the whitelist
            self.steps.append(_Const1(g.qubits[0], g.matrix))
            return
        src, phase = _gate_action(g.qubits, *mono, self.n)
        qs = set(g.qubits)
        for step in reversed(self.steps):       # merge into the latest monomial it commutes back to
            if isinstance(step, _Mono):
                step.src, step.phase = step.src[src], phase * step.phase[src]
                step.qubits |= qs
                return
            if _step_qubits(step) & qs:
                break
        self.steps.append(_Mono(src, phase, qs))

    # ------------------------------------------------------------ runtime
    def _consts(self, dtype, device) -> dict:
        key = (dtype, str(device))
        if key not in self._tensors:
            t: dict = {}
            for k, rows in self.groups.items():
                sym, coeff, off = (np.array(c) for c in zip(*rows, strict=True))
                t[k] = (torch.as_tensor(sym, device=device), torch.as_tensor(coeff, device=device),
                        torch.as_tensor(off, device=device))
            t["cols"] = torch.as_tensor(self.col_index, device=device)
            for i, step in enumerate(self.steps):
                if isinstance(step, _Mono):
                    ph = step.phase
                    ph = None if np.allclose(ph, 1) else torch.as_tensor(
                        ph.real if not dtype.is_complex else ph, device=device).to(dtype)
                    t[i] = (torch.as_tensor(step.src, device=device), ph)
                elif isinstance(step, _Const1):
                    m = step.matrix if dtype.is_complex else step.matrix.real
                    t[i] = torch.as_tensor(m, device=device).to(dtype)
            self._tensors[key] = t
        return self._tensors[key]

    def _matrices(self, params: tuple, consts: dict, dtype) -> dict:
        """Per group: its gates' 2x2 matrices stacked, (G, 2, 2) or (B, G, 2, 2)."""
        real = torch.float64 if dtype in (torch.float64, torch.complex128) else torch.float32
        out = {}
        for (kind, batched), (sym, coeff, off) in ((k, consts[k]) for k in self.groups):
            src = params[2] if batched else (params[1] if params[1] is not None else params[0])
            half = (src[..., sym] * coeff.to(real) + off.to(real)) / 2      # (..., G)
            c, s = torch.cos(half).to(dtype), torch.sin(half).to(dtype)
            if kind == "ry":
                m = torch.stack([c, -s, s, c], -1)
            elif kind == "rx":
                m = torch.stack([c, -1j * s, -1j * s, c], -1)
            else:
                z = torch.zeros_like(c)
                m = torch.stack([c - 1j * s, z, z, c + 1j * s], -1)
            out[(kind, batched)] = m.unflatten(-1, (2, 2))
        return out

    def _krons(self, mats: dict, consts: dict, dtype, device) -> list | None:
        """The Kronecker factors (one per qubit group of :attr:`factors`) of every column of >= 2
        shared weight gates, in a few batched ops: per factor a list over columns of (d, d).

        A factor covers at most ``FACTOR_QUBITS`` qubits (identity where a column has no gate),
        so building it and applying it (one GEMM on a view of the state) both stay small.
        """
        if not len(self.col_index) or any(mats[k].dim() != 3 for k in self.weight_groups):
            return None
        eye = torch.eye(2, dtype=dtype, device=device)[None]
        table = torch.cat([mats[k] for k in self.weight_groups] + [eye])   # (G + 1, 2, 2)
        per_qubit = table[consts["cols"]]                                   # (C, n, 2, 2)
        C = per_qubit.shape[0]
        out = []
        for a, b in self.factors:
            K = per_qubit[:, a]
            for j in range(a + 1, b):  # kron(K, M) as a batched outer product (cheap backward)
                d = K.shape[-1]
                K = torch.bmm(K.reshape(C, d * d, 1), per_qubit[:, j].reshape(C, 1, 4))
                K = K.view(C, d, d, 2, 2).transpose(2, 3).reshape(C, 2 * d, 2 * d)
            out.append(K.unbind(0))
        return out

    def run(self, params: tuple, psi: torch.Tensor) -> torch.Tensor:
        """The final state (B, 2**n) from ``psi`` (B, 2**n), out of place (autograd records it)."""
        consts = self._consts(psi.dtype, psi.device)
        stacked = self._matrices(params, consts, psi.dtype) if self.groups else {}
        krons = self._krons(stacked, consts, psi.dtype, psi.device)
        unbound: dict = {}

        def gate(r: _Rot) -> torch.Tensor:   # one view per gate, made only for groups used gate by gate
            if r.group not in unbound:
                unbound[r.group] = stacked[r.group].unbind(-3)
            return unbound[r.group][r.index]

        for i, step in enumerate(self.steps):
            if isinstance(step, _Col):
                if krons is not None and step.slot >= 0:
                    psi = self._apply_col(psi, [f[step.slot] for f in krons])
                    continue
                for r in step.rots:
                    psi = self._apply1(psi, gate(r), r.qubit)
                continue
            if isinstance(step, _Mono):
                src, ph = consts[i]
                psi = psi.index_select(1, src)
                if ph is not None:
                    psi = psi * ph
                continue
            psi = self._apply1(psi, gate(step) if isinstance(step, _Rot) else consts[i], step.qubit)
        return psi

    def _apply_col(self, psi: torch.Tensor, factors: list) -> torch.Tensor:
        """A column as its Kronecker factors, one GEMM each on a (B * 2**a, 2**(b-a), 2**(n-b)) view."""
        B, n = psi.shape[0], self.n
        for (a, b), M in zip(self.factors, factors, strict=True):
            rows, d, R = B * 2**a, 2 ** (b - a), 2 ** (n - b)
            if R == 1:
                psi = psi.reshape(rows, d) @ M.transpose(0, 1)
            elif rows == 1:
                psi = M @ psi.reshape(d, R)
            else:
                psi = torch.matmul(M, psi.reshape(rows, d, R))
        return psi.reshape(B, 2**n)

    def _apply1(self, psi: torch.Tensor, G: torch.Tensor, q: int) -> torch.Tensor:
        """One 2x2 gate, (2, 2) or (B, 2, 2), on qubit q: a broadcast product and a sum."""
        B, n = psi.shape[0], self.n
        view = psi.reshape(B, 2**q, 1, 2, 2 ** (n - 1 - q))
        G = G.reshape(-1, 1, 2, 2, 1) if G.dim() == 3 else G.reshape(2, 2, 1)
        return (G * view).sum(3).reshape(B, 2**n)


def _step_qubits(step) -> set:
    return step.qubits if isinstance(step, _Mono | _Col) else {step.qubit}


def _rotation(kind: str, theta: float) -> np.ndarray:
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    if kind == "ry":
        return np.array([[c, -s], [s, c]])
    if kind == "rx":
        return np.array([[c, -1j * s], [-1j * s, c]])
    return np.array([[c - 1j * s, 0], [0, c + 1j * s]])
