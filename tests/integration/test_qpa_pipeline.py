"""The QPA chain through the real DVC pipeline on a tiny profile: features (whole-line
validation), every row x the learning-rate grid per seed, qsim generation of the gated QPA (exact,
shots, noise), merge/export, evaluation with intervals and the perplexity-vs-qubits sweep; then
`dvc exp run -S qubits=...` re-runs the circuit-dependent stages with a new circuit hash."""

import json

import pytest

from ..conftest import run, set_params

pytestmark = pytest.mark.integration

TINY_QPA = {
    "qpa.train_tokens": 96, "qpa.val_tokens": 24, "qpa.test_lines": 3, "qpa.steps": 4,
    "qpa.batch_tokens": 16, "qpa.eval_every": 2, "qpa.lrs": [1.0e-3, 1.0e-2], "qpa.seeds": [0, 1],
    "qpa.shots": [50], "qpa.noise": [0.01], "qpa.bootstrap_resamples": 200, "simulator.trajectories": 8,
    "qubits": 3, "circuits.qpa_layers": 2, "qpa.sweep_qubits": [2],
}
ROWS = {"base", "lora_r4", "lora_r2", "lora_r1", "qpa_paper", "qpa_gated", "control_gated", "qpa_frozen",
        "qpa_gated_qsim_exact", "qpa_gated_shots_50", "qpa_gated_noise_0.01"}


def test_qpa_chain_and_qubits_experiment(tiny_repo):
    repo = tiny_repo
    set_params(repo / "params.yaml", TINY_QPA)
    run(["git", "commit", "-qam", "tiny qpa"], repo)
    run(["dvc", "repro", "merge_export", "evaluate_qpa", "qpa_qubits_summary"], repo)

    doc = json.loads((repo / "metrics/qpa/summary.json").read_text())
    rows = doc["rows"]
    assert set(rows) == ROWS and doc["reference"] == "lora_r4" and doc["seeds"] == [0, 1]
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    assert "qpa_gated" in json.dumps(shown)  # DVC sees the numbers
    from quantum_llm.qpa.generator import MappingModel

    m = 4 * (32 + 320)  # tiny LM: hidden 32, vocab 320
    assert rows["lora_r4"]["trainable_params"] == m and rows["lora_r1"]["trainable_params"] == m // 4
    paper = 2 * 3 + sum(p.numel() for p in MappingModel(3, -(-m // 8)).parameters())
    assert rows["qpa_paper"]["trainable_params"] == paper and rows["qpa_gated"]["trainable_params"] == paper + 1
    assert rows["qpa_frozen"]["trainable_params"] == paper + 1 - 2 * 3
    for name, r in rows.items():
        assert r["ppl"]["n"] == 2 and 1 < r["ppl"]["mean"] < 1e4, name
        if name != "lora_r4":
            cmp = r["vs_reference"]
            assert set(cmp["diff_per_seed"]) == {"0", "1"} and cmp["diff_interval"]["over"] == "seeds"
            iv = cmp["ratio_interval"]
            assert iv["over"] == "test items" and iv["n"] == 3 and iv["low"] <= iv["estimate"] <= iv["high"]
    # the gated rows start exactly at the base; the published generator does not
    for name in ("qpa_gated", "control_gated", "qpa_frozen"):
        assert all(d["dw_rel_start"] == 0.0 for d in rows[name]["diagnostics"].values())
    assert all(d["dw_rel_start"] > 0 for d in rows["qpa_paper"]["diagnostics"].values())
    assert all(d["source_max_abs_change_end"] == 0.0 for d in rows["qpa_frozen"]["diagnostics"].values())
    assert set(doc["comparisons"]) == {"qpa_gated_vs_qpa_frozen", "qpa_gated_vs_control_gated"}
    assert (repo / "metrics/qpa/summary.md").read_text().count("| qpa_") >= 6
    assert (repo / "metrics/qpa/eval/ppl_vs_shots.png").stat().st_size > 1000
    lines = json.loads((repo / "metrics/qpa/eval/lines.json").read_text())
    assert len(lines["tokens"]) == 3 and set(lines["nll"]) == ROWS
    gen = json.loads((repo / "models/qpa/generated/0/manifest.json").read_text())
    assert gen["qsim_vs_torch_max_abs_weight_diff"] <= 1e-5
    hash_before = gen["circuit_hash"]
    for name in ("lora_r4", "qpa_gated", "control_gated"):
        exp = json.loads((repo / f"models/export/{name}/manifest.json").read_text())
        assert exp["merged_vs_adapter_max_abs_diff"] <= 1e-4 and exp["embeddings_unchanged"]
    sweep = json.loads((repo / "metrics/qpa/qubits.json").read_text())
    assert [(p["qubits"], p["source"]) for p in sweep["points"]] == [(2, "qpa_qubits@2"), (3, "train_qpa@0")]
    two, three = sweep["points"]
    assert two["lora_params"] == m and two["trainable_params"] == 2 * 2 + 1 + sum(
        p.numel() for p in MappingModel(2, -(-m // 4)).parameters())
    assert three["ppl"] == rows["qpa_gated_qsim_exact"]["ppl_per_seed"]["0"]
    assert 1 < two["ppl"] < 1e4 and len(two["circuit_hash"]) == 64 and two["circuit_hash"] != three["circuit_hash"]
    assert (repo / "metrics/qpa/ppl_vs_qubits.png").stat().st_size > 1000
    trace = run(["quantum-llm", "trace", "models/qpa/generated/0/qsim_exact"], repo).stdout
    assert "circuit_hash" in trace and "models/circuits  <- stage 'circuits'" in trace

    out = run(["dvc", "exp", "run", "-S", "qubits=4", "merge_export", "evaluate_qpa"], repo).stdout
    assert "Running stage 'train_qpa@0'" in out and "Running stage 'qpa_features'" not in out
    gen = json.loads((repo / "models/qpa/generated/0/manifest.json").read_text())
    assert gen["circuit_hash"] != hash_before
