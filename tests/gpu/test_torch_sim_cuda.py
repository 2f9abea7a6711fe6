"""The torch simulator on CUDA against the cirq.Simulator oracle, and its gradients against the CPU's."""

import cirq
import numpy as np
import pytest
import torch

from quantum_llm.quantum import TorchCircuit, make_backend, pqc_encoder, pqc_main, qpa_ansatz

ATOL = 1e-5       # float32 on the GPU vs complex128 cirq (the CPU tests' tolerance for float32/qsim)
ATOL64 = 1e-10    # float64 on the GPU
SPECS = [lambda: qpa_ansatz(5, 3), lambda: qpa_ansatz(8, 8), lambda: qpa_ansatz(7, 2, "ring"),
         lambda: pqc_main(6, 8, reuploads=2, depth=2, conn_range=3, readout_qubits=2),
         lambda: pqc_encoder(layers=2, readout_qubits=4)]


def _cirq_probs(spec, params, init):
    sim = cirq.Simulator(dtype=np.complex128)
    out = []
    for b, row in enumerate(params):
        r = cirq.ParamResolver(dict(zip(spec.symbols, row, strict=True)))
        s0 = None if init is None else init[b].astype(np.complex128)
        out.append(np.abs(sim.simulate(spec.circuit, r, qubit_order=spec.qubits, initial_state=s0).final_state_vector) ** 2)
    return np.stack(out)


@pytest.mark.parametrize("make", SPECS)
@pytest.mark.parametrize("dtype,atol", [(torch.float32, ATOL), (torch.float64, ATOL64)])
def test_cuda_probabilities_match_cirq(make, dtype, atol):
    spec = make()
    rng = np.random.default_rng(0)
    params = rng.uniform(-np.pi, np.pi, (3, len(spec.symbols)))
    init = None
    if spec.amplitude_input:
        v = rng.normal(size=(3, 2 ** len(spec.qubits)))
        init = v / np.linalg.norm(v, axis=1, keepdims=True)
    tc = TorchCircuit.from_spec(spec, dtype=dtype)
    p = torch.as_tensor(params, dtype=tc.real_dtype, device="cuda")
    s0 = None if init is None else torch.as_tensor(init, dtype=tc.dtype, device="cuda")
    with torch.no_grad():
        got = tc.probabilities(p, initial_state=s0)
    assert got.device.type == "cuda"
    np.testing.assert_allclose(got.cpu().double().numpy(), _cirq_probs(spec, params, init), atol=atol)


def test_cuda_backend_matches_cirq_backend():
    spec = qpa_ansatz(6, 4)
    params = np.random.default_rng(1).uniform(-np.pi, np.pi, (4, len(spec.symbols)))
    got = make_backend("torch", device="cuda").probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits)
    ref = make_backend("cirq").probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits)
    np.testing.assert_allclose(got, ref, atol=ATOL64)


def test_cuda_adjoint_gradients_match_cpu():
    spec = pqc_main(6, 8, reuploads=2, depth=2, conn_range=3, readout_qubits=2)
    tc = TorchCircuit.from_spec(spec, dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    w = torch.rand(len(spec.weight_symbols), generator=g, dtype=torch.float64) * 6 - 3
    x = torch.rand(5, len(spec.data_symbols), generator=g, dtype=torch.float64) * 6 - 3
    grads = {}
    for dev in ("cpu", "cuda"):
        wd = w.to(dev).requires_grad_()
        tc.expectation_z(weights=wd, data=x.to(dev), qubits=[0, 1]).sum().backward()
        grads[dev] = wd.grad.cpu()
    torch.testing.assert_close(grads["cuda"], grads["cpu"], atol=1e-9, rtol=1e-9)
