"""Inference energy of the head's main module: statevector simulation vs a QPU (stated model).

Measured: wall time of one exact qsim statevector simulation of the main-module circuit (the
default circuits section at width N, random angles) at several N on this machine (minimum of
``repeats``). Fit: t(N) = a * G(N) * 2**N on the points with N >= ``fit_from`` (G(N) = gate count
of the circuit at width N, because the gate count grows with N too); also the plain t = a * 2**N
fit the issue asks for. Both are least squares in log space.

Energy per inference (one input through the main module; assumptions in :class:`EnergyModel`):
  simulator: E_sim(N) = P_sim * t(N) / speedup    (one exact run gives the exact probabilities)
  QPU:       E_qpu(N) = P_qpu * shots * (t_reset + t_readout + depth(N) * t_layer)
Cross-over: the smallest N with E_sim(N) >= E_qpu(N).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import cirq
import numpy as np

from ..quantum.backends import make_backend
from ..quantum.circuits import pqc_main
from ..quantum.gpu_times import GpuTimes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnergyModel:
    """Every assumption of the comparison (units in the names)."""

    sim_watts: float = 65.0          # CPU package power attributed to the simulation (desktop TDP class)
    gpu_watts: float = 700.0         # GPU board power (H100 SXM TDP) for the GPU scenario
    gpu_speedup: float = 50.0        # GPU statevector speed vs the timed CPU run (assumed, not measured)
    qpu_watts: float = 25_000.0      # superconducting QPU wall power incl. dilution refrigerator and electronics
    shots: int = 1000                # shots per inference on the QPU
    t_layer_s: float = 100e-9        # one circuit moment (2-qubit gate class) on the QPU
    t_readout_s: float = 1e-6        # measurement per shot
    t_reset_s: float = 250e-6        # reset / repetition delay per shot

    def to_dict(self) -> dict:
        return asdict(self)


def circuit_for(n: int, circuits) -> cirq.Circuit:
    return pqc_main(n, circuits.encoders * circuits.encoder_readout, circuits.reuploads, circuits.main_depth,
                    circuits.main_range, min(circuits.main_readout, n), circuits.reupload_blocks == "separate")


def time_statevector(n: int, circuits, *, repeats: int = 3, cpu_threads: int = 2, seed: int = 0) -> float:
    """Seconds of one exact qsim statevector simulation at width n: the minimum of ``repeats`` runs
    (the least disturbed by other load on a shared machine), on the project's qsim backend."""
    spec = circuit_for(n, circuits)
    rng = np.random.default_rng(seed)
    resolver = cirq.ParamResolver({s: float(v) for s, v in zip(spec.symbols, rng.uniform(-np.pi, np.pi, len(spec.symbols)),
                                                                  strict=True)})
    circuit = cirq.resolve_parameters(spec.circuit, resolver)   # time the simulation, not parameter resolution
    return make_backend("qsim", cpu_threads=cpu_threads).time_statevector(circuit, spec.qubits, repeats)


def gate_count(n: int, circuits) -> int:
    return sum(1 for _ in circuit_for(n, circuits).circuit.all_operations())


def depth(n: int, circuits) -> int:
    return len(circuit_for(n, circuits).circuit)


def fit_exponential(ns, seconds, weights=None) -> float:
    """a in t = a * w(N) * 2**N, least squares on log t (w = 1 when weights is None)."""
    ns, t = np.asarray(ns, float), np.asarray(seconds, float)
    w = np.ones_like(ns) if weights is None else np.asarray(weights, float)
    return float(np.exp(np.mean(np.log(t) - np.log(w) - ns * np.log(2))))


def qpu_seconds(n: int, circuits, m: EnergyModel) -> float:
    return m.shots * (m.t_reset_s + m.t_readout_s + depth(n, circuits) * m.t_layer_s)


def crossover(circuits, a_gate: float, m: EnergyModel, *, watts: float, speedup: float = 1.0,
              n_max: int = 80) -> int | None:
    """Smallest N with simulator energy >= QPU energy (None if not below n_max)."""
    for n in range(2, n_max + 1):
        e_sim = watts * a_gate * gate_count(n, circuits) * 2.0**n / speedup
        if e_sim >= m.qpu_watts * qpu_seconds(n, circuits, m):
            return n
    return None


def energy_report(circuits, qubits: list[int], *, repeats: int, cpu_threads: int, fit_from: int,
                  model: EnergyModel, gpu: GpuTimes | None = None, gpu_label: str = "") -> dict:
    """Measured CPU times, the fit, the cross-overs and the energy curves. ``gpu``: measured GPU times
    (``benchmarks/gpu_sim.py``); without them the GPU scenario is the assumed speed-up, and
    ``gpu_label`` says which it is."""
    measured = []
    for n in qubits:
        measured.append({"qubits": n, "seconds": time_statevector(n, circuits, repeats=repeats, cpu_threads=cpu_threads),
                         "gates": gate_count(n, circuits), "depth": depth(n, circuits)})
        log.info("N=%d: %.3g s", n, measured[-1]["seconds"])
    fit_pts = [r for r in measured if r["qubits"] >= fit_from] or measured[-2:]
    ns, ts = [r["qubits"] for r in fit_pts], [r["seconds"] for r in fit_pts]
    a_plain = fit_exponential(ns, ts)
    a_gate = fit_exponential(ns, ts, [r["gates"] for r in fit_pts])
    gpu_watts = (gpu.board_watts or model.gpu_watts) if gpu is not None else model.gpu_watts

    def gpu_joules(n: int) -> float:
        if gpu is not None:
            return gpu_watts * gpu.seconds(n, gate_count(n, circuits))
        return model.gpu_watts * a_gate * gate_count(n, circuits) * 2.0**n / model.gpu_speedup

    def qpu_joules(n: int) -> float:
        return model.qpu_watts * qpu_seconds(n, circuits, model)

    n_cpu = crossover(circuits, a_gate, model, watts=model.sim_watts)
    n_gpu = (next((n for n in range(2, 61) if gpu_joules(n) >= qpu_joules(n)), None) if gpu is not None
             else crossover(circuits, a_gate, model, watts=model.gpu_watts, speedup=model.gpu_speedup))
    curve = [{"qubits": n, "sim_cpu_joules": model.sim_watts * a_gate * gate_count(n, circuits) * 2.0**n,
              "sim_gpu_joules": gpu_joules(n), "qpu_joules": qpu_joules(n)} for n in range(2, 61, 2)]
    return {"measured": measured,
            "fit": {"model": "t = a * gates(N) * 2**N", "a_seconds": a_gate, "fit_qubits": ns,
                    "plain": {"model": "t = a * 2**N", "a_seconds": a_plain}},
            "assumptions": {**model.to_dict(), "cpu_threads": cpu_threads,
                            "simulator": "qsim statevector, complex64, this machine",
                            "gpu_times": gpu_label or f"assumed: {model.gpu_speedup:g}x the CPU simulator's speed",
                            "gpu_watts_used": gpu_watts,
                            "energy_sim": "P_sim * t(N) / speedup per inference (one exact run)",
                            "energy_qpu": "P_qpu * shots * (t_reset + t_readout + depth(N) * t_layer)",
                            "memory_note": "a complex64 state needs 8 * 2**N bytes: 80 GB at N = 33, 8 PB at N = 50"},
            "crossover_qubits": n_cpu, "crossover_qubits_gpu": n_gpu, "paper_crossover": 46, "curve": curve}
