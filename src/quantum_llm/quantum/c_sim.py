"""Real circuits of RY and CNOT gates at one parameter set, in C (``real_circuit.c``).

The QPA generator's circuit (an RY column and a CNOT chain per layer) is simulated at batch 1
every training step. At 7 qubits the arithmetic is a few thousand multiply-adds, so the torch
simulator's small path spends its time dispatching dozens of ops and their autograd nodes; this
kernel runs the forward and the adjoint backward as two C calls (tens of microseconds).
:class:`~quantum_llm.quantum.torch_sim.TorchCircuit` uses it on ``path="auto"`` for such
circuits (CPU, one parameter row, no initial state) and keeps its own paths for everything
else, and wherever the kernel is unavailable (:mod:`quantum_llm.cbuild`). Tested against Cirq
and the torch paths.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import cirq
import numpy as np
import torch

from .. import cbuild

SOURCE = Path(__file__).with_name("real_circuit.c")
_CNOT = cirq.unitary(cirq.CNOT)
# up to here the kernel's scalar loops are faster than the torch paths (QPA's ansatz, 8 layers, forward
# + backward, float64, 1 thread: 0.06 / 0.19 / 0.69 / 3.2 / 15.4 ms at 7 / 10 / 12 / 14 / 16 qubits against
# 0.65 / 1.1 / 1.6 / 4.6 / 15.6 ms on the small path); larger states keep the blocked path's GEMMs
MAX_QUBITS = 16


@functools.cache
def _lib():
    lib = cbuild.load(SOURCE, "small real circuits at batch 1 (else the torch simulator's small path)")
    if lib is None:
        return None
    i32, ptr = ctypes.c_int, ctypes.c_void_p
    lib.real_circuit_forward.argtypes = [i32, i32] + [ptr] * 9
    lib.real_circuit_forward.restype = None
    lib.real_circuit_backward.argtypes = [i32, i32] + [ptr] * 11
    lib.real_circuit_backward.restype = None
    return lib


class RealProgram:
    """The gate list as the kernel's arrays; :meth:`of` gives None for a circuit it cannot run."""

    def __init__(self, n: int, kind, a, b, sym, coeff, offset):
        self.n = n
        self.kind, self.a, self.b, self.sym = (torch.tensor(x, dtype=torch.int32) for x in (kind, a, b, sym))
        self.coeff, self.offset = (torch.tensor(x, dtype=torch.float64) for x in (coeff, offset))

    @classmethod
    def of(cls, gates, n: int) -> RealProgram | None:
        """``gates``: torch_sim's parsed gates. Only RY (any linear angle) and CNOT qualify, on at
        most MAX_QUBITS qubits."""
        if n > MAX_QUBITS:
            return None
        rows = []
        for g in gates:
            if g.kind == "ry":
                rows.append((0, g.qubits[0], -1, g.symbol, g.coeff, g.offset))
            elif g.kind == "fixed" and len(g.qubits) == 2 and np.array_equal(g.matrix, _CNOT):
                rows.append((1, g.qubits[0], g.qubits[1], -1, 0.0, 0.0))
            else:
                return None
        if not rows:
            return None
        return cls(n, *zip(*rows, strict=True))

    def _args(self, theta: torch.Tensor) -> tuple:
        ps = (self.kind, self.a, self.b, self.sym, self.coeff, self.offset, theta)
        return (self.n, len(self.kind), *(t.data_ptr() for t in ps))

    def probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        """theta (P,) -> probabilities (2**n,), differentiable in theta."""
        return _Probabilities.apply(theta, self)


def available() -> bool:
    return _lib() is not None


class _Probabilities(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, prog: RealProgram):
        th = theta.detach().to("cpu", torch.float64).contiguous()
        psi, probs = torch.empty(2**prog.n, dtype=torch.float64), torch.empty(2**prog.n, dtype=torch.float64)
        _lib().real_circuit_forward(*prog._args(th), psi.data_ptr(), probs.data_ptr())
        ctx.prog, ctx.dtype = prog, theta.dtype
        ctx.save_for_backward(th, psi)
        return probs.to(theta.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable      # the C backward builds no graph
    def backward(ctx, gprobs):
        th, psi = ctx.saved_tensors
        prog = ctx.prog
        psi = psi.clone()              # undone in place by the backward (a second backward needs it again)
        gp = gprobs.detach().to(torch.float64).contiguous()
        lam, gtheta = torch.empty_like(psi), torch.zeros_like(th)
        _lib().real_circuit_backward(*prog._args(th), psi.data_ptr(), gp.data_ptr(), lam.data_ptr(),
                                     gtheta.data_ptr())
        return gtheta.to(ctx.dtype), None
