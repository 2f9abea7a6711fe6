"""Simulator backends behind one interface.

Every backend takes a circuit, its symbols in column order and a parameter array
(P,) or (B, P) (or ``None`` for a circuit without symbols), optionally an initial state
(B, 2**n) or (2**n,) for amplitude-encoded inputs, and returns NumPy arrays:

* :meth:`Backend.probabilities` -> (B, 2**n), basis index big-endian in ``qubits`` order;
* :meth:`Backend.expectation_z` -> (B, k) for the k readout qubits;
* :meth:`Backend.sample` -> (B, 2**n) counts of ``shots`` measurements of every qubit.

Noise: ``noise_p > 0`` applies ``cirq.depolarize(noise_p)`` to every qubit an operation acts
on, right after that operation (:func:`with_depolarizing`). ``cirq`` computes it exactly with
``DensityMatrixSimulator``; ``qsim`` averages ``trajectories`` quantum trajectories (sampling
uses one trajectory per shot); ``torch`` is noise-free and refuses ``noise_p > 0``.

Seeds go through ``cirq.value.parse_random_state``; the same seed gives the same samples and
trajectories.

Backends: ``cirq`` (the reference), ``qsim`` (qsimcirq, ``cpu_threads``; ``use_gpu`` with
``gpu_mode`` 0 = qsim's CUDA kernels or 1 = cuStateVec, only with a GPU build of qsimcirq,
otherwise :class:`BackendError`), ``torch`` (:mod:`quantum_llm.quantum.torch_sim`, batched and
differentiable, on the torch device of :mod:`quantum_llm.device`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import cirq
import numpy as np
import sympy

log = logging.getLogger(__name__)

BACKENDS = ("qsim", "cirq", "torch")


class BackendError(RuntimeError):
    """A backend cannot do what was asked (missing GPU build, noise on torch, ...)."""


def with_depolarizing(circuit: cirq.AbstractCircuit, p: float) -> cirq.Circuit:
    """After every moment, depolarize(p) on each qubit an operation of that moment acted on."""
    out = cirq.Circuit()
    for moment in circuit:
        out.append(moment)
        touched = sorted({q for op in moment.operations for q in op.qubits})
        if touched:
            out.append(cirq.Moment(cirq.depolarize(p).on(q) for q in touched))
    return out


def _batch(params: Any, symbols: Sequence[sympy.Symbol], initial_state: Any) -> tuple[list[cirq.ParamResolver], list]:
    """Resolvers and initial states, one per batch row (broadcast where one side has a single row)."""
    if params is None:
        rows: list[np.ndarray | None] = [None]
    else:
        arr = np.asarray(params, dtype=np.float64)
        rows = list(arr[None] if arr.ndim == 1 else arr)
        if arr.shape[-1] != len(symbols):
            raise ValueError(f"params have {arr.shape[-1]} columns, {len(symbols)} symbols given")
    states: list = [None]
    if initial_state is not None:
        st = np.asarray(initial_state)
        states = list(st[None] if st.ndim == 1 else st)
    B = max(len(rows), len(states))
    if len(rows) not in (1, B) or len(states) not in (1, B):
        raise ValueError(f"batch sizes differ: {len(rows)} parameter rows, {len(states)} initial states")
    rows, states = rows * (B // len(rows)), states * (B // len(states))
    resolvers = [cirq.ParamResolver({} if r is None else dict(zip(symbols, map(float, r), strict=False))) for r in rows]
    return resolvers, states


def z_from_probabilities(p: np.ndarray, n: int, qubits: Sequence[int]) -> np.ndarray:
    """<Z_q> = P(bit q = 0) - P(bit q = 1); p (B, 2**n) -> (B, k)."""
    B = p.shape[0]
    out = [p.reshape(B, 2**q, 2, 2 ** (n - 1 - q)).sum((1, 3)) for q in qubits]
    return np.stack([s[:, 0] - s[:, 1] for s in out], -1)


def _qubit_list(circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid] | None) -> tuple[cirq.Qid, ...]:
    return tuple(qubits) if qubits is not None else tuple(sorted(circuit.all_qubits()))


def _bits_to_index(bits: np.ndarray) -> np.ndarray:
    n = bits.shape[1]
    return bits.astype(np.int64) @ (1 << np.arange(n - 1, -1, -1))


class Backend(ABC):
    """Probabilities, Z expectations and samples for batches of parameter sets."""

    name = "abstract"

    def __init__(self, noise_p: float = 0.0, seed: cirq.RANDOM_STATE_OR_SEED_LIKE = None):
        if noise_p < 0 or noise_p > 1:
            raise ValueError(f"noise_p = {noise_p} is invalid: a probability in [0, 1]")
        self.noise_p = noise_p
        self.prng = cirq.value.parse_random_state(seed)

    @abstractmethod
    def probabilities(self, circuit: cirq.AbstractCircuit, params: Any = None,
                      symbols: Sequence[sympy.Symbol] = (), initial_state: Any = None,
                      qubits: Sequence[cirq.Qid] | None = None) -> np.ndarray:
        """(B, 2**n) probabilities of the basis states."""

    def expectation_z(self, circuit: cirq.AbstractCircuit, params: Any = None,
                      symbols: Sequence[sympy.Symbol] = (), readout: Sequence[cirq.Qid] | None = None,
                      initial_state: Any = None, qubits: Sequence[cirq.Qid] | None = None) -> np.ndarray:
        """(B, k) expectation values of Z on the ``readout`` qubits (default: all)."""
        qs = _qubit_list(circuit, qubits)
        p = self.probabilities(circuit, params, symbols, initial_state, qs)
        idx = [qs.index(q) for q in (readout if readout is not None else qs)]
        return z_from_probabilities(p, len(qs), idx)

    def sample(self, circuit: cirq.AbstractCircuit, shots: int, params: Any = None,
               symbols: Sequence[sympy.Symbol] = (), initial_state: Any = None,
               qubits: Sequence[cirq.Qid] | None = None) -> np.ndarray:
        """(B, 2**n) counts of ``shots`` measurements in the computational basis."""
        if shots < 1:
            raise ValueError(f"shots = {shots} is invalid: an integer >= 1")
        p = self.probabilities(circuit, params, symbols, initial_state, qubits)
        p = np.clip(p, 0, None)
        return np.stack([self.prng.multinomial(shots, row / row.sum()) for row in p])


class CirqBackend(Backend):
    """Reference: ``cirq.Simulator`` (complex128); ``DensityMatrixSimulator`` for exact noise."""

    name = "cirq"

    def probabilities(self, circuit, params=None, symbols=(), initial_state=None, qubits=None):
        qs = _qubit_list(circuit, qubits)
        resolvers, states = _batch(params, symbols, initial_state)
        if self.noise_p > 0:
            sim = cirq.DensityMatrixSimulator(dtype=np.complex128, seed=self.prng)
            noisy = with_depolarizing(circuit, self.noise_p)
            rows = [np.real(np.diag(sim.simulate(noisy, r, qubit_order=qs, initial_state=self._init(s)).final_density_matrix))
                    for r, s in zip(resolvers, states, strict=False)]
        else:
            sim = cirq.Simulator(dtype=np.complex128, seed=self.prng)
            rows = [np.abs(sim.simulate(circuit, r, qubit_order=qs, initial_state=self._init(s)).final_state_vector) ** 2
                    for r, s in zip(resolvers, states, strict=False)]
        return np.stack(rows)

    @staticmethod
    def _init(state):
        return None if state is None else np.asarray(state, dtype=np.complex128)


def qsim_gpu_available(gpu_mode: int = 0) -> bool:
    """Whether the installed qsimcirq can run on a GPU in ``gpu_mode`` (0: its CUDA/HIP kernels,
    ``qsimcirq.qsim_gpu``; 1: NVIDIA cuStateVec, ``qsimcirq.qsim_custatevec``). Both are None
    with the PyPI wheels (CPU-only) and on a machine where qsimcirq detects no GPU."""
    import qsimcirq
    return getattr(qsimcirq, "qsim_gpu" if gpu_mode == 0 else "qsim_custatevec", None) is not None


GPU_MODES = {0: "qsim CUDA kernels", 1: "NVIDIA cuStateVec"}


def _check_gpu(use_gpu: bool, gpu_mode: int) -> None:
    import qsimcirq
    if gpu_mode not in GPU_MODES:
        raise BackendError(f"simulator.gpu_mode = {gpu_mode} is invalid: 0 (qsim CUDA kernels) or 1 (cuStateVec)")
    if use_gpu and not qsim_gpu_available(gpu_mode):
        module = "qsimcirq.qsim_gpu" if gpu_mode == 0 else "qsimcirq.qsim_custatevec"
        raise BackendError(
            f"simulator.use_gpu is true (gpu_mode {gpu_mode}: {GPU_MODES[gpu_mode]}) but the installed qsimcirq "
            f"{qsimcirq.__version__} has no {module} (the PyPI wheels are CPU-only; a GPU build also needs a visible "
            "GPU). Build qsimcirq from source on a machine with the CUDA toolkit: scripts/build_qsim_gpu.sh "
            "(docs/gpu.md); or set simulator.use_gpu: false.")


class QsimBackend(Backend):
    """qsimcirq on ``cpu_threads`` threads, or on the GPU (``use_gpu``; ``gpu_mode`` 0 = qsim's
    CUDA kernels, 1 = cuStateVec) with a GPU build of qsimcirq; sequential over the batch.

    Besides the common interface it offers what the PQC evaluation and the energy timing need:
    :meth:`expectation_values` (exact expectation values; with noise, the mean over
    ``trajectories`` qsim trajectories) and :meth:`time_statevector`."""

    name = "qsim"

    def __init__(self, noise_p: float = 0.0, seed=None, cpu_threads: int = 2, use_gpu: bool = False,
                 trajectories: int = 200, gpu_mode: int = 0):
        super().__init__(noise_p, seed)
        import qsimcirq
        _check_gpu(use_gpu, gpu_mode)
        if trajectories < 1:
            raise ValueError(f"trajectories = {trajectories} is invalid: an integer >= 1")
        self.trajectories = trajectories
        self.options = qsimcirq.QSimOptions(cpu_threads=cpu_threads, use_gpu=use_gpu, gpu_mode=gpu_mode,
                                            ev_noisy_repetitions=trajectories if noise_p > 0 else 1)
        self.sim = qsimcirq.QSimSimulator(self.options, seed=self.prng)

    def expectation_values(self, circuit: cirq.AbstractCircuit, observables: Sequence[cirq.PauliString],
                           params: Any = None, symbols: Sequence[sympy.Symbol] = (),
                           qubits: Sequence[cirq.Qid] | None = None) -> np.ndarray:
        """(B, S) real expectation values of ``observables`` for each parameter row, computed by
        qsim's ``simulate_expectation_values_sweep``: exact without noise; with ``noise_p > 0`` the
        depolarised circuit's mean over ``trajectories`` trajectories (``ev_noisy_repetitions``)."""
        qs = _qubit_list(circuit, qubits)
        resolvers, _ = _batch(params, symbols, None)
        circ = with_depolarizing(circuit, self.noise_p) if self.noise_p > 0 else circuit
        ev = self.sim.simulate_expectation_values_sweep(circ, list(observables), resolvers, qubit_order=qs)
        return np.real(np.asarray(ev))

    def time_statevector(self, circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid] | None = None,
                         repeats: int = 3) -> float:
        """Seconds of one statevector simulation of a parameter-free ``circuit`` (resolve it first,
        so that parameter resolution is not timed): the minimum of ``repeats`` runs after one
        warm-up, the least disturbed by other load. qsim returns the final state in host memory,
        so on a GPU the time includes copying it back (8 * 2**N bytes)."""
        import time

        if cirq.is_parameterized(circuit):
            raise ValueError("time_statevector needs a circuit without free symbols: cirq.resolve_parameters first")
        qs = _qubit_list(circuit, qubits)
        self.sim.simulate(circuit, qubit_order=qs)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            self.sim.simulate(circuit, qubit_order=qs)
            times.append(time.perf_counter() - t0)
        return float(min(times))

    def final_states(self, circuit, params=None, symbols=(), initial_state=None, qubits=None) -> np.ndarray:
        """(B, 2**n) complex64 final states (one trajectory each when noisy)."""
        qs = _qubit_list(circuit, qubits)
        resolvers, states = _batch(params, symbols, initial_state)
        circ = with_depolarizing(circuit, self.noise_p) if self.noise_p > 0 else circuit
        return np.stack([self.sim.simulate(circ, r, qubit_order=qs, initial_state=self._init(s, len(qs))).final_state_vector
                         for r, s in zip(resolvers, states, strict=False)])

    def probabilities(self, circuit, params=None, symbols=(), initial_state=None, qubits=None):
        reps = self.trajectories if self.noise_p > 0 else 1
        acc = None
        for _ in range(reps):
            p = np.abs(self.final_states(circuit, params, symbols, initial_state, qubits)) ** 2
            acc = p if acc is None else acc + p
        return acc / reps

    def sample(self, circuit, shots, params=None, symbols=(), initial_state=None, qubits=None):
        if self.noise_p == 0 or initial_state is not None:
            return super().sample(circuit, shots, params, symbols, initial_state, qubits)
        # one trajectory per shot: qsim's run() samples noisy circuits that way
        qs = _qubit_list(circuit, qubits)
        resolvers, _ = _batch(params, symbols, None)
        circ = with_depolarizing(circuit, self.noise_p) + cirq.measure(*qs, key="m")
        out = np.zeros((len(resolvers), 2 ** len(qs)), dtype=np.int64)
        for b, r in enumerate(resolvers):
            bits = self.sim.run(circ, r, repetitions=shots).measurements["m"]
            np.add.at(out[b], _bits_to_index(bits), 1)
        return out

    @staticmethod
    def _init(state, n: int):
        if state is None:
            return 0
        return np.asarray(state, dtype=np.complex64).reshape(2**n)


class TorchBackend(Backend):
    """The compiled torch simulator behind the common interface (noise-free; NumPy in, NumPy out)."""

    name = "torch"

    def __init__(self, noise_p: float = 0.0, seed=None, device: str | None = None, dtype: str = "float64"):
        """``device``: a torch device; None = :func:`quantum_llm.device.resolve_device` (QUANTUM_LLM_DEVICE)."""
        if noise_p > 0:
            raise BackendError("the torch backend is a noise-free statevector simulator; "
                               "use the qsim backend (trajectories) or cirq (density matrix) for noise")
        super().__init__(noise_p, seed)
        import torch

        from ..device import resolve_device
        self.torch = torch
        self.device = resolve_device() if device is None else torch.device(device)
        self.dtype = getattr(torch, dtype)
        self._compiled: dict = {}

    def compiled(self, circuit, symbols, qubits):
        from .torch_sim import TorchCircuit
        qs = _qubit_list(circuit, qubits)
        key = (id(circuit), tuple(symbols), qs)
        if key not in self._compiled:
            # keep the circuit referenced so its id is not reused by another object
            self._compiled[key] = (circuit, TorchCircuit(circuit, symbols, qs, dtype=self.dtype))
        return self._compiled[key][1]

    def probabilities(self, circuit, params=None, symbols=(), initial_state=None, qubits=None):
        torch = self.torch
        tc = self.compiled(circuit, symbols, qubits)
        p = None if params is None else torch.as_tensor(np.asarray(params, np.float64), dtype=tc.real_dtype,
                                                        device=self.device)
        init = None
        if initial_state is not None:
            arr = np.asarray(initial_state)
            init = torch.as_tensor(arr[None] if arr.ndim == 1 else arr, device=self.device)
        with torch.no_grad():
            out = tc.probabilities(p, initial_state=init)
        from ..device import to_numpy
        return to_numpy(out).astype(np.float64)


def make_backend(name: str, *, noise_p: float = 0.0, seed=None, cpu_threads: int = 2, use_gpu: bool = False,
                 trajectories: int = 200, gpu_mode: int = 0, device: str | None = None) -> Backend:
    """Backend by name: ``qsim``, ``cirq`` or ``torch`` (``device`` None = QUANTUM_LLM_DEVICE)."""
    if name == "qsim":
        return QsimBackend(noise_p, seed, cpu_threads=cpu_threads, use_gpu=use_gpu, trajectories=trajectories,
                           gpu_mode=gpu_mode)
    if name == "cirq":
        return CirqBackend(noise_p, seed)
    if name == "torch":
        return TorchBackend(noise_p, seed, device=device)
    raise ValueError(f"unknown backend {name!r} (allowed: {', '.join(BACKENDS)})")
