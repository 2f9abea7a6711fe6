"""PQC head: the torch model against Cirq (oracle) for every architecture option, parameter counts,
model selection, qsim evaluation (agreement, paired shots and noise rows), classical heads and
baselines, probes, data-seed resampling, the energy fit and params validation."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from quantum_llm.config import CircuitsParams, ParamsError, PQCParams, validate
from quantum_llm.pqc import classical, energy
from quantum_llm.pqc.data import Split, amplitude_states, pca_splits
from quantum_llm.pqc.evaluate import (
    AgreementError,
    evaluate_head,
    noise_subset,
    readout_distribution,
    z_from_bits,
)
from quantum_llm.pqc.grid import quantum_grid, search_archs
from quantum_llm.pqc.model import HeadConfig, PQCHead, expected_params, load_head, save_head
from quantum_llm.pqc.paired import paired_rows
from quantum_llm.pqc.probes import pauli_features, real_pauli_strings
from quantum_llm.pqc.train import accuracy, train_head
from quantum_llm.quantum.backends import make_backend, z_from_probabilities
from quantum_llm.stage import InputError

# small but complete: 2 encoders, 2 readout qubits per encoder, 3 main qubits, 2 readout qubits
SMALL = CircuitsParams(encoder_layers=1, encoder_readout=2, encoders=2, main_depth=1, main_range=2, reuploads=2,
                       main_readout=2)


def _cfg(**kw) -> HeadConfig:
    return replace(HeadConfig.from_params(3, SMALL, input_scale=2.0), **kw)


def _embeddings(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)


OPTIONS = [{}, {"encoder_ansatz": "long_range"}, {"encoder_ansatz": "long_range", "encoder_range": 3},
           {"reupload_blocks": "separate"}, {"head_input": "encoder_and_main"}]


@pytest.mark.parametrize("options", OPTIONS)
def test_head_forward_matches_cirq_composed_pipeline(options):
    """Encoder (amplitude input) -> angles -> main module -> linear, recomputed with cirq.Simulator
    (tolerance 1e-5: float64 torch vs cirq's complex64 state), for every architecture option."""
    model = PQCHead(_cfg(**options), seed=3)
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
    np.testing.assert_allclose(logits, model.logits_from_z(z_main, z_enc), atol=1e-5)
    assert np.abs(z_main).max() > 1e-3 and np.ptp(logits[:, 0]) > 1e-4   # not trivially zero / constant
    assert model.num_params() == expected_params(model.cfg)


def test_default_options_keep_the_circuits_and_new_options_change_them():
    from quantum_llm.quantum import circuit_hash, pqc_encoder, pqc_main
    base = CircuitsParams()
    enc, main = pqc_encoder(2, 8), pqc_main(7, 8, 2, 1, 2, 1)
    assert circuit_hash(pqc_encoder(2, 8, base.encoder_ansatz, base.encoder_range).circuit) == circuit_hash(enc.circuit)
    assert circuit_hash(pqc_main(7, 8, 2, 1, 2, 1, False).circuit) == circuit_hash(main.circuit)
    lr = pqc_encoder(2, 8, "long_range", 2)
    assert circuit_hash(lr.circuit) != circuit_hash(enc.circuit) and len(lr.weight_symbols) == 2 * (2 * 9 + 9)
    sep = pqc_main(7, 8, 2, 1, 2, 1, True)
    assert len(sep.weight_symbols) == 3 * (2 * 7 + 7) and circuit_hash(sep.circuit) != circuit_hash(main.circuit)
    # the long-range block: CNOT(i -> i + c mod 9) then RY on the target, c = 1..C, then an RY column
    from quantum_llm.quantum.circuits import long_range_layer
    ops, _syms = long_range_layer(lr.qubits, "enc_0", 2)
    assert str(ops[0].gate) == "CNOT" and [q.x for q in ops[0].qubits] == [0, 1] and [q.x for q in ops[1].qubits] == [1]
    assert [q.x for q in ops[18].qubits] == [0, 2] and len(ops) == 2 * 9 * 2 + 9
    assert len(list(lr.circuit.all_operations())) == 2 * len(ops)


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


@pytest.mark.parametrize("ablation,front", [(None, "amplitude"), ("no_encoder", "amplitude"), ("no_reupload", "amplitude"),
                                            ("range1", "amplitude"), (None, "pca"), (None, "linear")])
def test_parameter_count_from_tensors_matches_formula(ablation, front):
    cfg = HeadConfig.from_params(7, CircuitsParams(), ablation=ablation, front=front)
    model = PQCHead(cfg, x_train=_embeddings(20), seed=0)
    assert model.num_params() == expected_params(cfg)
    if ablation is None and front == "amplitude":
        # default profile: encoder 2 x 9 + scales 8 + PQC1/PQC2 2 x (2 x 7 + 7) + linear 1 x 2 + 2
        assert model.num_params() == 18 + 8 + 42 + 4 == 72
    if ablation == "range1":
        assert model.num_params() == 18 + 8 + 2 * (7 + 7) + 4
    if front == "linear":   # the trained Linear(384 -> 8) counts
        assert model.num_params() == 384 * 8 + 8 + 8 + 42 + 4
    if front == "pca" or ablation == "no_encoder":
        assert model.num_params() == 8 + 42 + 4


@pytest.mark.parametrize("front", ["amplitude", "linear", "pca"])
def test_a_768d_body_widens_the_encoder_to_ten_qubits(front, tmp_path):
    """mpnet's 768-d embeddings: a 10-qubit encoder (768 -> 1024 amplitudes) checked against cirq,
    Linear(768 -> k) for linear_front; counts follow the formula; save/load keeps the dimension."""
    cfg = HeadConfig.from_params(3, SMALL, front=front, embedding_dim=768)
    x = np.random.default_rng(5).normal(size=(6, 768)).astype(np.float32)
    model = PQCHead(cfg, x_train=x, seed=1)
    assert model.num_params() == expected_params(cfg)
    if front == "amplitude":
        enc = model.encoder_spec
        assert len(enc.qubits) == 10 and amplitude_states(x).shape == (6, 1024)
        assert model.num_params() == 2 * 1 * 10 + 4 + 2 * (2 * 3 + 3) + 2 * 2 + 2   # E L_enc n + k + main + linear
        with torch.no_grad():
            z = model.encoder_outputs(torch.as_tensor(x)).numpy()
        ref = np.concatenate([make_backend("cirq").expectation_z(enc.circuit, w.detach().numpy(), enc.weight_symbols,
                                                                 readout=enc.readout, initial_state=amplitude_states(x),
                                                                 qubits=enc.qubits)
                              for w in model.encoder_weights], -1)
        np.testing.assert_allclose(z, ref, atol=1e-5)
        with pytest.raises(InputError, match="built for 768"):
            model.encoder_outputs(torch.as_tensor(_embeddings(2)))
    if front == "linear":
        assert model.front_linear.in_features == 768
    save_head(model, tmp_path)
    back = load_head(tmp_path)
    assert back.cfg.embedding_dim == 768
    with torch.no_grad():
        np.testing.assert_allclose(back(torch.as_tensor(x)).numpy(), model(torch.as_tensor(x)).numpy(), atol=1e-12)


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
    _m, short, sel = train_head(PQCHead(_cfg(), seed=0), tr, Split(va.x, 1 - va.y * 0), epochs=9, batch_size=16,
                                lr=0.1, seed=0, patience=2)   # a constant validation label: no gain after epoch 0/1
    assert sel["epochs_run"] == len(short) - 1 <= sel["epoch"] + 2 and sel["epochs_run"] < 9
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
    assert (out["exact"] == out["torch"]).all() and out["exact"].shape == (12,)
    assert out["agreement"]["max_abs_z_main"] < 1e-4 and out["agreement"]["max_abs_z_encoder"] < 1e-4
    assert set(out["shots"]) == {"50", "5000"} and set(out["noise"]) == {"0.01"}
    # shots on every row, noise on the seeded subset: each paired with exact on the same rows
    assert out["shots"]["50"].shape == (12,) and out["noise"]["0.01"].shape == (6,)
    np.testing.assert_array_equal(out["noise_rows"], noise_subset(12, 6, 1234))
    assert (out["shots"]["5000"] == out["exact"]).mean() > 0.8
    rows = model.main_param_rows
    monkeypatch.setattr(model, "main_param_rows", lambda a: rows(a) + 0.01)     # qsim would see other angles
    with pytest.raises(AgreementError):
        evaluate_head(model, test, shots=[10], noise=[], noise_rows=2, trajectories=1, seed=0)


def _toy_splits(n=90, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 384)).astype(np.float32)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0.4).astype(np.int64)       # imbalanced: majority class 0
    return {"train": Split(x[:50], y[:50]), "validation": Split(x[50:70], y[50:70]), "test": Split(x[70:], y[70:])}


def test_classical_heads_grids_counts_and_baselines():
    sp = _toy_splits()
    from quantum_llm.config import PQCClassicalParams
    c = PQCClassicalParams(logreg_c=[0.1, 1.0], mlp_widths=[5], mlp_lr=[1e-3, 1e-2], mlp_epochs=3, svc_c=[1.0],
                           svc_gamma=[0.5, 1.0])
    out = classical.classical_heads(sp, pca_splits(sp, 4), seed=0, c=c, quantum_params=55)
    assert out["logreg"]["params"] == 385 and out["logreg"]["grid_size"] == 2
    assert out["mlp"]["params"] == 384 * 5 + 5 + 5 + 1 and out["mlp"]["grid_size"] == 2
    assert out["svc"]["grid_size"] == 2 and out["svc"]["params"] % 385 == 1
    # size-matched heads on the same k = 4 PCA inputs
    assert out["logreg_pca"]["params"] == 4 + 1
    w = round((55 - 1) / (4 + 2))
    assert out["mlp_pca"]["params"] == 4 * w + w + w + 1 and abs(out["mlp_pca"]["params"] - 55) <= 4 + 2
    # majority: the training split's majority class, scored on the test split
    maj = out["majority"]
    assert maj["class"] == 0 and maj["test_acc"] == pytest.approx(100 * (sp["test"].y == 0).mean())
    # selection by validation: the selected point has the best validation accuracy, ties -> first
    vals = [g["val_acc"] for g in out["logreg"]["grid"]]
    assert out["logreg"]["selected_point"] == out["logreg"]["grid"][vals.index(max(vals))]["point"]


def test_pca_splits_fit_on_train_and_bound_train_inputs():
    sp = _toy_splits()
    p = pca_splits(sp, 3)
    assert p["train"].x.shape == (50, 3) and np.abs(p["train"].x).max() == pytest.approx(1.0)
    assert np.abs(p["test"].x).max() <= 1.0 and (p["test"].y == sp["test"].y).all()


def test_pauli_features_match_cirq_and_count_real_strings():
    import cirq
    assert [len(real_pauli_strings(k, 9)) for k in (1, 2, 3)] == [18, 198, 1374]
    states = amplitude_states(_embeddings(3, seed=4))
    strings = real_pauli_strings(2, 9)
    rng = np.random.default_rng(0)
    picks = [strings[i] for i in rng.choice(len(strings), 12, replace=False)] + [((0, "Y"), (5, "Y"))]
    feats = pauli_features(states, picks, 9)
    qs = cirq.LineQubit.range(9)
    for j, string in enumerate(picks):
        ps = cirq.PauliString({qs[q]: getattr(cirq, op) for q, op in string})
        ref = [ps.expectation_from_state_vector(s.astype(np.complex64), {q: i for i, q in enumerate(qs)}).real
               for s in states]
        np.testing.assert_allclose(feats[:, j], ref, atol=1e-5)


def test_paired_rows_pairs_per_seed_and_pools():
    exact = {0: np.array([1, 1, 0, 1]), 1: np.array([0, 1, 1, 1])}
    noisy = {0: np.array([1, 0, 0, 1]), 1: np.array([0, 1, 1, 0])}
    out = paired_rows(noisy, exact)
    assert out["per_seed"] == {"0": -25.0, "1": -25.0} and out["n_rows"] == 8 and out["rows_per_seed"] == 4
    assert out["over_seeds"]["estimate"] == -25.0 and out["pooled_rows"]["estimate"] == -25.0
    assert out["pooled_se"] == pytest.approx(np.std([0, -100, 0, 0, 0, 0, 0, -100], ddof=1) / math.sqrt(8))
    with pytest.raises(ValueError, match="not paired"):
        paired_rows({0: np.array([1, 0])}, {0: np.array([1, 0, 1])})


def test_grids_and_the_circuits_they_need():
    from quantum_llm.config import PQCSearchParams
    search = PQCSearchParams(lr=[0.1, 0.2], encoder_ansatz=["chain", "long_range"], encoder_layers=[1, 2],
                             encoders=[1], reupload_blocks=["shared", "separate"])
    assert len(quantum_grid(search, "faithful")) == 2 * 2 * 2 * 2
    assert len(quantum_grid(search, "pca_front")) == 2 * 2        # no encoder keys
    archs = search_archs(CircuitsParams(), search, ["faithful", "pca_front"])
    assert len(archs) == 2 * 2 * 2 and "chain-L2-E1-shared" in archs


def test_data_seeds_resample_the_fewshot_draw():
    import datasets

    from quantum_llm.data import sst2
    ds = datasets.Dataset.from_dict({"sentence": [f"s{i}" for i in range(200)], "label": [i % 2 for i in range(200)],
                                     "idx": list(range(200))})

    def draw(top, s):
        rs = sst2.data_seed(top, s)
        tr, va = sst2.stratified_split(sst2.fewshot(ds, 20, rs), 0.25, rs)
        return tr["idx"], va["idx"]
    assert draw(0, 1) == draw(0, 1)                                 # same seed -> same sample and split
    assert set(draw(0, 1)[0]) != set(draw(0, 2)[0])                 # another data seed -> another sample
    assert set(draw(1, 1)[0]) != set(draw(0, 1)[0])                 # the top-level seed moves it too
    tr, va = draw(0, 3)
    assert len(tr) == 30 and len(va) == 10 and not set(tr) & set(va)


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
    (CircuitsParams, {"encoder_readout": 31}, "circuits.encoder_readout = 31 is invalid"),
    (PQCParams, {"shots": [100, -5]}, "pqc.shots = [100, -5] is invalid: every shot count must be an integer >= 1"),
    (PQCParams, {"noise": [0.0]}, "pqc.noise = [0.0] is invalid"),
    (PQCParams, {"ablations": ["no_pqc2"]}, "pqc.ablations.0 = 'no_pqc2' is invalid"),
    (PQCParams, {"variants": ["faithful"], "noise_variants": ["pca_front"]}, "not in variants"),
    (CircuitsParams, {"encoder_ansatz": "ring"}, "circuits.encoder_ansatz = 'ring' is invalid"),
    (PQCParams, {"energy": {"qubits": [4, 40]}}, "pqc.energy.qubits = [4, 40] is invalid"),
])
def test_bad_params_one_line(section, data, message):
    prefix = "circuits" if section is CircuitsParams else "pqc"
    with pytest.raises(ParamsError) as e:
        validate(section, data, prefix)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_energy_gpu_scenario_uses_measured_times_when_given():
    """With a GPU measurement the GPU curve is board watts x measured seconds (a(N) x gates x 2**N),
    not the assumed speed-up, and the label says measured; without one the label says assumed."""
    from quantum_llm.quantum.gpu_times import GpuTimes

    model = energy.EnergyModel()
    assumed = energy.energy_report(CircuitsParams(), [4, 6], repeats=1, cpu_threads=1, fit_from=4, model=model)
    assert assumed["assumptions"]["gpu_times"].startswith("assumed")
    gpu = GpuTimes(device="Test GPU", date="2026-11-30T00:00:00", per_gate_amplitude={12: 1e-12, 20: 1e-12},
                   simulator={12: "qsim_gpu", 20: "qsim_gpu"}, board_watts=500.0, source="x.json")
    measured = energy.energy_report(CircuitsParams(), [4, 6], repeats=1, cpu_threads=1, fit_from=4, model=model,
                                    gpu=gpu, gpu_label=gpu.label)
    assert measured["assumptions"]["gpu_times"].startswith("measured") and measured["assumptions"]["gpu_watts_used"] == 500
    row = next(r for r in measured["curve"] if r["qubits"] == 20)
    assert row["sim_gpu_joules"] == pytest.approx(500.0 * 1e-12 * energy.gate_count(20, CircuitsParams()) * 2.0**20,
                                                  rel=1e-12)
    n = measured["crossover_qubits_gpu"]
    assert n is not None and row["qpu_joules"] > 0
    q = energy.qpu_seconds(n, CircuitsParams(), model) * model.qpu_watts
    assert 500.0 * gpu.seconds(n, energy.gate_count(n, CircuitsParams())) >= q   # first width where the GPU costs more
