"""The qsim backend's GPU options, expectation values (exact and noisy) and statevector timing."""

import itertools

import cirq
import numpy as np
import pytest
import qsimcirq

from quantum_llm.config import ParamsError
from quantum_llm.quantum import BackendError, make_backend, qpa_ansatz
from quantum_llm.quantum.backends import QsimBackend, qsim_gpu_available


def _observables(qubits, k=2):
    return [cirq.PauliString({qubits[i]: cirq.Z for i in s})
            for r in range(1, k + 1) for s in itertools.combinations(range(k), r)]


def test_expectation_values_exact_match_cirq():
    spec = qpa_ansatz(4, 2)
    params = np.random.default_rng(0).uniform(-np.pi, np.pi, (3, len(spec.symbols)))
    obs = _observables(spec.qubits)
    ev = make_backend("qsim").expectation_values(spec.circuit, obs, params, spec.symbols, qubits=spec.qubits)
    sim = cirq.Simulator(dtype=np.complex128)
    ref = [np.real(sim.simulate_expectation_values(
        spec.circuit, obs, cirq.ParamResolver(dict(zip(spec.symbols, row, strict=True))), qubit_order=spec.qubits))
        for row in params]
    assert ev.shape == (3, 3)
    np.testing.assert_allclose(ev, np.array(ref), atol=1e-5)  # qsim is float32


def test_noisy_expectation_values_equal_a_direct_qsimcirq_call_and_approach_the_density_matrix():
    spec, p, traj, seed = qpa_ansatz(3, 2), 0.05, 400, 3
    params = np.random.default_rng(1).uniform(-np.pi, np.pi, (2, len(spec.symbols)))
    obs = _observables(spec.qubits)
    ev = make_backend("qsim", noise_p=p, seed=seed, trajectories=traj).expectation_values(
        spec.circuit, obs, params, spec.symbols, qubits=spec.qubits)
    # what the PQC evaluation computes today with qsimcirq directly: the same numbers, bit for bit
    from quantum_llm.quantum import with_depolarizing
    direct = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=2, ev_noisy_repetitions=traj),
                                    seed=cirq.value.parse_random_state(seed))
    resolvers = [cirq.ParamResolver(dict(zip(spec.symbols, map(float, r), strict=True))) for r in params]
    ref = np.real(np.asarray(direct.simulate_expectation_values_sweep(with_depolarizing(spec.circuit, p), obs, resolvers,
                                                                      qubit_order=spec.qubits)))
    np.testing.assert_array_equal(ev, ref)
    dm = cirq.DensityMatrixSimulator(dtype=np.complex128)
    exact = [np.real(dm.simulate_expectation_values(with_depolarizing(spec.circuit, p), obs, r, qubit_order=spec.qubits))
             for r in resolvers]
    # each <Z_S> is a mean of `traj` values in [-1, 1]: std <= 1/sqrt(400) = 0.05; 0.2 is 4 sigma
    assert np.abs(ev - np.array(exact)).max() < 0.2


def test_time_statevector():
    spec = qpa_ansatz(6, 2)
    circuit = cirq.resolve_parameters(spec.circuit, dict.fromkeys(spec.symbols, 0.3))
    s = make_backend("qsim", cpu_threads=1).time_statevector(circuit, spec.qubits, repeats=2)
    assert 0 < s < 10
    with pytest.raises(ValueError, match="resolve_parameters"):
        make_backend("qsim").time_statevector(spec.circuit, spec.qubits)


def test_gpu_options_and_errors():
    with pytest.raises(BackendError, match="gpu_mode = 2 is invalid"):
        QsimBackend(gpu_mode=2)
    cpu = QsimBackend(gpu_mode=1)            # gpu_mode only matters with use_gpu
    assert cpu.options.use_gpu is False and cpu.options.gpu_mode == 1
    for mode, module in ((0, "qsimcirq.qsim_gpu"), (1, "qsimcirq.qsim_custatevec")):
        if not qsim_gpu_available(mode):
            with pytest.raises(BackendError, match=f"no {module} .*scripts/build_qsim_gpu.sh"):
                make_backend("qsim", use_gpu=True, gpu_mode=mode)


def test_torch_backend_follows_the_device_setting(monkeypatch):
    import torch
    monkeypatch.setenv("QUANTUM_LLM_DEVICE", "cpu")
    assert make_backend("torch").device == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("QUANTUM_LLM_DEVICE", "cuda")
        with pytest.raises(ParamsError, match="sees no CUDA device"):
            make_backend("torch")
