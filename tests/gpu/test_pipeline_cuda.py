"""A tiny-profile pipeline run with QUANTUM_LLM_DEVICE=cuda: the stages run, record the CUDA
device in their manifests, and the device does not enter the params (a CPU repro afterwards
has nothing to do). Plus CPU-vs-CUDA agreement of one model's test metrics."""

import json

import numpy as np
import torch

from ..conftest import run, set_params
from ..integration.test_qisa_pipeline import TINY_QISA


def test_tiny_pipeline_on_cuda(tiny_repo, monkeypatch):
    repo = tiny_repo
    set_params(repo / "params.yaml", TINY_QISA)
    monkeypatch.setenv("QUANTUM_LLM_DEVICE", "cuda")
    run(["dvc", "repro", "qisa_summary"], repo)
    for v in ("csa", "qisa", "qisa_paper"):
        manifest = json.loads((repo / f"models/qisa/{v}-0/manifest.json").read_text())
        assert manifest["device"]["type"] == "cuda" and manifest["device"]["name"]
    summary = json.loads((repo / "metrics/qisa/summary.json").read_text())
    assert {v: r["causal"] for v, r in summary["variants"].items()} == {"csa": True, "qisa": True, "qisa_paper": False}
    monkeypatch.setenv("QUANTUM_LLM_DEVICE", "cpu")
    assert "Running stage" not in run(["dvc", "repro", "qisa_summary"], repo).stdout


def test_cuda_evaluation_matches_cpu():
    from quantum_llm.qisa.evaluate import paper_protocol, split_cross_entropy
    from quantum_llm.qisa.model import CharGPT, GPTConfig
    from quantum_llm.qisa.train import train

    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, 20, (4000,), generator=g)
    cfg = GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0, attention="qisa",
                    pauli_seed=0)
    model, _ = train(cfg, data, data, seed=0, batch_size=8, lr=1e-3, weight_decay=0.0, max_iters=5, eval_interval=5,
                     eval_iters=1, device="cpu")
    vocab = [chr(97 + i) for i in range(20)]
    ce_cpu = split_cross_entropy(model, data)
    paper_cpu = paper_protocol(model, data, vocab, 50, 0)
    on_cuda = CharGPT(model.config).cuda()
    on_cuda.load_state_dict(model.state_dict())
    on_cuda.eval()
    # float32 on both devices: a relative 1e-4 on the mean cross-entropy; argmax ties may flip a few characters
    assert abs(split_cross_entropy(on_cuda, data) - ce_cpu) <= 1e-4 * ce_cpu
    assert abs(paper_protocol(on_cuda, data, vocab, 50, 0)["cer"] - paper_cpu["cer"]) <= 0.01
    assert np.isfinite(ce_cpu)
