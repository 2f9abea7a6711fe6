"""Test accuracy of a trained PQC head on qsim: exact, finite shots, depolarising noise.

Protocol (the paper's split of the head): the encoder module is the "classical device" and is
computed exactly (torch statevector, float64; checked against qsim on a few rows); the main module
is the "QPU" and runs on qsim:

* exact: the joint distribution of the Q_m readout bits from qsim's exact expectation values of
  every Z-product over the readout qubits (for Q_m = 1 just <Z>), then <Z> -> linear -> argmax;
* shots: ``s`` measurements drawn from that exact distribution (what qsim's sampler does for a
  noise-free circuit), <Z> estimated from the counts;
* noise: ``cirq.depolarize(p)`` after every moment on every qubit it touched
  (:func:`quantum_llm.quantum.with_depolarizing`), expectation values averaged over
  ``trajectories`` qsim quantum trajectories, on a fixed seeded subset of ``noise_rows`` test rows
  (the exact accuracy on the same subset is reported beside it).

The agreement check requires qsim's exact <Z> to match the torch simulator's within 1e-4.
"""

from __future__ import annotations

import itertools
import logging

import cirq
import numpy as np
import torch

from ..quantum.backends import make_backend, with_depolarizing
from .data import Split, amplitude_states
from .model import PQCHead

log = logging.getLogger(__name__)

AGREEMENT_ATOL = 1e-4


class AgreementError(RuntimeError):
    """qsim and the torch simulator disagree: a simulator or export bug, never a result."""


def _z_products(readout) -> tuple[list[tuple[int, ...]], list[cirq.PauliString]]:
    subsets = [s for k in range(1, len(readout) + 1) for s in itertools.combinations(range(len(readout)), k)]
    return subsets, [cirq.PauliString({readout[i]: cirq.Z for i in s}) for s in subsets]


def readout_distribution(circuit: cirq.Circuit, rows: np.ndarray, symbols, qubits, readout, *,
                         noise_p: float = 0.0, trajectories: int = 1, seed: int = 0, cpu_threads: int = 1) -> np.ndarray:
    """(B, 2**Q_m) joint probabilities of the readout bits (bit order = ``readout`` order, big-endian),
    from qsim expectation values of all Z-products: p(b) = 2**-k sum_S (-1)**(b . S) <Z_S>."""
    import qsimcirq
    subsets, observables = _z_products(readout)
    circ = with_depolarizing(circuit, noise_p) if noise_p > 0 else circuit
    opts = qsimcirq.QSimOptions(cpu_threads=cpu_threads, ev_noisy_repetitions=trajectories if noise_p > 0 else 1)
    sim = qsimcirq.QSimSimulator(opts, seed=cirq.value.parse_random_state(seed))
    resolvers = [cirq.ParamResolver(dict(zip(symbols, map(float, r), strict=True))) for r in rows]
    ev = np.real(np.asarray(sim.simulate_expectation_values_sweep(circ, observables, resolvers, qubit_order=qubits)))
    k = len(readout)
    bits = np.array(list(itertools.product((0, 1), repeat=k)))                     # (2**k, k)
    signs = np.array([[(-1) ** int(sum(b[i] for i in s)) for s in subsets] for b in bits])  # (2**k, S)
    p = (1 + ev @ signs.T) / 2**k                                                   # (B, 2**k)
    return np.clip(p, 0, None) / np.clip(p, 0, None).sum(1, keepdims=True)


def z_from_bits(p: np.ndarray) -> np.ndarray:
    """(B, 2**k) readout-bit distribution -> (B, k) <Z>."""
    k = int(np.log2(p.shape[1]))
    bits = np.array(list(itertools.product((0, 1), repeat=k)))
    return p @ (1 - 2 * bits)


def encoder_check(model: PQCHead, x: np.ndarray, cpu_threads: int = 1) -> float:
    """Max |<Z>| difference of the encoder outputs, torch vs qsim (amplitude-encoded initial state)."""
    if not model.cfg.use_encoder:
        return 0.0
    spec, backend = model.encoder_spec, make_backend("qsim", cpu_threads=cpu_threads)
    with torch.no_grad():
        z_torch = model.encoder_outputs(torch.as_tensor(x)).numpy()
    psi = amplitude_states(x)
    z_qsim = np.concatenate([backend.expectation_z(spec.circuit, w.detach().numpy(), spec.weight_symbols,
                                                   readout=spec.readout, initial_state=psi, qubits=spec.qubits)
                             for w in model.encoder_weights], -1)
    return float(np.abs(z_torch - z_qsim).max())


def _acc(model: PQCHead, z: np.ndarray, y: np.ndarray) -> float:
    return float(100.0 * (model.logits_from_z(z).argmax(-1) == y).mean())


def evaluate_head(model: PQCHead, test: Split, *, shots: list[int], noise: list[float], noise_rows: int,
                  trajectories: int, seed: int, cpu_threads: int = 1, subset_seed: int = 1234) -> dict:
    """Accuracies in percent: torch exact, qsim exact, per shot count, per noise level (subset)."""
    model.eval()
    spec = model.main_spec
    x = torch.as_tensor(test.x)
    with torch.no_grad():
        angles = model.main_angles(x).numpy()                                     # (B, E*Q_c), "classical device"
        z_torch = model.main_z(torch.as_tensor(angles)).numpy()
    rows = model.main_param_rows(angles)
    common = {"symbols": spec.symbols, "qubits": spec.qubits, "readout": spec.readout, "cpu_threads": cpu_threads}
    p_exact = readout_distribution(spec.circuit, rows, **common)
    z_qsim = z_from_bits(p_exact)
    diff = float(np.abs(z_qsim - z_torch).max())
    enc_diff = encoder_check(model, test.x[:8], cpu_threads)
    if diff > AGREEMENT_ATOL or enc_diff > AGREEMENT_ATOL:
        raise AgreementError(f"qsim vs torch <Z> differ by {diff:.2e} (main) / {enc_diff:.2e} (encoder) > {AGREEMENT_ATOL}")
    out: dict = {"n_test": len(test), "acc_torch": _acc(model, z_torch, test.y), "acc_exact": _acc(model, z_qsim, test.y),
                 "agreement": {"max_abs_z_main": diff, "max_abs_z_encoder": enc_diff, "atol": AGREEMENT_ATOL}}
    rng = np.random.default_rng(seed)
    out["acc_shots"] = {}
    for s in shots:
        counts = np.stack([rng.multinomial(s, row) for row in p_exact])           # (B, 2**Q_m)
        out["acc_shots"][str(s)] = _acc(model, z_from_bits(counts / s), test.y)
    sub = np.sort(np.random.default_rng(subset_seed).permutation(len(test))[:min(noise_rows, len(test))])
    out["noise_subset"] = {"n": int(len(sub)), "subset_seed": subset_seed, "trajectories": trajectories,
                           "acc_exact": _acc(model, z_qsim[sub], test.y[sub])}
    out["acc_noise"] = {}
    for p in noise:
        pn = readout_distribution(spec.circuit, rows[sub], noise_p=p, trajectories=trajectories, seed=seed, **common)
        out["acc_noise"][str(p)] = _acc(model, z_from_bits(pn), test.y[sub])
        log.info("noise p=%g: %.2f %% on %d rows", p, out["acc_noise"][str(p)], len(sub))
    return out
