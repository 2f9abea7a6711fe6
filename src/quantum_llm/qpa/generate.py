"""Quantum-weight generation: the trained QNN runs on a circuit simulator (the generate_qpa
stage uses qsim, with ``simulator.cpu_threads``, ``use_gpu``, ``trajectories`` and ``seed``),
exactly, with finite shots, or with depolarising gate noise, and its probabilities feed the
trained mapping model (and, for the gated QPA, its trained gate on lora_B). The torch simulator
is only used for training; with exact probabilities the generated weights must equal the
torch-trained ones (checked by the stage). Variant names: ``qsim_exact``, ``shots_<k>``,
``noise_<p>``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..quantum.backends import Backend
from .generator import QPAGenerator

log = logging.getLogger(__name__)


@dataclass
class Generated:
    flat: dict[str, torch.Tensor]      # variant -> flat LoRA vector (m,)
    probs: dict[str, np.ndarray]       # variant -> probabilities used (2**N,)
    max_abs_prob_diff: float           # exact simulator vs torch probabilities
    max_abs_weight_diff: float         # weights from exact simulator probabilities vs torch-trained weights


@torch.no_grad()
def generate(gen: QPAGenerator, exact: Backend, sampler: Backend, noisy: dict[float, Backend],
             shots: list[int]) -> Generated:
    src = gen.probs
    cs = src.circuit_spec
    theta = src.theta.detach().double().numpy()

    def run(backend: Backend, k: int | None = None) -> np.ndarray:
        if k is None:
            return backend.probabilities(cs.circuit, theta, cs.weight_symbols, qubits=cs.qubits)[0]
        return backend.sample(cs.circuit, k, theta, cs.weight_symbols, qubits=cs.qubits)[0] / k

    probs = {"qsim_exact": run(exact)}
    probs.update({f"shots_{k}": run(sampler, k) for k in shots})
    probs.update({f"noise_{p:g}": run(b) for p, b in noisy.items()})
    flat = {v: gen.generate_from_probs(torch.as_tensor(p, dtype=torch.float32)) for v, p in probs.items()}
    torch_p, torch_flat = src().double().numpy(), gen()
    out = Generated(flat, probs, float(np.abs(probs["qsim_exact"] - torch_p).max()),
                    float((flat["qsim_exact"] - torch_flat).abs().max()))
    log.info("exact %s vs torch: max |dp| = %.2e, max |dw| = %.2e", type(exact).__name__,
             out.max_abs_prob_diff, out.max_abs_weight_diff)
    return out
