"""qsim on the GPU (qsim's CUDA kernels, cuStateVec) against qsim on the CPU, when the GPU build is present."""

import cirq
import numpy as np
import pytest

from quantum_llm.quantum import make_backend, pqc_main, qpa_ansatz
from quantum_llm.quantum.backends import qsim_gpu_available

ATOL = 1e-5   # both complex64; the CPU and GPU kernels sum in different orders
MODES = [pytest.param(m, marks=pytest.mark.skipif(not qsim_gpu_available(m), reason=(
    f"qsimcirq has no {'qsim_gpu' if m == 0 else 'qsim_custatevec'}: build it with scripts/build_qsim_gpu.sh")))
    for m in (0, 1)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("make", [lambda: qpa_ansatz(10, 8), lambda: pqc_main(8, 8, 2, 1, 2, 1)])
def test_gpu_probabilities_and_expectations_match_cpu(mode, make):
    spec = make()
    params = np.random.default_rng(0).uniform(-np.pi, np.pi, (3, len(spec.symbols)))
    cpu, gpu = make_backend("qsim"), make_backend("qsim", use_gpu=True, gpu_mode=mode)
    np.testing.assert_allclose(gpu.probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits),
                               cpu.probabilities(spec.circuit, params, spec.symbols, qubits=spec.qubits), atol=ATOL)
    obs = [cirq.Z(spec.qubits[0]), cirq.Z(spec.qubits[0]) * cirq.Z(spec.qubits[1])]
    np.testing.assert_allclose(gpu.expectation_values(spec.circuit, obs, params, spec.symbols, qubits=spec.qubits),
                               cpu.expectation_values(spec.circuit, obs, params, spec.symbols, qubits=spec.qubits),
                               atol=ATOL)


@pytest.mark.parametrize("mode", MODES)
def test_gpu_timing_runs(mode):
    spec = qpa_ansatz(16, 2)
    circuit = cirq.resolve_parameters(spec.circuit, dict.fromkeys(spec.symbols, 0.1))
    assert make_backend("qsim", use_gpu=True, gpu_mode=mode).time_statevector(circuit, spec.qubits, repeats=2) > 0
