"""The C kernel for real RY/CNOT circuits at one parameter row (quantum_llm.quantum.c_sim)
against cirq.Simulator (complex128) and the torch simulator's small path, and where it is used."""

import logging

import cirq
import numpy as np
import pytest
import sympy
import torch

from quantum_llm import cbuild
from quantum_llm.quantum import TorchCircuit, c_sim, pqc_main, qpa_ansatz

needs_kernel = pytest.mark.skipif(not c_sim.available(), reason="no C compiler here (or QUANTUM_LLM_KERNELS=0)")


def _mixed_circuit():
    """RY with constant, scaled and offset angles, a symbol used twice, CNOTs in both directions."""
    qs = cirq.LineQubit.range(4)
    a, b = sympy.symbols("a b")
    circuit = cirq.Circuit([cirq.ry(a).on(qs[0]), cirq.ry(0.4).on(qs[1]), cirq.CNOT(qs[3], qs[0]),
                            cirq.ry(2 * b + 0.3).on(qs[2]), cirq.CNOT(qs[1], qs[2]), cirq.ry(-a).on(qs[3]),
                            cirq.CNOT(qs[0], qs[3]), cirq.ry(b).on(qs[1])])
    return circuit, (a, b), qs


CASES = [lambda: (lambda s: (s.circuit, s.weight_symbols, s.qubits))(qpa_ansatz(7, 8)),
         lambda: (lambda s: (s.circuit, s.weight_symbols, s.qubits))(qpa_ansatz(5, 3, "ring")),
         lambda: (lambda s: (s.circuit, s.weight_symbols, s.qubits))(qpa_ansatz(1, 2)),
         _mixed_circuit]


@needs_kernel
@pytest.mark.parametrize("make", CASES)
def test_probabilities_and_gradients_match_cirq_and_the_small_path(make, monkeypatch):
    """float64: probabilities to 1e-12 of cirq's complex128 states; probabilities and the gradient
    of a random linear function of them to 1e-12 of the small path (the same arithmetic, another
    order); float32 input: to 1e-6 (the kernel computes in double either way)."""
    calls = []
    real = c_sim.RealProgram.probabilities
    monkeypatch.setattr(c_sim.RealProgram, "probabilities", lambda self, th: calls.append(1) or real(self, th))
    circuit, symbols, qubits = make()
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, len(symbols))
    fast = TorchCircuit(circuit, symbols, qubits=qubits, dtype=torch.float64)
    small = TorchCircuit(circuit, symbols, qubits=qubits, dtype=torch.float64, path="small")
    assert fast.real is not None
    resolved = cirq.resolve_parameters(circuit, dict(zip(symbols, theta, strict=True)))
    ref = np.abs(cirq.Simulator(dtype=np.complex128).simulate(resolved, qubit_order=qubits).final_state_vector) ** 2
    w = torch.tensor(rng.normal(size=2 ** len(qubits)))
    grads = []
    for tc in (fast, small):
        th = torch.tensor(theta, requires_grad=True)
        p = tc.probabilities(th)
        assert p.shape == (1, 2 ** len(qubits))
        (p[0] @ w).backward()
        grads.append((p.detach()[0], th.grad))
    assert len(calls) == 1                   # the first (auto) circuit ran the kernel, the small path did not
    np.testing.assert_allclose(grads[0][0].numpy(), ref, atol=1e-12)
    for x, y in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-12)
    th32 = torch.tensor(theta, dtype=torch.float32, requires_grad=True)
    p32 = TorchCircuit(circuit, symbols, qubits=qubits).probabilities(th32)[0]
    (p32 @ w.float()).backward()
    assert p32.dtype == th32.grad.dtype == torch.float32
    np.testing.assert_allclose(p32.detach().numpy(), ref, atol=1e-6)
    np.testing.assert_allclose(th32.grad.numpy(), grads[1][1].numpy(), atol=1e-6 * max(1.0, grads[1][1].abs().max()))


@needs_kernel
def test_used_only_where_it_applies(monkeypatch):
    """The kernel runs for probabilities at one parameter row on path auto; not for states, a
    batch of rows, an initial state, a forced path, or a circuit with another gate."""
    calls = []
    real = c_sim.RealProgram.probabilities
    monkeypatch.setattr(c_sim.RealProgram, "probabilities", lambda self, th: calls.append(1) or real(self, th))
    spec = qpa_ansatz(4, 2)
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64)
    th = torch.rand(len(spec.symbols), dtype=torch.float64)
    tc.probabilities(th)
    assert len(calls) == 1
    tc.state(th)
    tc.probabilities(th[None].expand(3, -1))
    tc.probabilities(th, initial_state=torch.eye(16, dtype=torch.float64)[:1])
    TorchCircuit.from_spec(spec, dtype=torch.float64, path="small").probabilities(th)
    assert len(calls) == 1
    assert TorchCircuit.from_spec(pqc_main(4, 5, reuploads=1, depth=1, conn_range=1, readout_qubits=1)).real is not None
    q = cirq.LineQubit.range(2)
    assert TorchCircuit(cirq.Circuit([cirq.H(q[0]), cirq.CNOT(*q)]), (), qubits=q).real is None
    assert TorchCircuit(cirq.Circuit([cirq.ry(0.3).on(q[0]), cirq.CZ(*q)]), (), qubits=q).real is None
    assert TorchCircuit.from_spec(qpa_ansatz(c_sim.MAX_QUBITS + 1, 1)).real is None   # larger: the blocked path


def test_without_a_compiler_the_small_path_runs(monkeypatch, caplog):
    """CC pointing nowhere: one warning, and the same probabilities from the torch path."""
    spec = qpa_ansatz(4, 2)
    th = torch.rand(len(spec.symbols), dtype=torch.float64)
    want = TorchCircuit.from_spec(spec, dtype=torch.float64, path="small").probabilities(th)
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.delenv(cbuild.ENV_SWITCH, raising=False)   # (the suite may run with the kernels off)
    c_sim._lib.cache_clear()
    cbuild.load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="quantum_llm.cbuild"):
            got = TorchCircuit.from_spec(spec, dtype=torch.float64).probabilities(th)
        assert not c_sim.available()
    finally:
        c_sim._lib.cache_clear()
        cbuild.load.cache_clear()
    assert "no C compiler found" in caplog.text
    assert torch.equal(got, want)
