"""The QPA chain through the real DVC pipeline on a tiny profile: features, LoRA / QPA /
control training, qsim generation (exact, shots, noise), merge/export, evaluation and the
perplexity-vs-qubits sweep; then `dvc exp run -S qubits=...` re-runs the QPA chain with a new
circuit hash and not LoRA; then `qpa.target_modules: [q_proj, v_proj]` runs the whole chain with
full backprop (one test, so the tiny repo's base model, corpus and features are built once)."""

import json

import pytest

from ..conftest import run, set_params

pytestmark = pytest.mark.integration

TINY_QPA = {
    "qpa.train_tokens": 96, "qpa.test_lines": 3, "qpa.padded_length": 32, "qpa.steps": 4,
    "qpa.batch_tokens": 16, "qpa.eval_every": 2, "qpa.seeds": [0], "qpa.shots": [50],
    "qpa.noise": [0.01], "simulator.trajectories": 8, "qubits": 3, "circuits.qpa_layers": 2,
    "qpa.sweep_qubits": [2],
}


def test_qpa_chain_and_qubits_experiment(tiny_repo):
    repo = tiny_repo
    set_params(repo / "params.yaml", TINY_QPA)
    run(["git", "commit", "-qam", "tiny qpa"], repo)
    run(["dvc", "repro", "merge_export", "evaluate_qpa", "qpa_qubits_summary"], repo)

    by = json.loads((repo / "metrics/qpa/eval/eval.json").read_text())["ppl"]
    assert set(by) == {"base", "lora", "qpa_exact", "qpa_shots_50", "qpa_noise_0.01", "control"}
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    assert "qpa_exact" in json.dumps(shown) and "ppl_masked_mean" in json.dumps(shown)  # DVC sees the numbers
    # counted from the actual tensors: LoRA r * (d_in + d_out); QPA L*N angles + the mapping model
    from quantum_llm.qpa.generator import MappingModel

    m = 4 * (32 + 320)  # tiny LM: hidden 32, vocab 320
    assert by["lora"]["trainable"] == m
    three_params = 2 * 3 + sum(p.numel() for p in MappingModel(3, -(-m // 8)).parameters())
    assert by["qpa_exact"]["trainable"] == three_params
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
    sweep = json.loads((repo / "metrics/qpa/qubits.json").read_text())
    # the sweep's N = 2 and the pipeline's own N = 3 (from train_qpa@0); n_mlp = ceil(m / 2**N)
    assert [(p["qubits"], p["source"]) for p in sweep["points"]] == [(2, "qpa_qubits@2"), (3, "train_qpa@0")]
    two, three = sweep["points"]
    assert two["lora_params"] == m and two["trainable_params"] == 2 * 2 + sum(
        p.numel() for p in MappingModel(2, -(-m // 4)).parameters())
    assert three["ppl_masked"] == by["qpa_exact"]["ppl_masked_mean"] and three["trainable_params"] == three_params
    assert sweep["lora_ppl_masked"] == by["lora"]["ppl_masked_mean"] and sweep["base_ppl_masked"] == by["base"]["ppl_masked_mean"]
    assert 1 < two["ppl_masked"] < 1e6 and len(two["circuit_hash"]) == 64 and two["circuit_hash"] != three["circuit_hash"]
    assert (repo / "metrics/qpa/ppl_vs_qubits.png").stat().st_size > 1000
    trace = run(["quantum-llm", "trace", "models/qpa/generated/0/qpa_exact"], repo).stdout
    assert "circuit_hash" in trace and "models/circuits  <- stage 'circuits'" in trace

    out = run(["dvc", "exp", "run", "-S", "qubits=4", "merge_export", "evaluate_qpa"], repo).stdout
    assert "Running stage 'train_qpa@0'" in out and "Running stage 'train_lora@0'" not in out
    gen = json.loads((repo / "models/qpa/generated/0/manifest.json").read_text())
    assert gen["circuit_hash"] != hash_before

    _q_v_proj_phase(repo)


def _q_v_proj_phase(repo):
    """qpa.target_modules: [q_proj, v_proj]: full backprop for all three methods, qsim generation
    of every module's factors, merge/export and full-forward evaluation, through DVC."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = run(["dvc", "exp", "run", "-S", "qpa.target_modules=[q_proj,v_proj]", "merge_export", "evaluate_qpa"],
              repo).stdout
    assert "Running stage 'train_lora@0'" in out and "Running stage 'qpa_features'" not in out
    by = json.loads((repo / "metrics/qpa/eval/eval.json").read_text())["ppl"]
    assert set(by) == {"base", "lora", "qpa_exact", "qpa_shots_50", "qpa_noise_0.01", "control"}
    assert all(1 < r["ppl_masked_mean"] < 1e6 for r in by.values())
    m = 2 * 4 * ((32 + 32) + (32 + 16))  # 2 layers x r=4 x (q_proj 32->32 + v_proj 32->16: 2 KV heads of 8)
    assert by["lora"]["trainable"] == m and by["qpa_exact"]["ppl_masked_mean"] != by["base"]["ppl_masked_mean"]
    gen = json.loads((repo / "models/qpa/train/qpa-0/generator.json").read_text())
    assert {t["name"].rsplit(".", 1)[-1] for t in gen["spec"]["targets"]} == {"q_proj", "v_proj"}
    assert gen["source_params_max_abs_change"] > 0  # gradients reached the circuit angles theta
    base_dir = repo / "models/base"
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    for name, adapter in (("qpa", "models/qpa/generated/0/qpa_exact"), ("control", "models/qpa/generated/0/control"),
                          ("lora", "models/qpa/train/lora-0/adapter")):
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), str(repo / adapter)).eval()
        exported = AutoModelForCausalLM.from_pretrained(repo / "models/export" / name).eval()
        with torch.no_grad():
            diff = (adapted(input_ids=ids).logits - exported(input_ids=ids).logits).abs().max().item()
            moved = (exported.model.layers[0].self_attn.q_proj.weight
                     - adapted.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight).abs().max().item()
        assert diff <= 1e-4 and moved > 0, (name, diff, moved)
        assert torch.equal(exported.lm_head.weight, adapted.base_model.model.lm_head.weight)  # lm_head untouched
