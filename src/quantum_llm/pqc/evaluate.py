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
  ``trajectories`` qsim quantum trajectories, on a fixed seeded subset of ``noise_rows`` test rows.

Every evaluation returns per-row correctness, so shots and noise are paired with the exact
evaluation on the same rows (quantum_llm.pqc.paired turns them into paired differences).

The agreement check requires qsim's exact <Z> to match the torch simulator's within 1e-4.
"""

from __future__ import annotations

import itertools
import logging

import cirq
import numpy as np
import torch

from ..quantum.backends import make_backend
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
                         noise_p: float = 0.0, trajectories: int = 1, seed: int = 0,
                         qsim: dict | None = None) -> np.ndarray:
    """(B, 2**Q_m) joint probabilities of the readout bits (bit order = ``readout`` order, big-endian),
    from qsim expectation values of all Z-products: p(b) = 2**-k sum_S (-1)**(b . S) <Z_S>.
    ``qsim``: the qsim backend's options (cpu_threads, use_gpu, gpu_mode)."""
    subsets, observables = _z_products(readout)
    backend = make_backend("qsim", noise_p=noise_p, seed=seed, trajectories=trajectories, **(qsim or {}))
    ev = backend.expectation_values(circuit, observables, rows, symbols, qubits=qubits)
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


def encoder_check(model: PQCHead, x: np.ndarray, qsim: dict | None = None) -> float:
    """Max |<Z>| difference of the encoder outputs, torch vs qsim (amplitude-encoded initial state)."""
    if not model.cfg.use_encoder:
        return 0.0
    spec, backend = model.encoder_spec, make_backend("qsim", **(qsim or {}))
    with torch.no_grad():
        z_torch = model.encoder_outputs(torch.as_tensor(x)).numpy()
    psi = amplitude_states(x)
    z_qsim = np.concatenate([backend.expectation_z(spec.circuit, w.detach().numpy(), spec.weight_symbols,
                                                   readout=spec.readout, initial_state=psi, qubits=spec.qubits)
                             for w in model.encoder_weights], -1)
    return float(np.abs(z_torch - z_qsim).max())


def _correct(model: PQCHead, z: np.ndarray, y: np.ndarray, z_front: np.ndarray | None) -> np.ndarray:
    """Per-row correctness (0/1) of the logits from main-module <Z> (and the first module's outputs)."""
    front = z_front if model.cfg.head_input == "encoder_and_main" else None
    return (model.logits_from_z(z, front).argmax(-1) == y).astype(np.int8)


def noise_subset(n_test: int, rows: int, seed: int) -> np.ndarray:
    """Sorted indices of the seeded test rows of the noisy evaluation (all rows when rows >= n_test)."""
    return np.sort(np.random.default_rng(seed).permutation(n_test)[:min(rows, n_test)])


def evaluate_head(model: PQCHead, test: Split, *, shots: list[int], noise: list[float], noise_rows: int,
                  trajectories: int, seed: int, qsim: dict | None = None, subset_seed: int = 1234) -> dict:
    """Per-row correctness (0/1) on the test split: torch exact, qsim exact, per shot count (every row),
    per noise level on the seeded subset ``rows`` (with exact on the same rows: ``exact_on_noise_rows``).
    ``qsim``: the qsim backend's options (cpu_threads, use_gpu, gpu_mode)."""
    model.eval()
    spec = model.main_spec
    with torch.no_grad():
        z_front = model.encoder_outputs(torch.as_tensor(test.x))                  # "classical device"
        angles = (model.input_scale * z_front).numpy()
        z_torch = model.main_z(torch.as_tensor(angles)).numpy()
    z_front = z_front.numpy()
    rows = model.main_param_rows(angles)
    common = {"symbols": spec.symbols, "qubits": spec.qubits, "readout": spec.readout, "qsim": qsim}
    p_exact = readout_distribution(spec.circuit, rows, **common)
    z_qsim = z_from_bits(p_exact)
    diff = float(np.abs(z_qsim - z_torch).max())
    enc_diff = encoder_check(model, test.x[:8], qsim)
    if diff > AGREEMENT_ATOL or enc_diff > AGREEMENT_ATOL:
        raise AgreementError(f"qsim vs torch <Z> differ by {diff:.2e} (main) / {enc_diff:.2e} (encoder) > {AGREEMENT_ATOL}")
    out: dict = {"n_test": len(test), "torch": _correct(model, z_torch, test.y, z_front),
                 "exact": _correct(model, z_qsim, test.y, z_front),
                 "agreement": {"max_abs_z_main": diff, "max_abs_z_encoder": enc_diff, "atol": AGREEMENT_ATOL}}
    rng = np.random.default_rng(seed)
    out["shots"] = {}
    for s in shots:
        counts = np.stack([rng.multinomial(s, row) for row in p_exact])           # (B, 2**Q_m)
        out["shots"][str(s)] = _correct(model, z_from_bits(counts / s), test.y, z_front)
    out["noise"] = {}
    if noise:
        sub = noise_subset(len(test), noise_rows, subset_seed)
        out["noise_rows"] = sub
        for p in noise:
            pn = readout_distribution(spec.circuit, rows[sub], noise_p=p, trajectories=trajectories, seed=seed, **common)
            out["noise"][str(p)] = _correct(model, z_from_bits(pn), test.y[sub], z_front[sub])
            log.info("noise p=%g: %.2f %% on %d rows", p, 100 * out["noise"][str(p)].mean(), len(sub))
    return out
