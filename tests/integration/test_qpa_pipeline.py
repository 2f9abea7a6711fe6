"""The QPA chain through the real DVC pipeline on a tiny profile: features, LoRA / QPA /
control training, qsim generation (exact, shots, noise), merge/export and evaluation; then
`dvc exp run -S qubits=...` re-runs the QPA chain with a new circuit hash and not LoRA."""

import json

import pytest

from ..conftest import run, set_params

pytestmark = pytest.mark.integration

TINY_QPA = {
    "qpa.train_tokens": 96, "qpa.test_lines": 3, "qpa.padded_length": 32, "qpa.steps": 4,
    "qpa.batch_tokens": 16, "qpa.eval_every": 2, "qpa.seeds": [0], "qpa.shots": [50],
    "qpa.noise": [0.01], "simulator.trajectories": 8, "qubits": 3, "circuits.qpa_layers": 2,
}


def test_qpa_chain_and_qubits_experiment(tiny_repo):
    repo = tiny_repo
    set_params(repo / "params.yaml", TINY_QPA)
    run(["git", "commit", "-qam", "tiny qpa"], repo)
    run(["dvc", "repro", "merge_export", "evaluate_qpa"], repo)

    by = json.loads((repo / "metrics/qpa/eval/eval.json").read_text())["ppl"]
    assert set(by) == {"base", "lora", "qpa_exact", "qpa_shots_50", "qpa_noise_0.01", "control"}
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    assert "qpa_exact" in json.dumps(shown) and "ppl_masked_mean" in json.dumps(shown)  # DVC sees the numbers
    # counted from the actual tensors: LoRA r * (d_in + d_out); QPA L*N angles + the mapping model
    from quantum_llm.qpa.generator import MappingModel

    m = 4 * (32 + 320)  # tiny LM: hidden 32, vocab 320
    assert by["lora"]["trainable"] == m
    assert by["qpa_exact"]["trainable"] == 2 * 3 + sum(p.numel() for p in MappingModel(3, -(-m // 8)).parameters())
    assert all(1 < r["ppl_masked_mean"] < 1e6 and 1 < r["ppl_padded_mean"] < 1e6 for r in by.values())
    runs = json.loads((repo / "metrics/qpa/eval/runs.json").read_text())["runs"]
    assert by["base"]["ppl_masked_std"] == 0 and {r["seed"] for r in runs if r["variant"] == "lora"} == {0}
    assert (repo / "metrics/qpa/eval/ppl_vs_shots.png").stat().st_size > 1000
    gen = json.loads((repo / "models/qpa/generated/0/manifest.json").read_text())
    assert gen["qsim_vs_torch_max_abs_weight_diff"] <= 1e-5
    hash_before = gen["circuit_hash"]
    for name in ("lora", "qpa", "control"):
        exp = json.loads((repo / f"models/export/{name}/manifest.json").read_text())
        assert exp["merged_vs_adapter_max_abs_diff"] <= 1e-4 and exp["embeddings_unchanged"]
    trace = run(["quantum-llm", "trace", "models/qpa/generated/0/qpa_exact"], repo).stdout
    assert "circuit_hash" in trace and "models/circuits  <- stage 'circuits'" in trace

    out = run(["dvc", "exp", "run", "-S", "qubits=4", "merge_export", "evaluate_qpa"], repo).stdout
    assert "Running stage 'train_qpa@0'" in out and "Running stage 'train_lora@0'" not in out
    gen = json.loads((repo / "models/qpa/generated/0/manifest.json").read_text())
    assert gen["circuit_hash"] != hash_before
