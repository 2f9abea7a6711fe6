"""Diagnostics of why the faithful head stalls: linear probes on what a module can read out.

* ``logistic_probe``: standardised features -> LogisticRegression, C chosen on validation
  (ties -> first), accuracy on test in percent.
* ``pauli_features``: expectation values <psi|P|psi> of every Pauli string P acting on at most
  ``max_body`` of the n qubits (9 for a 384-d embedding, 10 for 768-d), for real amplitude-encoded states psi. For a real psi, <P> is zero
  when P has an odd number of Y, so only strings with an even number of Y are kept (1-body: X, Z
  on 9 qubits = 18; up to 2-body: 198; up to 3-body: 1,374). Hand-written and vectorised over rows
  (a Pauli string is a bit flip plus a sign per basis state) because evaluating 1,374 observables
  per sentence through a simulator's per-observable API is orders of magnitude slower; checked
  against cirq's PauliString expectation in the tests.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def logistic_probe(data: dict[str, tuple[np.ndarray, np.ndarray]], cs: list[float]) -> dict:
    """data: split -> (features, labels) for train / validation / test."""
    best = None
    for c in cs:
        est = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
        est.fit(*data["train"])
        val = 100 * est.score(*data["validation"])
        if best is None or val > best[0]:
            best = (val, c, est)
    val, c, est = best
    return {"C": c, "val_acc": val, "test_acc": 100 * est.score(*data["test"]), "features": int(data["train"][0].shape[1])}


def real_pauli_strings(max_body: int, n: int) -> list[tuple[tuple[int, str], ...]]:
    """Pauli strings ((qubit, 'X'|'Y'|'Z'), ...) on 1..max_body qubits with an even number of Y."""
    out = []
    for k in range(1, max_body + 1):
        for qubits in itertools.combinations(range(n), k):
            for ops in itertools.product("XYZ", repeat=k):
                if ops.count("Y") % 2 == 0:
                    out.append(tuple(zip(qubits, ops, strict=True)))
    return out


def pauli_features(states: np.ndarray, strings, n: int) -> np.ndarray:
    """(B, 2**n) real states -> (B, len(strings)) <P>; qubit 0 is the most significant bit."""
    idx = np.arange(2**n)
    bits = [(idx >> (n - 1 - q)) & 1 for q in range(n)]
    out = np.empty((states.shape[0], len(strings)))
    for j, string in enumerate(strings):
        flip, sign = np.zeros_like(idx), np.ones(2**n)
        n_y = 0
        for q, op in string:
            if op in "XY":
                flip ^= 1 << (n - 1 - q)
            if op in "YZ":
                sign = sign * (1 - 2 * bits[q])
            n_y += op == "Y"
        # P|i> = phase(i) |i ^ flip>, Y = i X Z: phase = i**n_y * (-1)**(bits of Y/Z); <psi|P|psi> real
        phase = sign * np.real(1j ** n_y)
        out[:, j] = np.einsum("bi,bi->b", states[:, idx ^ flip], states * phase)
    return out


def pauli_body_probe(splits_states: dict[str, tuple[np.ndarray, np.ndarray]], max_body: int,
                     cs: list[float]) -> list[dict]:
    """One logistic probe per body order 1..max_body (features: all real strings up to that order)."""
    n = int(np.log2(next(iter(splits_states.values()))[0].shape[1]))   # states have 2**n amplitudes
    strings = real_pauli_strings(max_body, n)
    feats = {k: (pauli_features(x, strings, n), y) for k, (x, y) in splits_states.items()}
    out = []
    for k in range(1, max_body + 1):
        m = sum(1 for s in strings if len(s) <= k)
        out.append({"max_body": k, **logistic_probe({s: (f[:, :m], y) for s, (f, y) in feats.items()}, cs)})
    return out
