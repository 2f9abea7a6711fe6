"""Quantum core: circuit builders (Cirq + sympy), circuit files and hashes, simulator backends
(qsim, cirq, torch) and the compiled differentiable torch simulator."""

from .backends import BACKENDS, Backend, BackendError, make_backend, with_depolarizing
from .circuits import CircuitSpec, pipeline_circuits, pqc_encoder, pqc_main, qpa_ansatz
from .serialize import circuit_hash, read_circuit, write_circuit
from .torch_sim import TorchCircuit, UnsupportedGateError

__all__ = [
    "BACKENDS", "Backend", "BackendError", "CircuitSpec", "TorchCircuit", "UnsupportedGateError",
    "circuit_hash", "make_backend", "pipeline_circuits", "pqc_encoder", "pqc_main", "qpa_ansatz",
    "read_circuit", "with_depolarizing", "write_circuit",
]
