"""The character GPT's attention variants: causality audit, Pauli strings saved with the model,
training reduces the loss, config validation."""

import pytest
import torch
from torch import nn

from quantum_llm.config import ParamsError, load_section
from quantum_llm.qisa.audit import causality_audit
from quantum_llm.qisa.model import ATTENTIONS, CharGPT, GPTConfig, load_checkpoint, save_checkpoint
from quantum_llm.qisa.train import train

SMALL = {"n_layer": 2, "n_embd": 16, "n_head": 2, "block_size": 12, "dropout": 0.1}


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_audit_passes_causal_variants_and_flags_the_published_one(attention):
    torch.manual_seed(0)
    model = CharGPT(GPTConfig(attention=attention, **SMALL))
    on_model = causality_audit(model, trials=2)
    on_module = causality_audit(model.blocks[0].attn, seq_len=12, trials=2)
    causal = attention != "qisa_paper"
    assert on_model.causal is causal and on_module.causal is causal
    assert model.training  # the audit restores the mode
    if causal:
        assert on_model.max_leak <= 1e-5 and on_model.first_leak_position is None
    else:
        assert on_model.max_leak > 1e-3 and on_model.first_leak_position == 0


def test_audit_catches_a_hand_made_leak_in_any_module():
    class PeekNext(nn.Module):  # output t = input t+1
        n_embd = 4

        def forward(self, x):
            return torch.roll(x, -1, dims=1)

    r = causality_audit(PeekNext(), seq_len=6)
    assert not r.causal and r.first_leak_position == 0 and r.input_kind == "embeddings"
    assert causality_audit(nn.Linear(4, 4), seq_len=6).causal  # position-wise maps are causal


def test_qisa_paper_is_exactly_qisa_with_the_attention_matrix_transposed():
    """Oracle: with the same weights, the causal module outputs c_proj(A @ v) and the paper
    variant c_proj(A^T @ v), A and v written out from the spec's formulas (tolerance 1e-5)."""
    torch.manual_seed(0)
    cfg = {**SMALL, "n_head": 1, "dropout": 0.0}
    qisa = CharGPT(GPTConfig(attention="qisa", **cfg)).eval()
    paper = CharGPT(GPTConfig(attention="qisa_paper", **cfg)).eval()
    paper.load_state_dict(qisa.state_dict())
    assert qisa.config.pauli_strings == paper.config.pauli_strings
    x = torch.randn(2, 12, SMALL["n_embd"])
    with torch.no_grad():
        got_qisa, got_paper = qisa.blocks[0].attn(x), paper.blocks[0].attn(x)
        want_qisa = reference_qisa_attention(qisa.blocks[0].attn, x, transpose=False)
        want_paper = reference_qisa_attention(paper.blocks[0].attn, x, transpose=True)
    assert torch.allclose(got_qisa, want_qisa, atol=1e-5) and torch.allclose(got_paper, want_paper, atol=1e-5)
    assert not torch.allclose(got_paper, got_qisa, atol=1e-3)                # and it is not A v


def test_pauli_strings_are_seeded_and_restored_with_the_checkpoint(tmp_path):
    a = GPTConfig(attention="qisa", pauli_seed=7, **SMALL)
    assert a.pauli_strings == GPTConfig(attention="qisa", pauli_seed=7, **SMALL).pauli_strings
    assert a.pauli_strings != GPTConfig(attention="qisa", pauli_seed=8, **SMALL).pauli_strings
    assert len(a.pauli_strings) == 2 and len(a.pauli_strings[0]) == 2 and len(a.pauli_strings[0][0]) == 8
    assert all(len(s) == 4 for layer in a.pauli_strings for head in layer for s in head)  # n = log2 16
    model = CharGPT(a).eval()
    save_checkpoint(model, tmp_path / "m.pt")
    back = load_checkpoint(tmp_path / "m.pt")
    assert back.config.pauli_strings == a.pauli_strings
    x = torch.randint(0, 65, (3, 12))
    assert torch.equal(back(x), model(x))


def test_same_model_size_for_csa_and_qisa_with_one_head():
    one = {**SMALL, "n_head": 1}
    csa = CharGPT(GPTConfig(attention="csa", **one)).num_params()
    qisa = CharGPT(GPTConfig(attention="qisa", **one)).num_params()
    assert qisa == csa - one["n_layer"] * one["n_embd"]  # W_v has no bias (the spec)


def test_a_tiny_training_run_reduces_the_loss():
    torch.manual_seed(0)
    text = torch.randint(0, 8, (4000,))
    text[1::2] = (text[::2] + 1) % 8  # learnable: every odd character follows from the previous one
    for attention in ("csa", "qisa"):
        cfg = GPTConfig(vocab_size=8, attention=attention, **{**SMALL, "dropout": 0.0})
        _, curve = train(cfg, text, text, seed=0, batch_size=32, lr=1e-2, weight_decay=0.0, max_iters=60,
                         eval_interval=20, eval_iters=2)
        # uniform guessing costs ln 8 = 2.08 nats; the best possible is ln(8) / 2 = 1.04
        assert curve[-1]["val_loss"] < 1.7, (attention, curve)


def test_config_rejects_bad_values_in_one_line(tmp_path):
    import yaml

    base = yaml.safe_load(open("params.yaml"))["qisa"]
    for patch, msg in [
        ({"variants": ["csa", "qsa"]}, "qisa.variants.1 = 'qsa' is invalid"),
        ({"model": {**base["model"], "n_embd": 10, "n_head": 3}}, "n_embd = 10 is not divisible by n_head = 3"),
        ({"model": {**base["model"], "dropout": -0.1}}, "qisa.model.dropout = -0.1 is invalid"),
        ({"seeds": [0, 0]}, "entries must be unique"),
    ]:
        f = tmp_path / "params.yaml"
        f.write_text(yaml.safe_dump({"qisa": {**base, **patch}}))
        with pytest.raises(ParamsError, match=msg.replace(".", r"\.").replace("(", r"\(")) as e:
            load_section("qisa", f)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown attention"):
        GPTConfig(attention="qsa")


def reference_qisa_attention(attn, x: torch.Tensor, transpose: bool) -> torch.Tensor:
    """The spec's formulas written out directly: dense Pauli matrices, explicit distances."""
    from quantum_llm.qisa.pauli import dense_pauli_matrix

    B, T, C = x.shape
    nh, hs = attn.n_head, attn.hs
    q, k = attn.c_qk(x).double().split(C, -1)
    u = attn.w_v(x).double().view(B, T, nh, C)
    heads = []
    for h, values in enumerate(attn.values):
        n = len(values.strings[0])
        pad = torch.zeros(B, T, 2**n, dtype=torch.complex128)
        pad[..., :C] = u[:, :, h]
        v = torch.stack([torch.einsum("bti,ij,btj->bt", pad, dense_pauli_matrix(s), pad).real
                         for s in values.strings], -1)  # (B, T, hs)
        qh, kh = q[..., h * hs:(h + 1) * hs], k[..., h * hs:(h + 1) * hs]
        a = torch.exp(-((qh[:, :, None] - kh[:, None]) ** 2).sum(-1))  # (B, T, T)
        a = a.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf")).softmax(-1)
        heads.append((a.transpose(1, 2) if transpose else a) @ v)
    return attn.c_proj(torch.cat(heads, -1).float())


@pytest.mark.parametrize("layout", ["wide", "narrow", "kernel"])
@pytest.mark.parametrize("attention", ["qisa", "qisa_paper"])
@pytest.mark.parametrize("n_head,n_embd", [(1, 16), (2, 16), (2, 12)])
def test_qisa_attention_matches_the_spec_formulas(attention, n_head, n_embd, layout, monkeypatch):
    """Every layout of the fused attention (PyTorch ops: few ops for small calls, few
    multiply-adds for large ones; the C kernel at inference where it applies: one head, causal),
    inference (cached weights) and training paths, against the formulas."""
    from quantum_llm.qisa import fused
    from quantum_llm.qisa import model as qisa_model
    calls = []
    if layout == "kernel":
        if fused.kernel() is None:
            pytest.skip("no C compiler here (or QUANTUM_LLM_KERNELS=0): the fused kernel is not built")
        if attention == "qisa_paper" or n_head > 1:
            pytest.skip("the kernel serves the causal one-head attention only (these run the ops layouts)")
        real = fused.causal_attention
        monkeypatch.setattr(fused, "causal_attention", lambda *a: calls.append(1) or real(*a))
    else:
        monkeypatch.setattr(fused, "kernel", lambda: None)
        monkeypatch.setattr(qisa_model, "WIDE_MAX_TOKENS", 10**9 if layout == "wide" else 0)
    torch.manual_seed(0)
    cfg = GPTConfig(attention=attention, **{**SMALL, "n_head": n_head, "n_embd": n_embd, "dropout": 0.0})
    attn = CharGPT(cfg).blocks[1].attn.eval()
    for p in attn.parameters():  # larger weights than the init, so every term matters
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(3, 12, n_embd)
    want = reference_qisa_attention(attn, x, transpose=attention == "qisa_paper")
    with torch.no_grad():
        got_eval = attn(x)  # cached fused projection
    got_grad = attn(x)  # training path
    assert len(calls) == (layout == "kernel")
    assert torch.allclose(got_eval, want, atol=1e-5), (got_eval - want).abs().max()
    assert torch.allclose(got_grad, want, atol=1e-5)
    with torch.no_grad():  # the cache follows in-place parameter updates (an optimiser step)
        attn.c_proj.weight.mul_(1.5)
        want = reference_qisa_attention(attn, x, transpose=attention == "qisa_paper")
        assert torch.allclose(attn(x), want, atol=1e-5)
        attn.attn_dropout.p = 0.5       # no-grad training mode (bias after the product), then eval again
        attn.train()
        attn(x)
        attn.eval()
        assert torch.allclose(attn(x), want, atol=1e-5)


def test_fused_attention_equals_the_previous_formulation(monkeypatch):
    """The fused attention (c_proj folded into the values, norms from the value product) against
    the formulation it replaced, written out here: per-token q, k, u; vecdot norms; softmax of
    exp(-d^2); A @ v through c_proj. Random weights (outputs up to ~30), float32, both layouts
    of the PyTorch ops (the C kernel: tests/unit/test_qisa_kernel.py), with and without
    gradient: to 1e-6 of the largest output (~8 float32 rounding steps)."""
    import torch.nn.functional as F

    from quantum_llm.qisa import fused
    from quantum_llm.qisa import model as qisa_model

    monkeypatch.setattr(fused, "kernel", lambda: None)

    torch.manual_seed(3)
    cfg = GPTConfig(attention="qisa", **{**SMALL, "n_head": 1, "dropout": 0.0})
    attn = CharGPT(cfg).blocks[0].attn.eval()
    for p in attn.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(4, 12, 16)
    with torch.no_grad():
        q, k = attn.c_qk(x).split(16, -1)
        u = attn.w_v(x)
        v = (u[..., attn.left] * u[..., attn.right]) @ attn.table
        sq = torch.linalg.vecdot(q, q).unsqueeze(-1) + torch.linalg.vecdot(k, k).unsqueeze(-2)
        a = torch.baddbmm(sq, q, k.transpose(-2, -1), beta=-1, alpha=2).exp()
        a = a.masked_fill(~torch.tril(torch.ones(12, 12, dtype=torch.bool)), float("-inf"))
        want = attn.c_proj(torch.bmm(F.softmax(a, -1), v))
    for limit in (10**9, 0):
        qisa_model.WIDE_MAX_TOKENS, saved = limit, qisa_model.WIDE_MAX_TOKENS
        try:
            for grad in (False, True):  # inference (cached weights) and training paths
                with torch.set_grad_enabled(grad):
                    err = (attn(x).detach() - want).abs().max()
                assert err <= 1e-6 * want.abs().max(), (grad, err)
        finally:
            qisa_model.WIDE_MAX_TOKENS = saved
