"""PQC head: the torch model against Cirq (oracle), parameter counts, model selection, qsim
evaluation (agreement, shots, noise), classical heads, the energy fit and params validation."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from quantum_llm.config import CircuitsParams, ParamsError, PQCParams, validate
from quantum_llm.pqc import classical, energy
from quantum_llm.pqc.data import Split, amplitude_states
from quantum_llm.pqc.evaluate import AgreementError, evaluate_head, readout_distribution, z_from_bits
from quantum_llm.pqc.model import HeadConfig, PQCHead, expected_params, load_head, save_head
from quantum_llm.pqc.train import accuracy, train_head
from quantum_llm.quantum.backends import make_backend, z_from_probabilities

# small but complete: 2 encoders, 2 readout qubits per encoder, 3 main qubits, 2 readout qubits
SMALL = CircuitsParams(encoder_layers=1, encoder_readout=2, encoders=2, main_depth=1, main_range=2, reuploads=2,
                       main_readout=2)


def _cfg(**kw) -> HeadConfig:
    return replace(HeadConfig.from_params(3, SMALL, input_scale=2.0), **kw)


def _embeddings(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)


def test_head_forward_matches_cirq_composed_pipeline():
    """Encoder (amplitude input) -> angles -> main module -> linear, recomputed with cirq.Simulator."""
    model = PQCHead(_cfg(), seed=3)
    x = _embeddings(4)
    with torch.no_grad():
        logits = model(torch.as_tensor(x)).numpy()
        model_angles = model.main_angles(torch.as_tensor(x)).numpy()
    ref = make_backend("cirq")
    enc = model.encoder_spec
    psi = amplitude_states(x)
    z_enc = np.concatenate([ref.expectation_z(enc.circuit, w.detach().numpy(), enc.weight_symbols, readout=enc.readout,
                                              initial_state=psi, qubits=enc.qubits)
                            for w in model.encoder_weights], -1)                      # (4, E*Q_c)
    angles = model.input_scale.detach().numpy() * z_enc
    np.testing.assert_allclose(model_angles, angles, atol=1e-5)
    main = model.main_spec
    z_main = ref.expectation_z(main.circuit, model.main_param_rows(angles), main.symbols, readout=main.readout,
                               qubits=main.qubits)
    np.testing.assert_allclose(logits, model.logits_from_z(z_main), atol=1e-5)
    assert np.abs(z_main).max() > 1e-3 and np.ptp(logits[:, 0]) > 1e-4   # not trivially zero / constant


def test_gradients_reach_the_encoder():
    model = PQCHead(_cfg(), seed=0)
    x = torch.as_tensor(_embeddings(3))
    model(x)[:, 0].sum().backward()
    eps, j = 1e-6, 1
    with torch.no_grad():
        model.encoder_weights[1, j] += eps
        up = model(x)[:, 0].sum().item()
        model.encoder_weights[1, j] -= 2 * eps
        down = model(x)[:, 0].sum().item()
    assert model.encoder_weights.grad[1, j].item() == pytest.approx((up - down) / (2 * eps), abs=1e-6)
    assert model.encoder_weights.grad.abs().max() > 0


@pytest.mark.parametrize("ablation", [None, "no_encoder", "no_reupload", "range1"])
def test_parameter_count_from_tensors_matches_formula(ablation):
    cfg = HeadConfig.from_params(7, CircuitsParams(), ablation=ablation)
    model = PQCHead(cfg, x_train=_embeddings(20), seed=0)
    assert model.num_params() == expected_params(cfg)
    if ablation is None:
        # default profile: encoder 2 x 9 + scales 8 + PQC1/PQC2 2 x (2 x 7 + 7) + linear 1 x 2 + 2
        assert model.num_params() == 18 + 8 + 42 + 4 == 72
    if ablation == "range1":
        assert model.num_params() == 18 + 8 + 2 * (7 + 7) + 4


def test_selection_keeps_best_validation_epoch_and_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=384)
    x = _embeddings(96, seed=1)
    y = (x @ w > 0).astype(np.int64)
    tr, va = Split(x[:64], y[:64]), Split(x[64:], y[64:])
    model = PQCHead(_cfg(input_scale=math.pi), seed=0)
    model, curve, best = train_head(model, tr, va, epochs=4, batch_size=16, lr=0.1, seed=0)
    accs = [c["val_acc"] for c in curve]
    assert best["val_acc"] == max(accs) and best["epoch"] == accs.index(max(accs))   # earliest of ties
    assert accuracy(model, va) == pytest.approx(best["val_acc"])                     # the kept weights
    assert [c["epoch"] for c in curve] == [0, 1, 2, 3, 4]
    save_head(model, tmp_path)
    again = load_head(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(again(torch.as_tensor(x[:5])), model(torch.as_tensor(x[:5])))


def test_readout_distribution_matches_cirq_exact_and_noisy():
    spec = PQCHead(_cfg(), seed=0).main_spec
    rows = np.random.default_rng(2).uniform(-math.pi, math.pi, size=(3, len(spec.symbols)))
    p = readout_distribution(spec.circuit, rows, spec.symbols, spec.qubits, spec.readout)
    full = make_backend("cirq").probabilities(spec.circuit, rows, spec.symbols, qubits=spec.qubits)  # (3, 8)
    marg = full.reshape(3, 4, 2).sum(-1)                                                             # bits of q0, q1
    np.testing.assert_allclose(p, marg, atol=1e-5)
    np.testing.assert_allclose(z_from_bits(p), z_from_probabilities(full, 3, [0, 1]), atol=1e-5)
    # noisy: qsim trajectories vs cirq's exact density matrix, within the sampling error
    pn = readout_distribution(spec.circuit, rows[:1], spec.symbols, spec.qubits, spec.readout, noise_p=0.05,
                              trajectories=400, seed=1)
    dm = make_backend("cirq", noise_p=0.05).probabilities(spec.circuit, rows[:1], spec.symbols, qubits=spec.qubits)
    np.testing.assert_allclose(pn, dm.reshape(1, 4, 2).sum(-1), atol=0.05)
    assert np.abs(dm.reshape(1, 4, 2).sum(-1) - marg[:1]).max() > 0.01     # the noise is visible at all


def test_evaluate_head_agrees_and_detects_a_broken_export(monkeypatch):
    model = PQCHead(_cfg(), seed=0)
    x = _embeddings(12, seed=5)
    test = Split(x, (np.arange(12) % 2).astype(np.int64))
    out = evaluate_head(model, test, shots=[50, 5000], noise=[0.01], noise_rows=6, trajectories=4, seed=0)
    assert out["acc_exact"] == out["acc_torch"]
    assert out["agreement"]["max_abs_z_main"] < 1e-4 and out["agreement"]["max_abs_z_encoder"] < 1e-4
    assert set(out["acc_shots"]) == {"50", "5000"} and set(out["acc_noise"]) == {"0.01"}
    assert out["noise_subset"]["n"] == 6
    rows = model.main_param_rows
    monkeypatch.setattr(model, "main_param_rows", lambda a: rows(a) + 0.01)     # qsim would see other angles
    with pytest.raises(AgreementError):
        evaluate_head(model, test, shots=[10], noise=[], noise_rows=2, trajectories=1, seed=0)


def test_classical_param_counts():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 384)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    tr, va = Split(x[:40], y[:40]), Split(x[40:], y[40:])
    rows = {r["head"]: r for r in classical.classical_heads(tr, va, va, seeds=[0, 1], mlp_widths=[5], svc_c=[1.0],
                                                             lr_c=1.0, mlp_epochs=3)}
    assert rows["logreg"]["runs"][0]["params"] == 385
    assert rows["mlp5"]["runs"][0]["params"] == 384 * 5 + 5 + 5 + 1
    svc = classical.SVC(C=1.0).fit(tr.x, tr.y)
    assert rows["svc_c1"]["runs"][0]["params"] == len(svc.support_) * 385 + 1
    assert rows["logreg"]["runs"][0]["test_acc"] == rows["logreg"]["runs"][1]["test_acc"]    # deterministic


def test_energy_fit_recovers_coefficient_and_crossover_moves_with_the_model():
    ns = np.array([10, 12, 14, 16])
    assert energy.fit_exponential(ns, 3e-9 * 2.0**ns) == pytest.approx(3e-9, rel=1e-9)
    gates = 5 * ns + 7
    assert energy.fit_exponential(ns, 2e-10 * gates * 2.0**ns, gates) == pytest.approx(2e-10, rel=1e-9)
    circ = CircuitsParams()
    m = energy.EnergyModel()
    n1 = energy.crossover(circ, 3e-9, m, watts=m.sim_watts)
    n2 = energy.crossover(circ, 3e-9, replace(m, qpu_watts=m.qpu_watts * 1024), watts=m.sim_watts)
    assert n1 is not None and n1 + 8 <= n2 <= n1 + 10   # 1024x the QPU energy ~ 10 more qubits (gates grow too)

    def e_sim(n):
        return m.sim_watts * 3e-9 * energy.gate_count(n, circ) * 2.0**n
    assert e_sim(n1) >= m.qpu_watts * energy.qpu_seconds(n1, circ, m)         # the smallest such N
    assert e_sim(n1 - 1) < m.qpu_watts * energy.qpu_seconds(n1 - 1, circ, m)


@pytest.mark.parametrize("section,data,message", [
    (CircuitsParams, {"encoder_readout": 10}, "circuits.encoder_readout = 10 is invalid"),
    (PQCParams, {"shots": [100, -5]}, "pqc.shots = [100, -5] is invalid: every shot count must be an integer >= 1"),
    (PQCParams, {"noise": [0.0]}, "pqc.noise = [0.0] is invalid"),
    (PQCParams, {"ablations": ["no_pqc2"]}, "pqc.ablations.0 = 'no_pqc2' is invalid"),
    (PQCParams, {"energy": {"qubits": [4, 40]}}, "pqc.energy.qubits = [4, 40] is invalid"),
])
def test_bad_params_one_line(section, data, message):
    prefix = "circuits" if section is CircuitsParams else "pqc"
    with pytest.raises(ParamsError) as e:
        validate(section, data, prefix)
    assert message in str(e.value) and "\n" not in str(e.value)
