"""QPA: generator shapes and counts (oracle: the spec's official GPT-2 numbers), gradients into
theta, perplexity protocols (oracle: transformers' own loss), merge/export (oracle: PEFT's
unmerged adapter model, with a non-zero B so the check cannot pass trivially)."""

import math
import subprocess
import sys

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from quantum_llm.lm.export import merge_and_export
from quantum_llm.qpa import features
from quantum_llm.qpa import generator as G
from quantum_llm.qpa.adapter import HeadOnly, lora_config, lora_targets, save_adapter, wrap
from quantum_llm.qpa.evaluate import perplexities
from quantum_llm.qpa.train import TrainConfig, train

GPT2_HEAD = (G.LoraTarget("lm_head", 768, 50257),)


def test_official_gpt2_parameter_counts():
    # specs/qpa.md: m = 204,100; MLP 38,624 + final linear 67,584 with n_mlp = 2048 at N = 7
    spec = G.GeneratorSpec(n_qubits=7, layers=8, rank=4, targets=GPT2_HEAD)
    assert spec.m == 204_100
    mm = G.MappingModel(7, 2048)
    assert sum(p.numel() for p in mm.body.parameters()) == 38_624
    assert sum(p.numel() for p in mm.head.parameters()) == 67_584
    # this project derives n_mlp from N: ceil(m / 2**N)
    assert (spec.n_mlp, spec.n_b) == (math.ceil(204_100 / 128), 128)


def test_transform_and_codes():
    p = torch.zeros(8)
    p[0] = 1.0
    x = G.transform(p, 3, 8)
    assert abs(x.sum().item()) < 1e-6 and x[0] > 0 and torch.allclose(x[1:], x[1])
    expect0 = (G.BETA * math.tanh(G.GAMMA * 4 * 1.0)) ** G.ALPHA
    assert abs((x[0] - x[1]).item() - expect0) < 1e-5  # zero-probability entries map to ~0 before centring
    assert G.bitstrings(3, 3).tolist() == [[1, 1, 1], [1, 1, -1], [1, -1, 1]]


@pytest.mark.parametrize("source", ["circuit", "learned"])
def test_generator_output_and_gradients(source):
    targets = (G.LoraTarget("a", 5, 7), G.LoraTarget("b", 3, 11))
    gen = G.QPAGenerator(G.GeneratorSpec(3, 2, 2, targets), source=source)
    flat = gen()
    assert flat.shape == (2 * (5 + 7) + 2 * (3 + 11),) and abs(flat.mean().item()) < 1e-6
    f = gen.factors(flat)
    assert f["a"][0].shape == (2, 5) and f["a"][1].shape == (7, 2) and f["b"][1].shape == (11, 2)
    torch.cat([t.flatten() for ab in f.values() for t in ab]).pow(2).sum().backward()
    first = gen.probs.theta if source == "circuit" else gen.probs.logits
    assert first.grad is not None and first.grad.abs().sum() > 0  # gradients reach the circuit angles


def test_circuit_probabilities_match_cirq():
    import cirq

    spec = G.GeneratorSpec(4, 3, 1, (G.LoraTarget("x", 4, 4),))
    src = G.CircuitProbabilities(spec)
    resolver = dict(zip(src.circuit_spec.weight_symbols, src.theta.detach().tolist(), strict=True))
    psi = cirq.Simulator(dtype=__import__("numpy").complex128).simulate(
        src.circuit_spec.circuit, resolver, qubit_order=src.circuit_spec.qubits).final_state_vector
    assert torch.allclose(src().detach().double(), torch.tensor(abs(psi) ** 2), atol=1e-5)


@pytest.fixture(scope="module")
def tiny(tiny_lm):
    model = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    lines = [tok(t, add_special_tokens=False)["input_ids"] for t in (
        "the game 's battle system , the <unk> , is carried over", "= Valkyria Chronicles III =",
        "senjō no valkyria 3 : unrecorded chronicles is a tactical role @-@ playing video game", "it was released")]
    return model, tok, lines


def test_perplexities_match_transformers_loss(tiny):
    model, _, lines = tiny
    feats = features.test_features(model, lines, n_lines=4, padded_length=24, pad_id=0)
    w = model.get_output_embeddings().weight.detach()
    ppl = perplexities(feats["h"], feats["ids"], feats["real"], w)
    labels = feats["ids"].masked_fill(~feats["real"], -100)
    with torch.no_grad():
        logits = model(input_ids=feats["ids"], attention_mask=feats["real"].long()).logits
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                feats["ids"][:, 1:].reshape(-1), reduction="none")
        masked = model(input_ids=feats["ids"], attention_mask=feats["real"].long(), labels=labels).loss
    assert ppl["masked"] == pytest.approx(math.exp(masked.item()), rel=1e-4)
    assert ppl["padded"] == pytest.approx(math.exp(nll.mean().item()), rel=1e-4)
    assert ppl["padded_tokens"] == 4 * 23 and ppl["masked_tokens"] == int(feats["real"][:, 1:].sum())


def test_train_features_follow_line_order(tiny):
    model, _, lines = tiny
    f = features.train_features(model, lines, train_tokens=60, pad_id=0, batch_lines=3)
    assert f["y"].tolist() == [t for ln in lines for t in ln[1:]][:60]
    with torch.no_grad():
        ref = model.base_model(input_ids=torch.tensor([lines[0]])).last_hidden_state[0, :-1]
    assert torch.allclose(f["h"][: len(lines[0]) - 1], ref, atol=1e-5)


@pytest.mark.parametrize("method", ["lora", "qpa", "control"])
def test_each_method_lowers_validation_loss(tiny, method):
    model, _, lines = tiny
    f = features.train_features(model, lines * 8, train_tokens=400, pad_id=0)
    w = model.get_output_embeddings().weight.detach()
    cfg = TrainConfig(method=method, steps=25, batch_tokens=64, lr=1e-2, seed=0, rank=2, alpha=4.0,
                      dropout=0.0, n_qubits=4, layers=2, eval_every=25)
    out = train(w, f["h"], f["y"], cfg)
    assert out.history[-1]["val_loss"] < out.history[0]["val_loss"] - 0.05
    lora_m = 2 * (32 + w.shape[0])
    assert out.trainable == (lora_m if method == "lora" else sum(p.numel() for p in out.generator.parameters()))


def test_merge_export_keeps_embeddings_and_logits(tiny_lm, tmp_path):
    w = AutoModelForCausalLM.from_pretrained(tiny_lm).get_output_embeddings().weight.detach()
    peft_head = wrap(HeadOnly(w), lora_config(2, 4.0, 0.0, ["lm_head"]))
    torch.manual_seed(1)
    a, b = torch.randn(2, w.shape[1]) * 0.5, torch.randn(w.shape[0], 2) * 0.5   # non-zero B
    assert [t.name for t in lora_targets(peft_head)] == ["lm_head"]
    save_adapter(tmp_path / "adapter", peft_head, {"lm_head": (a, b)}, base_model=str(tiny_lm))
    facts = merge_and_export(tiny_lm, tmp_path / "adapter", tmp_path / "export", atol=1e-4)
    assert facts["untied_lm_head"] and facts["merged_vs_adapter_max_abs_diff"] <= 1e-4

    base = AutoModelForCausalLM.from_pretrained(tiny_lm)
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "export")
    assert torch.equal(exported.get_input_embeddings().weight, base.get_input_embeddings().weight)
    assert torch.allclose(exported.lm_head.weight, w + 2.0 * b @ a, atol=1e-5)
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm), str(tmp_path / "adapter"))
    ids = torch.tensor([[5, 17, 42, 99]])
    with torch.no_grad():
        tied_merge = adapted.merge_and_unload()(input_ids=ids).logits
        good = exported(input_ids=ids).logits
    # the defect the untie avoids: merging into tied weights also shifts the embeddings
    assert (tied_merge - good).abs().max() > 1e-3

    # the export loads with no quantum or PEFT package importable
    code = ("import sys; [sys.modules.__setitem__(m, None) for m in ('cirq', 'qsimcirq', 'peft', 'quantum_llm')];"
            "from transformers import AutoModelForCausalLM; import torch;"
            f"m = AutoModelForCausalLM.from_pretrained({str(tmp_path / 'export')!r});"
            "print(m(input_ids=torch.tensor([[1, 2]])).logits.shape)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-1500:]


# ---------------------------------------------------------------- full backprop (target_modules beyond lm_head)
def _full_cfg(method, targets, **kw):
    return TrainConfig(method=method, steps=kw.pop("steps", 12), batch_tokens=64, lr=1e-2, seed=0, rank=2, alpha=4.0,
                       dropout=0.0, n_qubits=4, layers=2, eval_every=kw.pop("eval_every", 12),
                       target_modules=tuple(targets), **kw)


def test_full_path_matches_cached_path_on_lm_head(tiny, tiny_lm):
    # oracle: with lm_head as the only target, the full forward on token ids must give the cached path's losses
    from quantum_llm.qpa.train import TokenData, Trainer, split_indices

    model, _, lines = tiny
    f = features.train_features(model, lines * 4, train_tokens=200, pad_id=0)
    data = TokenData.from_features(f)
    assert torch.equal(data.lines[data.line_of, data.pos_of + 1], f["y"])
    cfg = _full_cfg("qpa", ["lm_head"])
    cached = Trainer(model.get_output_embeddings().weight.detach(), cfg)
    full = Trainer(None, cfg, model=AutoModelForCausalLM.from_pretrained(tiny_lm))
    full.generator.load_state_dict(cached.generator.state_dict())
    tr, va = split_indices(len(f["y"]), 0.1, 0)
    assert full.loss_tokens(data, va) == pytest.approx(cached.loss(f["h"][va], f["y"][va]), abs=1e-4)
    idx = tr[:64]
    assert full.step_tokens(data, idx) == pytest.approx(cached.step(f["h"][idx], f["y"][idx]), abs=1e-4)


@pytest.mark.parametrize("method", ["lora", "qpa", "control"])
def test_full_backprop_on_q_v_proj(tiny, tiny_lm, method):
    from quantum_llm.qpa.train import TokenData, train_full

    model, _, lines = tiny
    data = TokenData.from_features(features.train_features(model, lines * 8, train_tokens=400, pad_id=0))
    cfg = _full_cfg(method, ["q_proj", "v_proj"], steps=15, eval_every=15)
    fresh = AutoModelForCausalLM.from_pretrained(tiny_lm)
    frozen = {k: v.clone() for k, v in fresh.state_dict().items()}
    seen = []
    out = train_full(fresh, data, cfg, on_log=seen.append)
    assert out.history[-1]["val_loss"] < out.history[0]["val_loss"] - 0.02
    names = {t.name for t in lora_targets(out.peft_model)}
    assert names == {f"model.layers.{i}.self_attn.{m}" for i in range(2) for m in ("q_proj", "v_proj")}
    assert set(out.factors) == names
    if method != "lora":
        # every module's factors come from the generator, m summed over all of them
        assert out.generator.spec.m == sum(2 * (t.d_in + t.d_out) for t in out.generator.spec.targets)
        start = out.generator.probs.theta if method == "qpa" else out.generator.probs.logits
        assert start.requires_grad and any(p.grad is not None and p.grad.abs().sum() > 0
                                           for p in out.generator.parameters())
    base_keys = [k for k in out.peft_model.state_dict() if "lora_" not in k]
    assert all(torch.equal(out.peft_model.state_dict()[k], frozen[k.removeprefix("base_model.model.")
                                                                   .replace(".base_layer", "")]) for k in base_keys)


def test_target_names_are_checked_against_the_model(tiny_lm):
    from quantum_llm.config import ParamsError
    from quantum_llm.qpa.adapter import check_targets, linear_names

    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    assert {"q_proj", "v_proj", "lm_head", "down_proj"} <= set(linear_names(model))
    check_targets(model, ["q_proj", "v_proj", "lm_head"])
    with pytest.raises(ParamsError, match="valid: .*q_proj"):
        check_targets(model, ["q_proj", "c_attn"])
