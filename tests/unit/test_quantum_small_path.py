"""The torch simulator's two paths (small-state and blocked) against cirq.Simulator and each other."""

import cirq
import numpy as np
import pytest
import sympy
import torch

from quantum_llm.quantum import TorchCircuit, pqc_encoder, pqc_main, qpa_ansatz, torch_small

PATHS = ["small", "blocked"]
SPECS = [lambda: qpa_ansatz(2, 2), lambda: qpa_ansatz(7, 8), lambda: qpa_ansatz(9, 3, "ring"),
         lambda: pqc_main(7, 8, reuploads=2, depth=1, conn_range=2, readout_qubits=1),
         lambda: pqc_main(5, 7, reuploads=3, depth=2, conn_range=3, readout_qubits=2),
         lambda: pqc_encoder(layers=2, readout_qubits=8)]


def _cirq_states(spec, params, init):
    sim = cirq.Simulator(dtype=np.complex128)
    out = []
    for b, row in enumerate(params):
        resolved = cirq.resolve_parameters(spec.circuit, dict(zip(spec.symbols, row, strict=True)))
        kw = {} if init is None else {"initial_state": init[b].astype(np.complex128)}
        out.append(sim.simulate(resolved, qubit_order=spec.qubits, **kw).final_state_vector)
    return np.array(out)


def _inputs(spec, rng, B=3):
    params = rng.uniform(-np.pi, np.pi, (B, len(spec.symbols)))
    init = None
    if spec.amplitude_input:
        v = rng.normal(size=(B, 2 ** len(spec.qubits)))
        init = v / np.linalg.norm(v, axis=1, keepdims=True)
    return params, init


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("make", SPECS)
def test_states_match_cirq_with_shared_and_per_sample_parameters(make, path):
    """Final states to 1e-10 (complex128 reference, float64 here): per-sample params (B, P), and
    shared weights with per-sample data passed apart (the Kronecker-column case on the small path)."""
    spec, rng = make(), np.random.default_rng(0)
    params, init = _inputs(spec, rng)
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64, path=path)
    t_init = None if init is None else torch.tensor(init)
    ref = _cirq_states(spec, params, init)
    np.testing.assert_allclose(tc.state(torch.tensor(params), initial_state=t_init).numpy(), ref, atol=1e-10)
    n_d = len(spec.data_symbols)
    shared = params.copy()
    shared[:, n_d:] = params[0, n_d:]
    data = torch.tensor(shared[:, :n_d]) if n_d else None
    got = tc.state(weights=torch.tensor(shared[0, n_d:]), data=data, initial_state=t_init, batch_size=3)
    np.testing.assert_allclose(got.numpy(), _cirq_states(spec, shared, init), atol=1e-10)


def _whitelist_domain():
    return {cirq.H: 1, cirq.X: 1, cirq.Y: 1, cirq.Z: 1, cirq.CNOT: 2, cirq.CZ: 2,
            cirq.rx(0.37): 1, cirq.ry(-1.1): 1, cirq.rz(2.3): 1}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("n,seed", [(1, 0), (3, 1), (6, 2), (9, 3)])
def test_random_whitelist_circuits_match_cirq(n, seed, path):
    """Every whitelisted gate, constant angles, long-range CNOT / CZ, complex states."""
    qs = cirq.LineQubit.range(n)
    domain = _whitelist_domain() if n > 1 else {g: k for g, k in _whitelist_domain().items() if k == 1}
    circuit = cirq.testing.random_circuit(qs, n_moments=14, op_density=0.8, gate_domain=domain, random_state=seed)
    tc = TorchCircuit(circuit, qubits=qs, dtype=torch.float64, path=path)
    psi = cirq.Simulator(dtype=np.complex128).simulate(circuit, qubit_order=qs).final_state_vector
    np.testing.assert_allclose(tc.state().numpy()[0], psi, atol=1e-10)


def test_symbolic_expressions_and_mixed_kinds_match_between_paths():
    """Angles a + b*symbol in RX / RY / RZ columns (a complex Kronecker column), long-range gates:
    states and gradients of both paths agree to 1e-10."""
    a, b, c = sympy.symbols("a b c")
    q = cirq.LineQubit.range(6)
    circuit = cirq.Circuit(cirq.H.on_each(*q), cirq.rx(2 * a - 0.5).on(q[0]), cirq.ry(b).on(q[1]), cirq.rz(-c).on(q[2]),
                           cirq.ry(a + 1).on(q[3]), cirq.CNOT(q[0], q[5]), cirq.CZ(q[5], q[1]), cirq.rx(c).on(q[5]),
                           cirq.ry(0.3).on(q[4]), cirq.CNOT(q[4], q[0]), cirq.Y(q[2]), cirq.rz(b).on(q[4]))
    p0 = torch.tensor([0.4, -1.2, 2.1], dtype=torch.float64)
    coef = torch.linspace(-1, 1, 64, dtype=torch.float64)
    out = {}
    for path in PATHS:
        tc = TorchCircuit(circuit, [a, b, c], q, dtype=torch.float64, path=path)
        p = p0.clone().requires_grad_()
        s = tc.state(p)
        (tc.probabilities(p) @ coef).sum().backward()
        out[path] = (s.detach(), p.grad)
    for x, y in zip(out["small"], out["blocked"], strict=True):
        torch.testing.assert_close(x, y, atol=1e-10, rtol=0)


@pytest.mark.parametrize("make", SPECS)
def test_gradients_of_both_paths_agree(make):
    """Weight, data and per-sample gradients, float64, to 1e-10: the small path's autograd
    against the blocked path's adjoint sweep."""
    spec, rng = make(), np.random.default_rng(5)
    B, n_d = 4, len(spec.data_symbols)
    w0 = rng.uniform(-3, 3, len(spec.weight_symbols))
    x0 = rng.uniform(-3, 3, (B, n_d))
    _, init = _inputs(spec, rng, B)
    coef = torch.tensor(rng.normal(size=2 ** len(spec.qubits)))
    grads = {}
    for path in PATHS:
        tc = TorchCircuit.from_spec(spec, dtype=torch.float64, path=path)
        w = torch.tensor(w0, requires_grad=True)
        x = torch.tensor(x0, requires_grad=True) if n_d else None
        (tc.probabilities(weights=w, data=x, initial_state=None if init is None else torch.tensor(init),
                          batch_size=B) @ coef).sum().backward()
        grads[path] = torch.cat([w.grad] + ([x.grad.flatten()] if n_d else []))
    torch.testing.assert_close(grads["small"], grads["blocked"], atol=1e-10, rtol=0)


def test_auto_path_choice(monkeypatch):
    """auto: the small path for small states, the blocked one for large states, and between the
    two sizes only for circuits whose rotations mostly sit in Kronecker columns."""
    qpa, main = TorchCircuit.from_spec(qpa_ansatz(12, 8)), TorchCircuit.from_spec(pqc_main(10, 8))
    assert qpa.small.gate_by_gate == 0 and main.small.gate_by_gate > torch_small.MAX_GATE_BY_GATE
    assert qpa.small.preferred(1) and qpa.small.preferred(16) and not qpa.small.preferred(17)
    assert main.small.preferred(8) and not main.small.preferred(9)
    used = []
    monkeypatch.setattr(TorchCircuit, "_small_state", lambda self, *a: used.append(True) or torch.zeros(1))
    theta = torch.zeros(len(qpa.symbols))
    qpa.state(theta)
    qpa.state(theta.expand(17, -1))
    assert used == [True]
    with pytest.raises(ValueError, match="path"):
        TorchCircuit.from_spec(qpa_ansatz(2, 1), path="dense")
