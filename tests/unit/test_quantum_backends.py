"""qsim and torch against the cirq.Simulator oracle; sampling; noise; clear errors."""

import cirq
import numpy as np
import pytest
import scipy.stats
import sympy
import torch

from quantum_llm.quantum import (
    BackendError,
    TorchCircuit,
    UnsupportedGateError,
    make_backend,
    pqc_encoder,
    pqc_main,
    qpa_ansatz,
)
from quantum_llm.quantum.backends import qsim_gpu_available

ATOL = 1e-5      # probabilities and <Z>: qsim is float32, torch runs float64 here
SPECS = [
    lambda: qpa_ansatz(2, 2), lambda: qpa_ansatz(5, 3), lambda: qpa_ansatz(7, 2, "ring"),
    lambda: qpa_ansatz(8, 8),
    lambda: pqc_main(3, 4, reuploads=2, depth=1, conn_range=2, readout_qubits=1),
    lambda: pqc_main(6, 8, reuploads=2, depth=2, conn_range=3, readout_qubits=2),
    lambda: pqc_main(8, 5, reuploads=1, depth=1, conn_range=1, readout_qubits=3),
    lambda: pqc_encoder(layers=2, readout_qubits=4),
]


def _inputs(spec, rng, B=3):
    params = rng.uniform(-np.pi, np.pi, (B, len(spec.symbols)))
    init = None
    if spec.amplitude_input:
        v = rng.normal(size=(B, 2 ** len(spec.qubits)))
        init = v / np.linalg.norm(v, axis=1, keepdims=True)
    return params, init


@pytest.fixture(scope="module")
def backends():
    return {name: make_backend(name, seed=1) for name in ("cirq", "qsim", "torch")}


@pytest.mark.parametrize("make", SPECS)
def test_ansatz_agreement(make, backends):
    spec, rng = make(), np.random.default_rng(0)
    params, init = _inputs(spec, rng)
    args = dict(params=params, symbols=spec.symbols, initial_state=init, qubits=spec.qubits)
    ref_p = backends["cirq"].probabilities(spec.circuit, **args)
    ref_z = backends["cirq"].expectation_z(spec.circuit, readout=spec.readout, **args)
    for name in ("qsim", "torch"):
        p = backends[name].probabilities(spec.circuit, **args)
        z = backends[name].expectation_z(spec.circuit, readout=spec.readout, **args)
        np.testing.assert_allclose(p, ref_p, atol=ATOL, err_msg=name)
        np.testing.assert_allclose(z, ref_z, atol=ATOL, err_msg=name)


def _whitelist_domain():
    return {cirq.H: 1, cirq.X: 1, cirq.Y: 1, cirq.Z: 1, cirq.CNOT: 2, cirq.CZ: 2,
            cirq.rx(0.37): 1, cirq.ry(-1.1): 1, cirq.rz(2.3): 1}


@pytest.mark.parametrize("n,seed", [(2, 0), (3, 1), (5, 2), (7, 3), (8, 4)])
def test_random_circuit_agreement(n, seed, backends):
    qs = cirq.LineQubit.range(n)
    circuit = cirq.testing.random_circuit(qs, n_moments=12, op_density=0.8, gate_domain=_whitelist_domain(),
                                          random_state=seed)
    ref = backends["cirq"].probabilities(circuit, qubits=qs)
    for name in ("qsim", "torch"):
        np.testing.assert_allclose(backends[name].probabilities(circuit, qubits=qs), ref, atol=ATOL, err_msg=name)
    # complex amplitudes too, not only probabilities
    tc = TorchCircuit(circuit, qubits=qs, dtype=torch.float64)
    psi = cirq.Simulator(dtype=np.complex128).simulate(circuit, qubit_order=qs).final_state_vector
    np.testing.assert_allclose(tc.state().numpy()[0], psi, atol=1e-10)


def test_symbolic_random_circuit_with_long_range_and_expressions():
    a, b = sympy.symbols("a b")
    q = cirq.LineQubit.range(8)
    circuit = cirq.Circuit(cirq.H.on_each(q), cirq.rx(2 * a + 0.5).on(q[0]), cirq.CZ(q[0], q[7]),
                           cirq.CNOT(q[7], q[1]), cirq.rz(-b).on(q[6]), cirq.ry(a).on(q[3]), cirq.CNOT(q[0], q[6]))
    vals = np.array([[0.3, -1.2], [1.7, 0.4]])
    ref = make_backend("cirq").probabilities(circuit, vals, [a, b], qubits=q)
    np.testing.assert_allclose(make_backend("torch").probabilities(circuit, vals, [a, b], qubits=q), ref, atol=ATOL)


def test_unsupported_gate_is_named():
    q = cirq.LineQubit.range(3)
    with pytest.raises(UnsupportedGateError, match="CCX|TOFFOLI|CCXPowGate"):
        TorchCircuit(cirq.Circuit(cirq.TOFFOLI(*q)))
    with pytest.raises(UnsupportedGateError, match="T"):
        TorchCircuit(cirq.Circuit(cirq.T(q[0])))


def _chi_square_ok(counts, probs, alpha=1e-3):
    """Pearson chi-square on cells with expected >= 5 (others pooled); True if not rejected at alpha."""
    shots = counts.sum()
    exp = probs * shots
    big = exp >= 5
    obs_c = np.append(counts[big], counts[~big].sum())
    exp_c = np.append(exp[big], exp[~big].sum())
    keep = exp_c > 0
    stat = ((obs_c[keep] - exp_c[keep]) ** 2 / exp_c[keep]).sum()
    return scipy.stats.chi2.sf(stat, keep.sum() - 1) > alpha


@pytest.mark.parametrize("name", ["cirq", "qsim", "torch"])
def test_sampled_frequencies_chi_square(name):
    spec = qpa_ansatz(4, 2)
    params = np.random.default_rng(5).uniform(-np.pi, np.pi, (2, len(spec.symbols)))
    exact = make_backend("cirq").probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits)
    backend = make_backend(name, seed=7)
    counts = backend.sample(spec.circuit, 20000, params, spec.symbols, qubits=spec.qubits)
    assert counts.shape == (2, 16) and (counts.sum(1) == 20000).all()
    for c, p in zip(counts, exact, strict=False):
        assert _chi_square_ok(c, p)
    again = make_backend(name, seed=7).sample(spec.circuit, 20000, params, spec.symbols, qubits=spec.qubits)
    np.testing.assert_array_equal(again, counts)                        # seeded


def test_noisy_qsim_trajectories_approach_density_matrix():
    spec, p_noise, traj = qpa_ansatz(3, 2), 0.05, 400
    params = np.random.default_rng(3).uniform(-np.pi, np.pi, len(spec.symbols))
    exact = make_backend("cirq", noise_p=p_noise).probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits)
    clean = make_backend("cirq").probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits)
    qsim = make_backend("qsim", noise_p=p_noise, seed=11, trajectories=traj)
    approx = qsim.probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits)
    # trajectory mean of each probability has std <= 0.5/sqrt(traj) = 0.025; 0.05 is > 2 sigma everywhere
    assert np.abs(approx - exact).max() < 0.05
    assert np.abs(exact - clean).max() > 0.02                           # the noise is visible at all
    counts = qsim.sample(spec.circuit, 4000, params, spec.symbols, qubits=spec.qubits)
    assert _chi_square_ok(counts[0], exact[0])                          # one trajectory per shot: exact law


def test_noise_and_gpu_errors():
    with pytest.raises(BackendError, match="noise-free"):
        make_backend("torch", noise_p=0.01)
    with pytest.raises(ValueError, match="noise_p"):
        make_backend("cirq", noise_p=-0.1)
    if not qsim_gpu_available():
        with pytest.raises(BackendError, match="build qsimcirq from source|Build qsimcirq from source"):
            make_backend("qsim", use_gpu=True)


def test_with_depolarizing_follows_every_gate():
    from quantum_llm.quantum import with_depolarizing
    spec = qpa_ansatz(3, 1)
    noisy = with_depolarizing(spec.circuit, 0.1)
    n_dep = sum(isinstance(op.gate, cirq.DepolarizingChannel) for op in noisy.all_operations())
    n_gate_qubits = sum(len(m.qubits) for m in spec.circuit)
    assert n_dep == n_gate_qubits
