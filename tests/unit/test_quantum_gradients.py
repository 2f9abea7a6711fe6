"""Adjoint gradients of the torch simulator against parameter-shift on qsim and finite differences."""

import cirq
import numpy as np
import pytest
import sympy
import torch

from quantum_llm.quantum import TorchCircuit, make_backend, pqc_encoder, pqc_main, qpa_ansatz

GRAD_ATOL = 1e-4   # parameter shift on qsim: differences of float32 expectation values (~1e-6 each)


def _loss_weights(k):
    return np.linspace(1.0, -0.5, k)


def _one_symbol_per_gate(spec):
    """The circuit with every RY occurrence of a symbol renamed apart, and which symbol each came from."""
    origin, count = [], {}

    def rename(op):
        if isinstance(op.gate, cirq.Ry) and cirq.is_parameterized(op):
            (s,) = cirq.parameter_symbols(op)
            k = count[s] = count.get(s, -1) + 1
            new = sympy.Symbol(f"{s.name}__{k}")
            origin.append((new, s))
            return cirq.ry(new).on(*op.qubits)
        return op
    return cirq.map_operations(spec.circuit, lambda op, _: rename(op)), origin


def _shift_grad(backend, spec, values, init, readout_w):
    """d/dtheta of sum_k w_k <Z_k> by the parameter-shift rule, summed over each symbol's RY gates."""
    circuit, origin = _one_symbol_per_gate(spec)
    col = {s: i for i, s in enumerate(spec.symbols)}
    expanded = values[..., [col[s] for _, s in origin]]
    syms = [new for new, _ in origin]

    def f(v):
        z = backend.expectation_z(circuit, v, syms, spec.readout, init, spec.qubits)
        return (z @ readout_w).sum()
    grads = dict.fromkeys(spec.weight_symbols, 0.0)
    for j, (_, s) in enumerate(origin):
        if s not in grads:
            continue
        plus, minus = expanded.copy(), expanded.copy()
        plus[..., j] += np.pi / 2
        minus[..., j] -= np.pi / 2
        grads[s] += (f(plus) - f(minus)) / 2
    return np.array([grads[s] for s in spec.weight_symbols])


PATHS = ["small", "blocked"]   # TorchCircuit(path=): the gradients must hold on both


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("make", [lambda: qpa_ansatz(4, 3), lambda: qpa_ansatz(6, 2, "ring"),
                                  lambda: pqc_main(4, 5, reuploads=2, depth=1, conn_range=2, readout_qubits=2),
                                  lambda: pqc_encoder(layers=1, readout_qubits=3)])
def test_adjoint_matches_parameter_shift_on_qsim(make, path):
    spec, rng = make(), np.random.default_rng(0)
    B = 2
    data = rng.uniform(-np.pi, np.pi, (B, len(spec.data_symbols)))
    weights = rng.uniform(-np.pi, np.pi, len(spec.weight_symbols))
    init = None
    if spec.amplitude_input:
        v = rng.normal(size=(B, 512))
        init = v / np.linalg.norm(v, axis=1, keepdims=True)
    w = _loss_weights(len(spec.readout))
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64, path=path)
    wt = torch.tensor(weights, requires_grad=True)
    z = tc.expectation_z(weights=wt, data=torch.tensor(data) if spec.data_symbols else None,
                         initial_state=None if init is None else torch.tensor(init), batch_size=B,
                         qubits=[spec.qubits.index(q) for q in spec.readout])
    (z @ torch.tensor(w)).sum().backward()
    values = np.concatenate([data, np.broadcast_to(weights, (B, len(weights)))], 1)
    ref = _shift_grad(make_backend("qsim"), spec, values, init, w)
    np.testing.assert_allclose(wt.grad.numpy(), ref, atol=GRAD_ATOL)


@pytest.mark.parametrize("path", PATHS)
def test_per_sample_data_gradients_match_finite_differences(path):
    spec = pqc_main(4, 6, reuploads=3, depth=1, conn_range=2, readout_qubits=1)
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64, path=path)
    rng = np.random.default_rng(1)
    w = torch.tensor(rng.uniform(-3, 3, len(spec.weight_symbols)), requires_grad=True)
    x = torch.tensor(rng.uniform(-3, 3, (3, 6)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, x: tc.expectation_z(weights=w, data=x, qubits=[0]).sum(), (w, x))


@pytest.mark.parametrize("path", PATHS)
def test_complex_gates_gradients_match_finite_differences(path):
    a, b, c = sympy.symbols("a b c")
    q = cirq.LineQubit.range(7)
    circuit = cirq.Circuit(cirq.H.on_each(q), cirq.rx(a).on(q[0]), cirq.CZ(q[0], q[6]), cirq.rz(2 * b - 1).on(q[6]),
                           cirq.CNOT(q[6], q[2]), cirq.Y(q[3]), cirq.ry(c).on(q[2]), cirq.rx(-a).on(q[5]),
                           cirq.CNOT(q[1], q[2]))
    tc = TorchCircuit(circuit, [a, b, c], q, dtype=torch.float64, path=path)
    assert tc.dtype == torch.complex128
    p = torch.tensor([[0.3, -0.8, 1.1], [2.0, 0.1, -0.4]], dtype=torch.float64, requires_grad=True)
    weights = torch.linspace(-1, 1, 2**7, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: (tc.probabilities(p) @ weights).sum(), (p,))


@pytest.mark.parametrize("path", PATHS)
def test_float32_default_and_no_grad_path(path):
    spec = qpa_ansatz(5, 2)
    tc = TorchCircuit(spec.circuit, spec.symbols, spec.qubits, path=path)
    theta = torch.rand(len(spec.symbols), requires_grad=True)
    p = tc.probabilities(theta, batch_size=3)
    assert p.dtype == torch.float32 and p.shape == (3, 32)
    torch.testing.assert_close(p.sum(1), torch.ones(3), atol=1e-5, rtol=0)
    p[:, 0].sum().backward()
    assert theta.grad is not None and torch.isfinite(theta.grad).all()


@pytest.mark.parametrize("chunk", [128, 512])  # >= the widest block row (128)
def test_tiny_scratch_chunks_give_the_same_states_and_gradients(monkeypatch, chunk):
    """Rows longer than the scratch buffer are split (along R, A and the CNOT swap halves):
    the result must not depend on the chunk size (shared, per-sample and long-range ops)."""
    from quantum_llm.quantum import torch_sim
    spec = pqc_main(9, 7, reuploads=2, depth=1, conn_range=3, readout_qubits=2)
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64, path="blocked")
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.uniform(-3, 3, (2, 7)), requires_grad=True)
    coef = torch.tensor(rng.normal(size=2**9))

    w0 = rng.uniform(-3, 3, len(spec.weight_symbols))

    def run():
        w = torch.tensor(w0, requires_grad=True)
        s = tc.state(weights=w, data=x)
        p = tc.probabilities(weights=w, data=x)
        ((s.square() @ coef).sum() + (p @ coef).sum()).backward()
        out = s.detach().clone(), p.detach().clone(), w.grad.clone(), x.grad.clone()
        x.grad = None
        return out

    ref = run()
    monkeypatch.setattr(torch_sim, "CHUNK_ELEMS", chunk)
    strided, in_backward, mult, backward_block = [], [], torch_sim._mult, torch_sim._backward_block

    def spy_block(*args, **kw):
        in_backward.append(True)
        try:
            return backward_block(*args, **kw)
        finally:
            in_backward.pop()

    def spy_mult(kind, src, U, out):
        strided.append(bool(in_backward) and not src.is_contiguous())
        return mult(kind, src, U, out)
    monkeypatch.setattr(torch_sim, "_backward_block", spy_block)
    monkeypatch.setattr(torch_sim, "_mult", spy_mult)
    for a, b in zip(run(), ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    # the backward's un-compute of rows split along R (through the scratch buffer) ran at 128 only
    assert any(strided) == (chunk < 512)


def test_data_without_gradient_is_not_contracted(monkeypatch):
    """Data passed apart with requires_grad=False: the weight gradients are those of the same data
    with requires_grad=True (float64, to 1e-12), no per-sample block is contracted, and the
    sweep stops before the leading encoding blocks."""
    from quantum_llm.quantum import torch_sim
    spec = pqc_main(6, 8, reuploads=2, depth=1, conn_range=2, readout_qubits=2)
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64, path="blocked")
    rng = np.random.default_rng(9)
    w0 = rng.uniform(-3, 3, len(spec.weight_symbols))
    x0 = torch.tensor(rng.uniform(-3, 3, (3, 8)))
    calls, backward_block = [], torch_sim._backward_block

    def spy(psi, lam, U, *args, **kw):
        calls.append((U.dim() == 3, args[4]))   # (per-sample block, need_grad)
        return backward_block(psi, lam, U, *args, **kw)
    monkeypatch.setattr(torch_sim, "_backward_block", spy)

    def grad(x):
        calls.clear()
        w = torch.tensor(w0, requires_grad=True)
        tc.expectation_z(weights=w, data=x, qubits=[0, 5]).sum().backward()
        return w.grad, list(calls)

    g_with, calls_with = grad(x0.clone().requires_grad_())
    g_without, calls_without = grad(x0.clone())
    torch.testing.assert_close(g_without, g_with, atol=1e-12, rtol=0)
    assert (True, True) in calls_with and (True, True) not in calls_without
    leading = next(i for i, op in enumerate(tc.program.ops) if not getattr(op, "batched", False))
    assert leading > 0 and len(calls_without) == len(calls_with) - leading


def test_long_row_contraction_split_matches_finite_differences():
    """Batch 1 on 14 qubits: the window at qubit 0 is one row of R = 512 amplitudes, where the
    gradient contraction is a single (d, R) @ (R, d) product (a separate code path from the
    batched one)."""
    spec = qpa_ansatz(14, 1)
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64, path="blocked")
    coef = torch.linspace(-1, 1, 2**14, dtype=torch.float64)
    theta = torch.tensor(np.random.default_rng(4).uniform(-3, 3, 14), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: tc.probabilities(t) @ coef, (theta,))


def _tail_sub_window_circuit():
    """CNOTs then RYs on qubits 1-2 of 5, all in one block on qubits 0..4 (R = 1): its sub-window
    1..2 has a right part of 4 amplitudes (the GEMM-then-partial-trace path)."""
    q = cirq.LineQubit.range(5)
    a, b = sympy.symbols("a b")
    circuit = cirq.Circuit([cirq.H(q[4]), cirq.H(q[0]), cirq.CNOT(q[0], q[1]), cirq.CNOT(q[1], q[2]),
                            cirq.ry(a).on(q[1]), cirq.ry(b).on(q[2])])
    return circuit, (a, b)


def _complex_sub_window_circuit():
    """A CNOT chain then RX / RZ on qubits 2..4 of 7 (a complex state) with shared weights."""
    q = cirq.LineQubit.range(7)
    a, b, c = sympy.symbols("a b c")
    circuit = cirq.Circuit([cirq.H.on_each(*q), cirq.CNOT(q[1], q[2]), cirq.CNOT(q[2], q[3]), cirq.CNOT(q[3], q[4]),
                            cirq.CNOT(q[4], q[5]), cirq.rx(a).on(q[2]), cirq.rz(b).on(q[3]), cirq.rx(c).on(q[4])])
    return circuit, (a, b, c)


@pytest.mark.parametrize("chunk", [None, 128])   # 128: rows split along R, the partial-trace path
def test_sub_window_contraction_gives_the_full_windows_gradients(monkeypatch, chunk):
    """Blocks whose parameterised gates end on a narrower sub-window (a CNOT chain then an RY
    column) contract only that sub-window; the angle gradients must equal the full window's
    (float64 / complex128, to 1e-10), with whole and split chunks, shared and per-sample data, a
    complex circuit, through probabilities() and state()."""
    from quantum_llm.quantum import torch_sim
    if chunk is not None:
        monkeypatch.setattr(torch_sim, "CHUNK_ELEMS", chunk)
    paths = set()
    sub_cross = torch_sim._sub_cross

    def spy(kind, q, p, d, sub):
        inner = q.numel() // (q.shape[0] * d)
        paths.add("split" if not q.is_contiguous() else "sub" if sub[2] * inner >= 8
                  else "sub+trace" if sub[0] > 1 else "full")
        return sub_cross(kind, q, p, d, sub)
    monkeypatch.setattr(torch_sim, "_sub_cross", spy)
    with_sub = torch_sim._Block.__dict__["grad_window"]
    rng = np.random.default_rng(7)
    tail, tail_symbols = _tail_sub_window_circuit()
    cplx, cplx_symbols = _complex_sub_window_circuit()
    cases = [(TorchCircuit(tail, tail_symbols, dtype=torch.float64, path="blocked"), 2, 0),
             (TorchCircuit(cplx, cplx_symbols, dtype=torch.complex128, path="blocked"), 3, 0)]
    assert not cases[1][0].is_real
    for spec in (qpa_ansatz(9, 3), pqc_main(9, 7, reuploads=2, depth=1, conn_range=2, readout_qubits=2)):
        cases.append((TorchCircuit.from_spec(spec, dtype=torch.float64, path="blocked"), len(spec.weight_symbols),
                      len(spec.data_symbols)))
    for tc, n_w, n_x in cases:
        blocks = [op for op in tc.program.ops if isinstance(op, torch_sim._Block)]
        assert any(b.grad_window is not None for b in blocks)
        w0 = rng.uniform(-3, 3, n_w)
        x = torch.tensor(rng.uniform(-3, 3, (3, n_x))) if n_x else None
        coef = torch.tensor(rng.normal(size=2**tc.n))

        def grad(tc=tc, w0=w0, x=x, coef=coef):   # through probabilities() and through state()
            w = torch.tensor(w0, requires_grad=True)
            (tc.probabilities(weights=w, data=x, batch_size=3) @ coef).sum().backward()
            g_probs, w.grad = w.grad, None
            s = tc.state(weights=w, data=x, batch_size=3)
            ((s.real.square() + s.imag.square()) @ coef if s.is_complex() else s.square() @ coef).sum().backward()
            return torch.cat([g_probs, w.grad])

        sub = grad()
        monkeypatch.setattr(torch_sim._Block, "grad_window", property(lambda self: None))
        full = grad()
        monkeypatch.setattr(torch_sim._Block, "grad_window", with_sub)
        torch.testing.assert_close(sub, full, atol=1e-10, rtol=0)
    # every contraction path ran: whole chunks (sub-window view, sub-window + partial trace, full
    # window + partial trace) and, with the tiny scratch buffer, rows split along R
    assert {"sub", "sub+trace", "full"} <= paths if chunk is None else "split" in paths
