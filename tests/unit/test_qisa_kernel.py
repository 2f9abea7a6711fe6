"""QISA's fused C kernel (quantum_llm.qisa.fused) against the PyTorch ops it replaces at
inference, its thread split, and its fallbacks (no compiler, switched off)."""

import logging

import pytest
import torch

from quantum_llm import cbuild
from quantum_llm.qisa import fused
from quantum_llm.qisa.model import CharGPT, GPTConfig

needs_kernel = pytest.mark.skipif(fused.kernel() is None, reason="no C compiler here (or QUANTUM_LLM_KERNELS=0)")


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the C calls (so that an equality test cannot pass by comparing the ops with themselves)."""
    calls = []
    real = fused.causal_attention
    monkeypatch.setattr(fused, "causal_attention", lambda *a: calls.append(1) or real(*a))
    return calls


def attention_module(n_embd: int, block_size: int, std: float | None, seed: int = 0):
    torch.manual_seed(seed)
    cfg = GPTConfig(attention="qisa", n_layer=1, n_embd=n_embd, n_head=1, block_size=block_size, dropout=0.0)
    attn = CharGPT(cfg).blocks[0].attn.eval()
    if std is not None:    # larger weights than the init: |q - k|^2 from ~0 to far past exp's range
        for p in attn.parameters():
            torch.nn.init.normal_(p, std=std)
    return attn


def ops_output(attn, x, monkeypatch) -> torch.Tensor:
    with monkeypatch.context() as m, torch.no_grad():
        m.setattr(fused, "kernel", lambda: None)
        return attn(x)


@needs_kernel
@pytest.mark.parametrize("batch,block,n_embd", [(1, 16, 16), (5, 16, 16), (3, 12, 12), (2, 20, 16),
                                                (2, 33, 8), (4, 1, 16)])
@pytest.mark.parametrize("std", [None, 0.3])
def test_kernel_equals_the_pytorch_ops(batch, block, n_embd, std, monkeypatch, kernel_calls):
    """The default shape (its own compiled copy) and generic ones: blocks of 16 tokens with a
    padded last block (12, 20, 33), one token, C = 8 and 12. Init-sized weights (scores near
    exp(0)) and std 0.3 (distances up to ~100, past the clamp of exp). Tolerance: 1e-6 of the
    largest output, float32 rounding of two differently ordered sums and exp approximations
    of about 1 ulp; measured up to ~1.3e-7."""
    attn = attention_module(n_embd, block, std)
    x = torch.randn(batch, block, n_embd)
    want = ops_output(attn, x, monkeypatch)
    with torch.no_grad():
        got = attn(x)
    assert kernel_calls == [1]
    assert got.shape == want.shape
    err = (got - want).abs().max()
    assert err <= 1e-6 * want.abs().max(), err


@needs_kernel
def test_kernel_runs_where_it_applies_and_only_there(kernel_calls):
    """Counts the C calls: inference of the causal one-head attention (no_grad and
    inference_mode); not with autograd, in training mode, under CPU autocast (bfloat16
    projections), for qisa_paper, several heads or float64."""
    calls = kernel_calls
    attn = attention_module(16, 16, None)
    x = torch.randn(2, 16, 16)
    with torch.no_grad():
        attn(x)
    with torch.inference_mode():
        attn(x)
    assert len(calls) == 2
    attn(x)                                   # autograd
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(attn(x)).all()
    attn.train()
    with torch.no_grad():
        attn(x)
    attn.eval()
    with torch.no_grad():
        attn.double()(x.double())
    for other in (GPTConfig(attention="qisa_paper", n_layer=1, block_size=16, dropout=0.0),
                  GPTConfig(attention="qisa", n_layer=1, n_head=2, block_size=16, dropout=0.0)):
        with torch.no_grad():
            CharGPT(other).eval()(torch.zeros(2, 16, dtype=torch.long))
    assert len(calls) == 2


@needs_kernel
def test_whole_model_and_thread_split(monkeypatch, kernel_calls):
    """A whole model's logits with the kernel equal the ops' (1e-5 of the largest); with two
    torch threads the batch is split over a pool, with results bitwise equal to one thread's."""
    torch.manual_seed(1)
    model = CharGPT(GPTConfig(attention="qisa", n_layer=2, block_size=16, dropout=0.0)).eval()
    idx = torch.randint(0, 65, (2 * fused.MIN_SEQUENCES_PER_THREAD + 3, 16))
    want = ops_output(model, idx, monkeypatch)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            one = model(idx)
        torch.set_num_threads(2)
        with torch.no_grad():
            two = model(idx)
    finally:
        torch.set_num_threads(threads)
    assert len(kernel_calls) == 2 * 2        # two layers, two calls
    assert torch.equal(one, two)
    assert (one - want).abs().max() <= 1e-5 * want.abs().max()


@needs_kernel
def test_bad_inputs_are_refused_before_the_c_code_reads_them():
    """The C code reads raw memory: a wrong dtype or shape is one clear error, never a read."""
    attn = attention_module(16, 16, None)
    with torch.no_grad():
        _, _, (w, b, table, table_bias) = attn.fused_weights(True)
    qkuT = torch.zeros(48, 32)
    with pytest.raises(TypeError, match="qkuT must be torch.float32"):
        fused.causal_attention(qkuT.bfloat16(), 2, 16, 16, attn.left, attn.right, table, table_bias)
    with pytest.raises(TypeError, match="left must be torch.int64"):
        fused.causal_attention(qkuT, 2, 16, 16, attn.left.int(), attn.right, table, table_bias)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.causal_attention(qkuT, 3, 16, 16, attn.left, attn.right, table, table_bias)
    assert fused.causal_attention(torch.zeros(48, 0), 0, 16, 16, attn.left, attn.right, table, table_bias).shape == (0, 16)


@pytest.fixture
def fresh_kernel():
    def clear():
        fused.kernel.cache_clear()
        cbuild.load.cache_clear()
    clear()
    yield clear
    clear()


def test_no_compiler_or_switched_off_falls_back_to_the_ops(fresh_kernel, monkeypatch, caplog, tmp_path):
    """A CC that does not exist, a compiler that fails, or QUANTUM_LLM_KERNELS=0: one log line
    saying why, and the model still computes the same outputs through the PyTorch ops."""
    attn = attention_module(16, 16, 0.3)
    x = torch.randn(2, 16, 16)
    want = ops_output(attn, x, monkeypatch)
    monkeypatch.delenv(cbuild.ENV_SWITCH, raising=False)   # (the suite may run with the kernels off)
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'cc: error: this compiler is broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for env, message in ((("CC", str(tmp_path / "missing-cc")), "no C compiler found"),
                         (("CC", str(broken)), "this compiler is broken"),
                         ((cbuild.ENV_SWITCH, "0"), "C kernel off")):
        fresh_kernel()
        with monkeypatch.context() as m:
            m.setenv(*env)
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="quantum_llm.cbuild"), torch.no_grad():
                got = attn(x)
            assert fused.kernel() is None
        assert [r.getMessage() for r in caplog.records if message in r.getMessage()], caplog.text
        assert torch.equal(got, want)
    assert not list((tmp_path / "cache").rglob("*.so"))   # nothing half-built left behind


@needs_kernel
def test_the_build_is_cached_by_source_compiler_and_cpu(fresh_kernel, monkeypatch, tmp_path):
    """The library lands in $XDG_CACHE_HOME/quantum-llm/kernels once; a second load reuses it;
    an unwritable cache falls back to the temp folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fused.kernel() is not None
    built = list((tmp_path / "quantum-llm" / "kernels").glob("fused_attention-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    fresh_kernel()
    assert fused.kernel() is not None
    assert built[0].stat().st_mtime_ns == stamp
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr(cbuild.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    fresh_kernel()
    assert fused.kernel() is not None
    assert list((tmp_path / "tmp").rglob("fused_attention-*.so"))
