"""QPA: generator shapes and counts (oracle: the official GPT-2 numbers), gradients into theta,
the gate (the adapted model equals the base at step 0), the whole-line split, the cached-logit
training path (oracle: PEFT's own LoRA forward and autograd), per-line perplexity (oracle:
transformers' own loss), the bootstrap of the perplexity ratio, merge/export (oracle: PEFT's
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
from quantum_llm.qpa.evaluate import line_nll, perplexity, ratio_interval
from quantum_llm.qpa.train import LowRankCE, Run, Split, TrainConfig, rows, train_rows

GPT2_HEAD = (G.LoraTarget("lm_head", 768, 50257),)


def test_official_gpt2_parameter_counts():
    # the official code: m = 204,100; MLP 38,624 + final linear 67,584 with n_mlp = 2048 at N = 7
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


def _cfg(**kw):
    base = dict(steps=20, batch_tokens=64, lrs=(1e-2,), seed=0, scaling=2.0, dropout=0.0, n_qubits=4, layers=2,
                eval_every=5, eval_chunk=64)
    return TrainConfig(**{**base, **kw})


def _splits(model, lines, n=8):
    f = features.all_features(model, lines * n, lines, train_tokens=200, val_tokens=40, n_test=4, pad_id=0)
    return {k: Split.from_features(v) for k, v in f.items()}


def test_whole_line_split(tiny):
    model, _, lines = tiny
    many = [[i] + ln for i, ln in enumerate(lines * 6)]          # every line distinct (first token = its index)
    tr, nxt = features.take_lines(many, 0, tokens=100)
    va, _ = features.take_lines(many, nxt, tokens=30)
    assert sum(len(ln) - 1 for ln in tr) >= 100 and tr == many[: len(tr)] and va == many[len(tr): len(tr) + len(va)]
    f = features.all_features(model, many, lines, train_tokens=100, val_tokens=30, n_test=3, pad_id=0)
    # targets: every token of every line but its first, in line order, line by line; no line in two splits
    assert f["train"]["y"].tolist() == [t for ln in tr for t in ln[1:]]
    assert f["val"]["y"].tolist() == [t for ln in va for t in ln[1:]]
    first = {ln[0] for ln in tr}
    assert not first & {ln[0] for ln in va}
    assert f["val"]["line_of"].tolist() == [k for k, ln in enumerate(va) for _ in ln[1:]]
    assert int(f["test"]["line_of"].max()) == 2
    with torch.no_grad():
        ref = model.base_model(input_ids=torch.tensor([many[0]])).last_hidden_state[0, :-1]
    assert torch.allclose(f["train"]["h"][: len(many[0]) - 1], ref, atol=1e-5)


def test_cached_logit_path_equals_peft_forward(tiny):
    """Loss and gradients of the cached path (base logits + low-rank delta, LowRankCE) vs PEFT's
    LoRA layer on the full output layer, with autograd: within 1e-5 (float32)."""
    from torch.func import functional_call

    from quantum_llm.qpa.adapter import substitution

    model, _, lines = tiny
    sp = _splits(model, lines)
    w = model.get_output_embeddings().weight.detach()
    h, y = sp["train"].h[:50], sp["train"].y[:50]
    torch.manual_seed(3)
    a = (torch.randn(2, w.shape[1]) * 0.3).requires_grad_()
    b = (torch.randn(w.shape[0], 2) * 0.3).requires_grad_()
    peft_head = wrap(HeadOnly(w), lora_config(2, 4.0, 0.0, ["lm_head"]))
    ref = torch.nn.functional.cross_entropy(functional_call(peft_head, substitution({"lm_head": (a, b)}), (h,)), y)
    ga, gb = torch.autograd.grad(ref, (a, b))
    loss = LowRankCE.apply(h @ w.T, h @ a.T, b, y, 2.0)
    ca, cb = torch.autograd.grad(loss, (a, b))
    assert loss.item() == pytest.approx(ref.item(), abs=1e-5)
    assert torch.allclose(ca, ga, atol=1e-5) and torch.allclose(cb, gb, atol=1e-5)
    assert gb.abs().max() > 1e-3   # not trivially zero


@pytest.mark.parametrize("name", ["qpa_gated", "control_gated", "qpa_frozen"])
def test_gate_starts_exactly_at_the_base(tiny, name):
    model, _, lines = tiny
    w = model.get_output_embeddings().weight.detach()
    row = next(r for r in rows(2, [2, 1]) if r.name == name)
    run = Run(row, 1e-2, _cfg(), w)
    a, b = run.factors()
    assert torch.count_nonzero(b) == 0 and run.diagnostics()["dw_rel"] == 0.0
    h = _splits(model, lines)["test"].h
    assert torch.equal(h @ w.T + 2.0 * (h @ a.T) @ b.T, h @ w.T)   # adapted logits == base logits, exactly
    paper = Run(next(r for r in rows(2, [2]) if r.name == "qpa_paper"), 1e-2, _cfg(), w)
    assert paper.diagnostics()["dw_rel"] > 0.01   # the published generator starts far from the base
    # one step moves the gate (training is not stuck at the start)
    sp = _splits(model, lines)
    run.step(sp["train"].h[:32], sp["train"].h[:32] @ w.T, sp["train"].y[:32])
    assert run.generator.gate.item() != 0.0


def test_control_and_qpa_share_the_mapping_init(tiny):
    model, _, _ = tiny
    w = model.get_output_embeddings().weight.detach()
    by = {r.name: Run(r, 1e-2, _cfg(), w) for r in rows(2, [2])}
    ref = by["qpa_gated"].generator.mapping.state_dict()
    for name in ("qpa_paper", "control_gated", "qpa_frozen"):
        assert all(torch.equal(v, ref[k]) for k, v in by[name].generator.mapping.state_dict().items()), name
    assert torch.equal(by["qpa_paper"].generator.probs.theta, by["qpa_gated"].generator.probs.theta)
    assert not by["qpa_frozen"].generator.probs.theta.requires_grad
    assert by["qpa_frozen"].trainable == by["qpa_gated"].trainable - by["qpa_gated"].generator.probs.theta.numel()
    # the gate is counted: one parameter more than the published generator
    assert by["qpa_gated"].trainable == by["qpa_paper"].trainable + 1


def test_train_rows_choose_on_validation_and_keep_the_best_checkpoint(tiny):
    model, _, lines = tiny
    sp = _splits(model, lines)
    w = model.get_output_embeddings().weight.detach()
    chosen = [r for r in rows(2, [2]) if r.name in ("lora_r2", "qpa_gated", "qpa_frozen")]
    out = train_rows(w, sp["train"], sp["val"], chosen, _cfg(lrs=(1e-3, 3e-2)))
    for name, res in out.items():
        best = {lr: d["best_val_loss"] for lr, d in res.by_lr.items()}
        assert res.lr == min(best, key=best.get)
        assert res.by_lr[res.lr]["best_val_loss"] < res.by_lr[res.lr]["initial_val_loss"] - 1e-3, name
        # the restored checkpoint reproduces its validation loss
        from quantum_llm.qpa.train import evaluate_runs

        assert evaluate_runs([res.run], w, sp["val"], 64)[0] == pytest.approx(res.run.best[0], abs=1e-6)
    assert out["qpa_frozen"].by_lr[out["qpa_frozen"].lr]["end"]["source_max_abs_change"] == 0.0
    assert out["qpa_gated"].by_lr[out["qpa_gated"].lr]["end"]["source_max_abs_change"] > 0.0
    assert out["qpa_gated"].by_lr[out["qpa_gated"].lr]["end"]["chunk_rank"] <= 4 + 2   # affine map: rank <= N + 2


def test_line_nll_matches_transformers_loss(tiny):
    model, _, lines = tiny
    test = _splits(model, lines)["test"]
    w = model.get_output_embeddings().weight.detach()
    sums, tokens = line_nll(w, test, {"base": None, "zero": (torch.zeros(2, w.shape[1]), torch.zeros(w.shape[0], 2), 2.0)},
                            chunk=7)
    assert tokens.tolist() == [len(ln) - 1 for ln in lines]
    with torch.no_grad():
        for k, ln in enumerate(lines):
            ids = torch.tensor([ln])
            loss = model(input_ids=ids, labels=ids).loss.item()
            assert sums["base"][k] / tokens[k] == pytest.approx(loss, rel=1e-4)
    assert perplexity(sums["base"], tokens) == pytest.approx(perplexity(sums["zero"], tokens), rel=1e-6)


def test_ratio_bootstrap_over_lines():
    import numpy as np

    rng = np.random.default_rng(0)
    tokens = rng.integers(5, 50, 40)
    ref = {s: tokens * 3.0 + rng.normal(0, 1, 40) for s in (0, 1)}
    same = ratio_interval(ref, ref, tokens, 500)
    assert same.low == same.high == same.estimate == pytest.approx(1.0)
    worse = {s: v + 0.1 * tokens for s, v in ref.items()}      # +0.1 nats per token on every line
    iv = ratio_interval(worse, ref, tokens, 2000)
    assert iv.estimate == pytest.approx(math.exp(0.1)) and iv.low <= iv.estimate <= iv.high
    assert iv.over == "test items" and iv.n == 40
    noisy = {s: v + rng.normal(0, 5, 40) for s, v in ref.items()}
    iv = ratio_interval(noisy, ref, tokens, 2000)
    assert iv.low < iv.estimate < iv.high and iv.high - iv.low > 1e-3


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


def test_a_run_does_not_depend_on_the_other_runs_of_its_pass(tiny):
    # dropout masks and initialisation come from the seed alone: the qubits sweep's gated QPA
    # (trained alone) equals the same row trained beside every other row
    model, _, lines = tiny
    sp = _splits(model, lines)
    w = model.get_output_embeddings().weight.detach()
    by = {r.name: r for r in rows(2, [2])}
    cfg = _cfg(steps=6, eval_every=3, dropout=0.1)
    alone = train_rows(w, sp["train"], sp["val"], [by["qpa_gated"]], cfg)["qpa_gated"].run.factors()
    shared = train_rows(w, sp["train"], sp["val"], [by["lora_r2"], by["qpa_gated"]], cfg)["qpa_gated"].run.factors()
    assert all(torch.equal(x, y) for x, y in zip(alone, shared, strict=True))


def test_adapted_nll_in_a_reused_buffer_equals_torch_logsumexp():
    # oracle: torch.logsumexp / cross_entropy on a freshly built logit matrix; the in-place path in a
    # buffer reused across adapters (dirty from the previous one) must agree to float rounding (1e-6 rel)
    from quantum_llm.qpa.train import adapted_nll
    g = torch.Generator().manual_seed(0)
    t, d, v, r = 37, 16, 300, 3
    h, w = torch.randn(t, d, generator=g), torch.randn(v, d, generator=g)
    y = torch.randint(0, v, (t,), generator=g)
    base = h @ w.T
    buf = torch.full((64, v), float("nan"))
    for _ in range(3):
        a, b = torch.randn(r, d, generator=g), torch.randn(v, r, generator=g)
        z = base + 1.5 * (h @ a.T) @ b.T
        ref = torch.nn.functional.cross_entropy(z, y, reduction="none")
        got = adapted_nll(h, base, y, a, b, 1.5, out=buf[:t])
        assert torch.allclose(got, ref, rtol=1e-6, atol=1e-6)
        assert torch.allclose(adapted_nll(h, base, y, a, b, 1.5), ref, rtol=1e-6, atol=1e-6)
        # the docstring's claim: bit for bit what torch.logsumexp gives on the same addmm logits
        zz = torch.addmm(base, h @ a.T, b.T, alpha=1.5)
        assert torch.equal(got, torch.logsumexp(zz, 1) - zz.gather(1, y[:, None]).squeeze(1))
        assert torch.equal(base, h @ w.T)   # the cached base logits are never written
