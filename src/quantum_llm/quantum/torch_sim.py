"""A batched, differentiable statevector simulator compiled from a Cirq circuit.

Why hand-written: no maintained PyTorch-native simulator takes Cirq circuits (TorchQuantum,
PennyLane's torch interface and Qiskit's torch connector each use their own circuit objects
and per-gate autograd), and training needs batches of states with gradients on CPU or CUDA.

Two paths (``TorchCircuit(path=...)``): small states (QPA's generator at batch 1, the PQC
head's small batches) go to :mod:`quantum_llm.quantum.torch_small` (whole-state ops, plain
autograd) when ``path="auto"`` finds them small enough (``SmallProgram.preferred``); everything
below describes the *blocked* path, used for the rest. On ``path="auto"``, the probabilities of
a circuit of RY and CNOT gates only at one parameter row on the CPU (QPA's generator) come from
a C kernel instead (:mod:`quantum_llm.quantum.c_sim`) where one can be built.

Design (see docs/quantum.md):

* Whitelist: Rx, Ry, Rz (angle ``a + b * symbol`` or a number), X, Y, Z, H, CNOT, CZ, and the
  identity. Anything else raises :class:`UnsupportedGateError` naming the gate.
* Compilation fuses gates into *blocks*: a block is a dense ``2**w x 2**w`` unitary on a
  contiguous window of at most ``max_window`` qubits. A gate joins the latest block it does
  not have to wait for (gates on disjoint qubits commute), so an RY column and most of a CNOT
  chain share a few blocks. CNOTs spanning more than the window become one permutation op
  (consecutive ones merge), applied as in-place strided swaps of the control-1 half (no index
  tensor: a 2**n int64 index would cost two states of memory at batch 1); long-range CZs become
  one diagonal.
* Applying a block is one matrix multiply over a view ``(B * 2**lo, 2**w, R)`` of the state;
  windows that end 1-2 qubits before the last qubit are widened to the last qubit so the
  multiply never has a tiny inner stride. The state is real (float) when every gate is real,
  complex only when some gate needs it.
* States are updated in place, chunk by chunk through a scratch buffer of ``CHUNK_ELEMS``
  amplitudes whatever the state size (a row longer than that is split along its last axis), so
  the forward pass holds one state plus one chunk (1 MiB at float32) and the backward pass two
  states plus two chunks and the contraction's ``(rows, d, d)`` temporary (at most d /
  ``MIN_INNER`` chunks, see :func:`_cross`). In the backward ``U^H psi`` is written straight over the chunk of ``lam`` it has just read and
  ``U^H lam`` goes through the scratch buffer into ``psi``'s chunk, so the two swap buffers
  after each block (one copy per chunk instead of two).
* Gradients: :class:`_Evolve` is a ``torch.autograd.Function`` using adjoint differentiation.
  Backward keeps the final state ``psi`` and its adjoint ``lam``; for each block from the last
  to the first it forms ``C = sum lam conj(psi)^T`` over the window (one multiply), turns it
  into ``dL/dU = C @ U`` and un-computes ``psi`` and ``lam`` with ``U^H``, chunk by chunk while
  the chunk is in cache: three GEMM passes per block against the forward's one (see
  docs/quantum.md for what was measured). When the gates from a block's first parameterised one
  on stay inside a narrower run of qubits (a CNOT chain then an RY column), only that
  sub-window is contracted (:func:`_sub_cross`). The small block matrices are built from the
  angles with ordinary autograd, so ``dL/dU`` flows on to the angles. No per-gate activations
  are stored. The sweep stops at the earliest block that needs a gradient (leading
  data-encoding blocks are not un-computed). Data passed apart (``data=``) that needs no
  gradient is read detached, so its blocks are un-computed but never contracted.

Qubit 0 is the most significant bit of a basis index, as in Cirq.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import cirq
import numpy as np
import sympy
import torch

from . import c_sim
from .torch_small import SmallProgram

log = logging.getLogger(__name__)

SUPPORTED_GATES = "Rx, Ry, Rz, X, Y, Z, H, CNOT, CZ, I"
CHUNK_ELEMS = 1 << 18      # scratch size in amplitudes: stays in L2 cache, bounds extra memory
MIN_INNER = 8               # a block view with 1 < R < MIN_INNER is widened to the last qubit
MAX_DATA_WINDOW = 3         # per-sample blocks are (B, d, d): keep them small
PATHS = ("auto", "small", "blocked")   # TorchCircuit(path=): auto picks small for small states


class UnsupportedGateError(ValueError):
    """The torch simulator met a gate outside its whitelist."""


# ---------------------------------------------------------------- gates
@dataclass
class _Gate:
    qubits: tuple[int, ...]
    kind: str                      # "rx" | "ry" | "rz" | "fixed"
    matrix: np.ndarray | None = None
    symbol: int = -1               # column of the parameter vector, -1 = constant angle
    coeff: float = 0.0             # angle = offset + coeff * params[symbol]
    offset: float = 0.0
    batched: bool = False          # a per-sample data angle: fused only with other data gates

    @property
    def is_real(self) -> bool:
        return self.kind == "ry" or (self.kind == "fixed" and not np.iscomplexobj(self.matrix))


_FIXED = {cirq.X: "X", cirq.Y: "Y", cirq.Z: "Z", cirq.H: "H", cirq.CNOT: "CNOT", cirq.CZ: "CZ"}


def _linear_angle(expr, sym_index: dict[sympy.Symbol, int], op) -> tuple[int, float, float]:
    expr = sympy.sympify(expr)
    free = expr.free_symbols
    if not free:
        return -1, 0.0, float(expr)
    if len(free) > 1:
        raise UnsupportedGateError(f"{op}: angle {expr} uses several symbols; the torch backend takes a + b*symbol")
    (s,) = free
    coeff = sympy.diff(expr, s)
    if coeff.free_symbols:
        raise UnsupportedGateError(f"{op}: angle {expr} is not linear in {s}; the torch backend takes a + b*symbol")
    if s not in sym_index:
        raise ValueError(f"{op}: symbol {s} is not in the parameter order {list(sym_index)}")
    return sym_index[s], float(coeff), float(expr.subs(s, 0))


def _gate_of(op: cirq.Operation, qindex: dict[cirq.Qid, int], sym_index: dict[sympy.Symbol, int]) -> _Gate | None:
    gate, qs = op.gate, tuple(qindex[q] for q in op.qubits)
    for cls, kind in ((cirq.Rx, "rx"), (cirq.Ry, "ry"), (cirq.Rz, "rz")):
        if isinstance(gate, cls):
            rads = gate.exponent * (sympy.pi if cirq.is_parameterized(gate) else np.pi)
            idx, coeff, offset = _linear_angle(rads, sym_index, op)
            return _Gate(qs, kind, symbol=idx, coeff=coeff, offset=offset)
    if isinstance(gate, cirq.IdentityGate):
        return None
    if gate is not None and not cirq.is_parameterized(gate) and any(gate == g for g in _FIXED):
        m = cirq.unitary(gate)
        return _Gate(qs, "fixed", matrix=m.real.copy() if np.allclose(m.imag, 0) else m)
    raise UnsupportedGateError(
        f"torch backend: unsupported gate {gate!r} in operation {op} (supported: {SUPPORTED_GATES}; "
        "decompose it first or use the qsim/cirq backend)")


def _diag_of(g: _Gate, n: int) -> np.ndarray | None:
    if g.kind != "fixed" or not np.allclose(g.matrix, np.diag(np.diag(g.matrix))):
        return None
    k = np.arange(2**n)
    code = np.zeros(2**n, dtype=np.int64)
    for q in g.qubits:
        code = 2 * code + ((k >> (n - 1 - q)) & 1)
    return np.diag(g.matrix)[code]


# ---------------------------------------------------------------- fused program
@dataclass
class _Block:
    lo: int
    hi: int
    gates: list[_Gate] = field(default_factory=list)

    @property
    def grad_window(self) -> tuple[int, int] | None:
        """Qubits (a, b) spanned by the gates from the first parameterised one on, when narrower
        than the block (e.g. a CNOT chain followed by an RY column): see :func:`_backward_block`."""
        first = next((i for i, g in enumerate(self.gates) if g.kind != "fixed" and g.symbol >= 0), None)
        if first is None or self.batched:
            return None
        qs = [q for g in self.gates[first:] for q in g.qubits]
        a, b = min(qs), max(qs)
        return None if (a, b) == (self.lo, self.hi) else (a, b)

    @property
    def qubits(self) -> set[int]:
        return {q for g in self.gates for q in g.qubits}

    @property
    def batched(self) -> bool:
        return self.gates[0].batched


@dataclass
class _Perm:
    cnots: list[tuple[int, int]]   # long-range CNOTs (control, target), applied in order
    qubits: set[int]


@dataclass
class _Diag:
    diag: np.ndarray
    qubits: set[int]


def _fuse(gates: list[_Gate], n: int, max_window: int) -> list:
    """Greedy commutation-aware fusion into blocks, permutations and diagonals (see module doc).

    Data gates (per-sample angles) only fuse with data gates: a block holding one would become
    a per-sample (B, d, d) matrix, and so would every weight gate fused into it.
    """
    items: list = []
    for g in gates:
        s = set(g.qubits)
        j = max((i for i, it in enumerate(items) if it.qubits & s), default=-1)
        lo, hi = min(g.qubits), max(g.qubits)
        limit = min(max_window, MAX_DATA_WINDOW) if g.batched else max_window
        if hi - lo < limit:
            for it in items[max(j, 0):]:
                if (isinstance(it, _Block) and it.batched == g.batched
                        and max(it.hi, hi) - min(it.lo, lo) < limit):
                    it.gates.append(g)
                    it.lo, it.hi = min(it.lo, lo), max(it.hi, hi)
                    break
            else:
                items.append(_Block(lo, hi, [g]))
            continue
        is_cnot = g.kind == "fixed" and len(g.qubits) == 2 and np.allclose(g.matrix, cirq.unitary(cirq.CNOT))
        kind = _Perm if is_cnot else _Diag
        prev = next((it for it in reversed(items[max(j, 0):]) if isinstance(it, kind)), None)
        if kind is _Perm:
            if prev is None:
                items.append(_Perm([g.qubits], s))
            else:
                prev.cnots, prev.qubits = prev.cnots + [g.qubits], prev.qubits | s  # apply g after prev
        else:
            diag = _diag_of(g, n)
            if diag is None:
                raise UnsupportedGateError(f"torch backend: cannot place {g} on distant qubits")
            if prev is None:
                items.append(_Diag(diag, s))
            else:
                prev.diag, prev.qubits = prev.diag * diag, prev.qubits | s
    for it in items:  # a tiny inner stride makes the batched multiply slow: widen to the end
        if isinstance(it, _Block) and 1 < 2 ** (n - 1 - it.hi) < MIN_INNER:
            it.hi = n - 1
    return items


# ---------------------------------------------------------------- applying ops in place
def _chunks(total: int, per: int):
    step = max(1, CHUNK_ELEMS // max(per, 1))
    for a in range(0, total, step):
        yield a, min(total, a + step)


def _views(x: torch.Tensor, lo: int, hi: int, n: int) -> tuple[int, int, int, int]:
    return x.shape[0], 2 ** (hi - lo + 1), 2**lo, 2 ** (n - 1 - hi)


def _block_steps(N: int, d: int, A: int, R: int, per_row: bool):
    """Chunks of a block application: (view shape, index into the view, matrix rows, kind).

    Shared U: rows of (N*A, d) [R == 1] or (N*A, d, R). Per-sample U: samples of (N, A, d)
    [R == 1] or (N, d, R) [A == 1], else one sample at a time as (A, d, R) with U[b]. A chunk
    holds at most ``CHUNK_ELEMS`` amplitudes (a row too long for that is split along R, or
    along A for (N, A, d)), so the scratch buffer never grows with the state.
    """
    cols = max(1, CHUNK_ELEMS // d)        # at most this many R-columns per (d, R) piece
    if not per_row:
        if R == 1:
            for a, b in _chunks(N * A, d):
                yield (N * A, d), slice(a, b), None, "mm"
            return
        for a, b in _chunks(N * A, d * R):
            for r0 in range(0, R, cols):
                yield (N * A, d, R), (slice(a, b), slice(None), slice(r0, min(R, r0 + cols))), None, "lmul"
    elif R == 1:
        for a, b in _chunks(N, A * d):
            for a0 in range(0, A, cols):
                yield (N, A, d), (slice(a, b), slice(a0, min(A, a0 + cols))), slice(a, b), "bmm_r"
    elif A == 1:
        for a, b in _chunks(N, d * R):
            for r0 in range(0, R, cols):
                yield (N, d, R), (slice(a, b), slice(None), slice(r0, min(R, r0 + cols))), slice(a, b), "bmm_l"
    else:
        for i in range(N):
            for a, b in _chunks(A, d * R):
                for r0 in range(0, R, cols):
                    yield (N, A, d, R), (i, slice(a, b), slice(None), slice(r0, min(R, r0 + cols))), i, "lmul"


def _mult(kind: str, src: torch.Tensor, U: torch.Tensor, out: torch.Tensor) -> None:
    """out = U applied to the window axis of src (U already sliced to the chunk)."""
    if kind == "mm":
        torch.mm(src, U.transpose(0, 1), out=out)                 # (rows, d) @ (d, d)
    elif kind == "bmm_r":
        torch.bmm(src, U.transpose(1, 2), out=out)                # (n, A, d) @ (n, d, d)
    elif kind == "bmm_l":
        torch.bmm(U, src, out=out)                                # (n, d, d) @ (n, d, R)
    else:
        torch.bmm(U.expand(src.shape[0], -1, -1), src, out=out)   # (rows, d, d) @ (rows, d, R)


def _split(K: int) -> int:
    """Pieces for a long-K product: one (d, K) @ (K, d) GEMM runs on one core; a batch of them does not."""
    return next(S for S in (8, 4, 2, 1) if K % S == 0)


def _cross(kind: str, lam: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """sum over the chunk (per sample for bmm kinds) of lam_window conj(psi_window)^T."""
    psi = psi.conj()
    if kind == "mm":                                              # (rows, d) -> (d, d)
        rows, d = lam.shape
        S = _split(rows)
        return torch.bmm(lam.view(S, -1, d).transpose(1, 2), psi.view(S, -1, d)).sum(0)
    if kind == "bmm_r":                                           # (n, A, d) -> (n, d, d)
        n, A, d = lam.shape
        S = _split(A)
        part = torch.bmm(lam.reshape(n * S, -1, d).transpose(1, 2), psi.reshape(n * S, -1, d))
        return part.view(n, S, d, d).sum(1)
    if kind == "bmm_l":
        return torch.bmm(lam, psi.transpose(1, 2))                # (n, d, R) -> (n, d, d)
    # (rows, d, R) -> (d, d): a batch of (d, R) @ (R, d) products, summed. R >= MIN_INNER here
    # (narrower views are widened), so the (rows, d, d) temporary is at most d / MIN_INNER chunks;
    # copying the window axis first and one long-K GEMM was 3-6x slower (the copies are strided
    # and a single long-K GEMM runs on one core).
    rows, d, R = lam.shape
    if rows == 1:  # one long row (batch 1, a window near qubit 0): a single (d, R) @ (R, d) GEMM
        return lam[0] @ psi[0].transpose(0, 1)
    return torch.bmm(lam, psi.transpose(1, 2)).sum(0)


def _apply_block(x: torch.Tensor, U: torch.Tensor, lo: int, hi: int, n: int, scratch: torch.Tensor) -> None:
    """x <- (I (x) U (x) I) x in place; x (N, 2**n); U (d, d) shared or (N, d, d) per sample."""
    N, d, A, R = _views(x, lo, hi, n)
    for shape, sl, usl, kind in _block_steps(N, d, A, R, U.dim() == 3):
        src = x.view(shape)[sl]
        out = scratch[: src.numel()].view(src.shape)
        _mult(kind, src, U if usl is None else U[usl], out)
        src.copy_(out)


def _sub_cross(kind: str, q: torch.Tensor, p: torch.Tensor, d: int, sub: tuple[int, int, int]) -> torch.Tensor:
    """The contraction on a sub-window of the block: sum over every other qubit, (ds, ds).

    ``sub = (dl, ds, dr)``: the sub-window splits the block's window into dl x ds x dr. A
    contiguous chunk is re-viewed with the sub-window as its window axis (half or less of the
    full contraction's multiply-adds); otherwise the full (d, d) contraction is partial-traced.
    """
    dl, ds, dr = sub
    if q.is_contiguous() and p.is_contiguous():
        inner = q.numel() // (q.shape[0] * d)                      # R (1 for the "mm" kind)
        rows = q.shape[0] * dl
        if dr * inner >= MIN_INNER:                                # (rows * dl, ds, dr * R)
            return _cross("lmul", q.view(rows, ds, dr * inner), p.view(rows, ds, dr * inner))
        if dl > 1:  # a tiny inner stride makes the batched product slow: keep dr in the window
            c = _cross("mm", q.view(rows, ds * dr * inner), p.view(rows, ds * dr * inner))
            return torch.einsum("ajbj->ab", c.reshape(ds, dr * inner, ds, dr * inner))
    return torch.einsum("iajibj->ab", _cross(kind, q, p).reshape(dl, ds, dr, dl, ds, dr))


def _backward_block(psi: torch.Tensor, lam: torch.Tensor, U: torch.Tensor, lo: int, hi: int, n: int,
                    scratch: torch.Tensor, need_grad: bool, last: bool = False,
                    grad_window: tuple[int, int] | None = None) -> torch.Tensor | None:
    """One chunk-fused adjoint step: dL/dU = (sum lam conj(psi)^T) U, then U^H psi -> lam's buffer,
    U^H lam -> psi's buffer (the caller swaps the two names).

    ``grad_window`` (a, b): every gate from the block's first parameterised gate on acts inside
    qubits a..b, so ``dU/dtheta U^H`` is ``I (x) X (x) I`` with X on a..b for every parameter and
    only the contraction's partial trace onto a..b reaches the angles: it is computed on that
    sub-window (fewer multiply-adds) and re-embedded as ``(I (x) C_ab (x) I) / (dl * dr)``, which
    gives the same angle gradients (not the same dL/dU).

    The un-computed chunks swap buffers: ``U^H lam`` goes to ``scratch``, ``U^H psi`` straight
    over ``lam``'s chunk (already read) and ``scratch`` over ``psi``'s chunk, one copy per chunk
    instead of two for updating each state in place. ``scratch`` holds two chunks (a chunk split
    along R is strided: both products go through it).
    """
    N, d, A, R = _views(psi, lo, hi, n)
    per_row = U.dim() == 3
    sub = None
    if grad_window is not None and not per_row:
        a, b = grad_window
        sub = (2 ** (a - lo), 2 ** (b - a + 1), 2 ** (hi - b))
    Uh = U.conj().transpose(-1, -2)
    shape_c = (N, d, d) if per_row else ((sub[1], sub[1]) if sub else (d, d))
    C = torch.zeros(shape_c, dtype=psi.dtype, device=psi.device) if need_grad else None
    for shape, sl, usl, kind in _block_steps(N, d, A, R, per_row):
        p, q = psi.view(shape)[sl], lam.view(shape)[sl]
        if need_grad:  # while the chunk is in cache
            c = _sub_cross(kind, q, p, d, sub) if sub else _cross(kind, q, p)
            if per_row:
                C[usl] += c
            else:
                C += c
        if last:
            continue  # the first op of the program: nothing before it needs psi or lam
        Uc = Uh if usl is None else Uh[usl]
        t1 = scratch[: q.numel()].view(q.shape)
        _mult(kind, q, Uc, t1)                 # U^H lam
        if q.is_contiguous():
            _mult(kind, p, Uc, q)              # U^H psi over lam's chunk, already read
        else:                                  # a strided chunk (a row split along R)
            t2 = scratch[CHUNK_ELEMS: CHUNK_ELEMS + p.numel()].view(p.shape)
            _mult(kind, p, Uc, t2)
            q.copy_(t2)
        p.copy_(t1)
    if C is None:
        return None
    if sub:
        dl, _, dr = sub
        eye = functools.partial(torch.eye, dtype=C.dtype, device=C.device)
        C = torch.kron(torch.kron(eye(dl), C), eye(dr)) / (dl * dr)
    return C @ U


def _apply_cnot(x: torch.Tensor, c: int, t: int, n: int, scratch: torch.Tensor) -> None:
    """CNOT(c -> t) in place: where bit c is 1, swap the t = 0 and t = 1 halves (no index tensor)."""
    lo, hi = min(c, t), max(c, t)
    N = x.shape[0]
    v = x.view(N, 2**lo, 2, 2 ** (hi - lo - 1), 2, 2 ** (n - 1 - hi))
    sub = v[:, :, 1] if c == lo else v[:, :, :, :, 1]          # the control-1 half
    a, b = (sub[..., 0, :], sub[..., 1, :]) if c == lo else (sub[:, :, 0], sub[:, :, 1])
    a, b = a.view(-1, *a.shape[2:]), b.view(-1, *b.shape[2:])  # (N * 2**lo, 2**m, 2**r) views
    P, M, Q = a.shape
    for i, j in _chunks(P, M * Q):            # chunks of at most CHUNK_ELEMS amplitudes
        for k, m in _chunks(M, Q):
            for r0, r1 in _chunks(Q, 1):
                idx = (slice(i, j), slice(k, m), slice(r0, r1))
                tmp = scratch[: a[idx].numel()].view(a[idx].shape)
                tmp.copy_(a[idx])
                a[idx].copy_(b[idx])
                b[idx].copy_(tmp)


def _apply_perm(x: torch.Tensor, op: _Perm, n: int, scratch: torch.Tensor, inverse: bool = False) -> None:
    for c, t in reversed(op.cnots) if inverse else op.cnots:
        _apply_cnot(x, c, t, n, scratch)


def _initial(psi0: torch.Tensor | None, shape: tuple[int, int], dtype, device) -> torch.Tensor:
    """A fresh contiguous working state: a copy of psi0, or |0...0> without a separate input."""
    if psi0 is not None:
        return psi0.to(dtype).clone(memory_format=torch.contiguous_format)
    psi = torch.zeros(shape, dtype=dtype, device=device)
    psi[:, 0] = 1
    return psi


def _adjoint_sweep(program: _Program, psi: torch.Tensor, lam: torch.Tensor, mats, needs) -> list:
    """Walk the program backwards, un-computing psi and lam (which swap buffers per block); dL/dU per block.

    The sweep stops at the earliest block that needs a gradient: the ops before it (e.g. the
    first angle-encoding blocks when the data need no gradient) are never un-computed.
    """
    scratch = torch.empty(2 * CHUNK_ELEMS, dtype=psi.dtype, device=psi.device)
    grads: list[torch.Tensor | None] = [None] * len(mats)
    if not any(needs):
        return grads
    ops = program.ops
    first_needed = needs.index(True)                       # block index, in program order
    stop = [i for i, op in enumerate(ops) if isinstance(op, _Block)][first_needed]  # op index
    mi = len(mats)
    for k in range(len(ops) - 1, stop - 1, -1):
        op = ops[k]
        if isinstance(op, _Block):
            mi -= 1
            grads[mi] = _backward_block(psi, lam, mats[mi], op.lo, op.hi, program.n, scratch, needs[mi],
                                        last=k == stop, grad_window=op.grad_window)
            psi, lam = lam, psi    # each now lives in the other's buffer
        elif isinstance(op, _Perm):
            _apply_perm(psi, op, program.n, scratch, inverse=True)
            _apply_perm(lam, op, program.n, scratch, inverse=True)
        else:
            dg = program.diag(op, psi.device).conj().to(psi.dtype)
            psi.mul_(dg)
            lam.mul_(dg)
    return grads


class _Evolve(torch.autograd.Function):
    """Final state (B, 2**n) of the program; block-matrix gradients by adjoint differentiation."""

    @staticmethod
    def forward(ctx, program: _Program, psi0, shape, dtype, device, *mats: torch.Tensor) -> torch.Tensor:
        psi = _initial(psi0, shape, dtype, device)
        program.run(psi, mats)
        ctx.program = program
        ctx.save_for_backward(psi, *mats)
        return psi

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        psi_out, *mats = ctx.saved_tensors
        psi = psi_out.clone()          # the output belongs to the caller: un-compute a copy
        lam = grad.to(psi.dtype).clone(memory_format=torch.contiguous_format)
        grads = _adjoint_sweep(ctx.program, psi, lam, mats, ctx.needs_input_grad[5:])
        return (None, None, None, None, None, *grads)


class _EvolveProbs(torch.autograd.Function):
    """Probabilities |psi|^2 (B, 2**n) of the final state.

    The state never leaves this function, so the first backward un-computes it without a copy;
    a second backward through the same graph (``retain_graph``) re-runs the forward.
    """

    @staticmethod
    def forward(ctx, program: _Program, psi0, shape, dtype, device, *mats: torch.Tensor) -> torch.Tensor:
        psi = _initial(psi0, shape, dtype, device)
        program.run(psi, mats)
        ctx.program, ctx.psi, ctx.init = program, psi, (psi0, shape, dtype, device)
        ctx.save_for_backward(*mats)
        if psi.is_complex():
            return psi.real.square() + psi.imag.square()
        return psi.square()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        mats = ctx.saved_tensors
        psi = ctx.psi
        if psi is None:  # consumed by an earlier backward: recompute
            psi = _initial(*ctx.init)
            ctx.program.run(psi, mats)
        ctx.psi = None
        # d|psi|^2: the adjoint is 2 g psi (torch's complex convention); the sweep is linear in
        # lam, so it runs on g psi and the factor 2 goes on the (d, d) results: one state pass less
        lam = psi * grad.to(psi.real.dtype)
        grads = _adjoint_sweep(ctx.program, psi, lam, mats, ctx.needs_input_grad[5:])
        return (None, None, None, None, None, *(None if g is None else 2 * g for g in grads))


# ---------------------------------------------------------------- compiled circuit
class _Program:
    def __init__(self, items: list, n: int):
        self.ops, self.n = items, n
        self._cache: dict = {}

    def diag(self, op: _Diag, device) -> torch.Tensor:
        key = ("d", id(op), str(device))
        if key not in self._cache:
            self._cache[key] = torch.as_tensor(op.diag, device=device)
        return self._cache[key]

    def run(self, psi: torch.Tensor, mats: Sequence[torch.Tensor]) -> None:
        scratch = torch.empty(CHUNK_ELEMS, dtype=psi.dtype, device=psi.device)
        mi = 0
        for op in self.ops:
            if isinstance(op, _Block):
                _apply_block(psi, mats[mi], op.lo, op.hi, self.n, scratch)
                mi += 1
            elif isinstance(op, _Perm):
                _apply_perm(psi, op, self.n, scratch)
            else:
                psi.mul_(self.diag(op, psi.device).to(psi.dtype))


class TorchCircuit(torch.nn.Module):
    """A Cirq circuit compiled for batched, differentiable simulation.

    ``symbols`` fixes the column order of the parameter arrays. Gates on ``data_symbols``
    (per-sample inputs such as angle-encoded features) are fused apart from weight gates, so
    weight blocks stay shared (d, d) matrices. Call :meth:`state` / :meth:`probabilities` /
    :meth:`expectation_z` with ``params`` of shape (P,) (shared by the batch) or (B, P)
    (one set per sample), or with ``weights`` (P_w,) and ``data`` (B, P_d) separately (data
    columns first, as in :attr:`CircuitSpec.symbols`).
    """

    def __init__(self, circuit: cirq.AbstractCircuit, symbols: Sequence[sympy.Symbol] | None = None,
                 qubits: Sequence[cirq.Qid] | None = None, max_window: int = 5,
                 dtype: torch.dtype = torch.float32, data_symbols: Sequence[sympy.Symbol] = (),
                 path: str = "auto"):
        super().__init__()
        if path not in PATHS:
            raise ValueError(f"path = {path!r} is invalid: one of {', '.join(PATHS)}")
        self.path = path
        self.qubits = tuple(qubits) if qubits is not None else tuple(sorted(circuit.all_qubits()))
        self.n = len(self.qubits)
        self.symbols = tuple(symbols) if symbols is not None else tuple(
            sorted(cirq.parameter_symbols(circuit), key=lambda s: s.name))
        qindex = {q: i for i, q in enumerate(self.qubits)}
        sindex = {s: i for i, s in enumerate(self.symbols)}
        gates = [g for op in circuit.all_operations() if (g := _gate_of(op, qindex, sindex)) is not None]
        data_cols = {sindex[s] for s in data_symbols}
        for g in gates:
            g.batched = g.symbol in data_cols
        self.is_real = all(g.is_real for g in gates)
        self.real_dtype = dtype if not dtype.is_complex else (torch.float64 if dtype == torch.complex128 else torch.float32)
        self.dtype = self.real_dtype if self.is_real else (
            torch.complex128 if self.real_dtype == torch.float64 else torch.complex64)
        self.program = _Program(_fuse(gates, self.n, max_window), self.n)
        self.small = SmallProgram(gates, self.n)
        self.real = c_sim.RealProgram.of(gates, self.n)   # RY/CNOT only: the C kernel at batch 1 (c_sim.py)
        counts = {k.__name__: sum(isinstance(o, k) for o in self.program.ops) for k in (_Block, _Perm, _Diag)}
        log.debug("compiled %d gates on %d qubits into %s (%s)", len(gates), self.n, counts,
                  "real" if self.is_real else "complex")

    @classmethod
    def from_spec(cls, spec, **kw) -> TorchCircuit:
        """Compile a :class:`~quantum_llm.quantum.circuits.CircuitSpec` (its symbols, qubits, data symbols)."""
        return cls(spec.circuit, spec.symbols, spec.qubits, data_symbols=spec.data_symbols, **kw)

    # -------------------------------------------------- block matrices
    def _gate_matrix(self, g: _Gate, params: tuple, device) -> torch.Tensor:
        """(2**k, 2**k) or, for a per-sample angle, (B, 2**k, 2**k)."""
        if g.kind == "fixed":
            return torch.as_tensor(g.matrix, device=device).to(self.dtype)
        if g.symbol >= 0:
            # data gates read the data columns (params[2]), weight gates the shared row when there is one
            src = params[2] if g.batched else (params[1] if params[1] is not None else params[0])
            theta = src[..., g.symbol] * g.coeff + g.offset         # () or (B,)
        else:
            theta = torch.tensor(g.offset, dtype=self.real_dtype, device=device)
        c, s = torch.cos(theta / 2), torch.sin(theta / 2)
        z = torch.zeros_like(c)
        if g.kind == "ry":
            rows = [[c, -s], [s, c]]
            m = torch.stack([torch.stack(r, -1) for r in rows], -2)
            return m.to(self.dtype)
        c, s, z = c.to(self.dtype), s.to(self.dtype), z.to(self.dtype)
        if g.kind == "rx":
            rows = [[c, -1j * s], [-1j * s, c]]
        else:  # rz = diag(exp(-i theta/2), exp(i theta/2))
            rows = [[c - 1j * s, z], [z, c + 1j * s]]
        return torch.stack([torch.stack(r, -1) for r in rows], -2)

    def _block_matrix(self, blk: _Block, params: tuple, device) -> torch.Tensor:
        """The block's 2**w x 2**w unitary, (d, d) or (B, d, d), gate by gate on its rows."""
        if blk.batched:
            return self._kron_block(blk, params, device)
        w = blk.hi - blk.lo + 1
        d = 2**w
        M = torch.eye(d, dtype=self.dtype, device=device)
        for g in blk.gates:
            G = self._gate_matrix(g, params, device)               # (k2, k2) or (B, k2, k2)
            pos = [q - blk.lo for q in g.qubits]
            k = len(pos)
            if G.dim() == 3 and M.dim() == 2:
                M = M.expand(G.shape[0], d, d)
            lead = M.shape[:-2]
            L = len(lead)
            Mv = M.reshape(*lead, *([2] * w), d)
            Mv = torch.movedim(Mv, [L + p for p in pos], list(range(L, L + k)))
            moved = Mv.shape
            Mv = G @ Mv.reshape(*lead, 2**k, -1)                    # (.., 2**k, rest)
            Mv = torch.movedim(Mv.reshape(moved), list(range(L, L + k)), [L + p for p in pos])
            M = Mv.reshape(*lead, d, d)
        return M

    def _kron_block(self, blk: _Block, params: tuple, device) -> torch.Tensor:
        """A block of single-qubit data gates: per-qubit 2x2 products, then their Kronecker product.

        Builds (B, d, d) with O(d**2) saved intermediates instead of one per gate.
        """
        per_qubit: dict[int, torch.Tensor] = {}
        for g in blk.gates:                       # data gates are single-qubit rotations
            G = self._gate_matrix(g, params, device)
            q = g.qubits[0]
            per_qubit[q] = G if q not in per_qubit else G @ per_qubit[q]
        eye = torch.eye(2, dtype=self.dtype, device=device)
        M = None
        for q in range(blk.lo, blk.hi + 1):
            G = per_qubit.get(q, eye)
            if M is None:
                M = G
                continue
            if G.dim() == 3 or M.dim() == 3:      # batched outer product of the two factors
                Ml = M if M.dim() == 3 else M.expand(G.shape[0], -1, -1)
                Gl = G if G.dim() == 3 else G.expand(Ml.shape[0], -1, -1)
                a, b = Ml.shape[-1], 2
                M = (Ml[:, :, None, :, None] * Gl[:, None, :, None, :]).reshape(-1, a * b, a * b)
            else:
                M = torch.kron(M, G)
        return M

    # -------------------------------------------------- evaluation
    def _params(self, params, weights, data) -> torch.Tensor | None:
        if params is not None:
            return params
        if weights is None and data is None:
            return None
        if data is None:
            return weights
        if weights is None:
            return data
        return torch.cat([data, weights.expand(data.shape[0], -1) if weights.dim() == 1 else weights], -1)

    def state(self, params: torch.Tensor | None = None, *, weights: torch.Tensor | None = None,
              data: torch.Tensor | None = None, initial_state: torch.Tensor | None = None,
              batch_size: int | None = None, probabilities: bool = False) -> torch.Tensor:
        """Final states (B, 2**n), or their probabilities with ``probabilities=True``.

        ``initial_state`` (B, 2**n) or (1, 2**n) is an amplitude-encoded input (data, no gradient).
        """
        p = self._params(params, weights, data)
        if p is not None and p.shape[-1] != len(self.symbols):
            raise ValueError(f"params have {p.shape[-1]} columns, the circuit has {len(self.symbols)} symbols")
        device = p.device if p is not None else (initial_state.device if initial_state is not None else "cpu")
        B = next((t.shape[0] for t in (initial_state, p) if t is not None and t.dim() == 2), batch_size or 1)
        psi0 = None
        if initial_state is not None:
            if initial_state.shape[-1] != 2**self.n:
                raise ValueError(f"initial_state has {initial_state.shape[-1]} amplitudes, expected {2**self.n}")
            psi0 = initial_state.detach().to(device).expand(B, -1)
        if p is not None and p.dim() == 2 and p.shape[0] != B:
            raise ValueError(f"params batch {p.shape[0]} != state batch {B}")
        # shared fused ops (P,) give (d, d) matrices, per-sample ones (B, d, d)
        # weight gates read a shared (P,) row when the weights are shared, even with per-sample data
        shared = None
        if weights is not None and weights.dim() == 1 and data is not None and params is None:
            shared = torch.cat([weights.new_zeros(data.shape[-1]), weights])    # (P,)
        # data given apart that needs no gradient: its gates read a detached copy, so their block
        # matrices need no gradient and the backward neither contracts nor (for leading encoding
        # blocks) un-computes them; read through ``p`` they would inherit the weights' requires_grad
        pdata = p.detach() if params is None and data is not None and not data.requires_grad else p
        pp = (p, shared, pdata)
        if probabilities and psi0 is None and B == 1 and p is not None and self._c_path(p):
            return self.real.probabilities(p)[None]
        if self.path == "small" or (self.path == "auto" and self.small.preferred(B)):
            return self._small_state(pp, psi0, B, device, probabilities)
        mats = [self._block_matrix(op, pp, device) for op in self.program.ops if isinstance(op, _Block)]
        mats = [m.expand(B, -1, -1) if m.dim() == 3 and m.shape[0] != B else m for m in mats]
        fn = _EvolveProbs if probabilities else _Evolve
        return fn.apply(self.program, psi0, (B, 2**self.n), self.dtype, device, *mats)

    def _small_state(self, pp: tuple, psi0, B: int, device, probabilities: bool) -> torch.Tensor:
        """The small-state path (:mod:`~quantum_llm.quantum.torch_small`): plain autograd, gate by gate."""
        psi = _initial(psi0, (B, 2**self.n), self.dtype, device)
        psi = self.small.run(pp, psi)
        if not probabilities:
            return psi
        return psi.real.square() + psi.imag.square() if psi.is_complex() else psi.square()

    def _c_path(self, p: torch.Tensor) -> bool:
        """The C kernel (c_sim.py) takes this call: RY/CNOT circuit, path auto, one parameter row
        on the CPU (the caller checks: probabilities from |0...0>, batch 1)."""
        return (self.real is not None and self.path == "auto" and p.dim() == 1 and p.shape[0] == len(self.symbols)
                and p.device.type == "cpu" and c_sim.available())

    def probabilities(self, *args, **kw) -> torch.Tensor:
        """|<i|psi>|^2, (B, 2**n)."""
        if len(args) == 1 and not kw and isinstance(args[0], torch.Tensor) and self._c_path(args[0]):
            return self.real.probabilities(args[0])[None]   # straight to the kernel (QPA's generator, every step)
        return self.state(*args, probabilities=True, **kw)

    def expectation_z(self, *args, qubits: Sequence[int] | None = None, **kw) -> torch.Tensor:
        """<Z_q> for each qubit index in ``qubits`` (default all), (B, k)."""
        p = self.probabilities(*args, **kw)
        return z_expectations(p, self.n, range(self.n) if qubits is None else qubits)


def z_expectations(p: torch.Tensor, n: int, qubits: Sequence[int]) -> torch.Tensor:
    """<Z_q> = P(bit q = 0) - P(bit q = 1) from probabilities (B, 2**n); returns (B, k)."""
    B = p.shape[0]
    out = []
    for q in qubits:
        s = p.view(B, 2**q, 2, 2 ** (n - 1 - q)).sum((1, 3))   # (B, 2)
        out.append(s[:, 0] - s[:, 1])
    return torch.stack(out, -1)
