"""Metrics on known strings and the summary table."""

import pytest
import torch

from quantum_llm.qisa.evaluate import cer_wer, paper_protocol, split_cross_entropy, window_starts
from quantum_llm.qisa.model import CharGPT, GPTConfig
from quantum_llm.report.aggregate import qisa_markdown, qisa_summary


def test_cer_wer_on_known_strings():
    m = cer_wer(["abcd efgh", "ijkl mnop"], ["abcd efgh", "ijkX mnop"])
    assert m["cer"] == pytest.approx((0 + 1 / 9) / 2)
    assert m["wer"] == pytest.approx(1 / 4)


def test_window_sample_is_seeded_and_in_range():
    a = window_starts(1000, 16, 50, seed=1)
    assert (a == window_starts(1000, 16, 50, seed=1)).all() and len(set(a)) == 50 and a.max() + 17 <= 1000


class Oracle(CharGPT):
    """Predicts the true next character: paper-protocol CER/WER must be 0."""

    def __init__(self, data):
        super().__init__(GPTConfig(attention="csa", vocab_size=5, n_layer=1, n_embd=4, block_size=8))
        self.data = data

    def forward(self, idx):
        nxt = torch.stack([self._next(row) for row in idx])
        return torch.nn.functional.one_hot(nxt, 5).float() * 100

    def _next(self, row):
        n = len(row)
        for s in range(len(self.data) - n):
            if torch.equal(self.data[s:s + n], row):
                return self.data[s + 1:s + n + 1]
        raise AssertionError


def test_paper_protocol_and_cross_entropy_of_a_perfect_predictor():
    vocab = ["a", "b", " ", "c", "\n"]
    data = torch.tensor([0, 1, 2, 3, 0, 0, 2, 1, 4, 3, 3, 2, 0, 1, 1, 2, 3, 4, 0, 2, 2, 1, 3] * 1)
    model = Oracle(data)
    m = paper_protocol(model, data, vocab, windows=5, seed=0)
    assert m["cer"] == 0 and m["wer"] == 0 and m["windows"] == 5
    assert split_cross_entropy(model, data) < 1e-6


def _run(variant, ce, cer, causal=True):
    return {"variant": variant, "run": f"{variant}-x", "parameters": 10, "protocols": {"paper": "p"},
            "cross_entropy_nats": ce, "paper": {"cer": cer, "wer": 2 * cer},
            "free_running": {"cer": 0.5, "wer": 0.9}, "inference": {"ratio_vs_csa": 1.0, "seconds_per_token": 1e-6},
            "causality_audit": {"causal": causal, "model": {"max_leak": 0.0 if causal else 0.1}}}


def test_summary_mean_std_ratios_and_table():
    s = qisa_summary([_run("csa", 2.0, 0.6), _run("csa", 2.2, 0.6), _run("qisa_paper", 0.2, 0.06, causal=False)])
    csa, paper = s["variants"]["csa"], s["variants"]["qisa_paper"]
    assert csa["ce_nats"]["mean"] == pytest.approx(2.1) and csa["ce_nats"]["std"] == pytest.approx(0.1414, abs=1e-4)
    assert paper["x_better_than_csa"]["paper_cer"] == pytest.approx(10.0) and not paper["causal"]
    assert paper["ce_nats"]["std"] is None and paper["ce_nats"]["n"] == 1  # one seed: no spread
    md = qisa_markdown(s)
    assert "| qisa_paper | 0.200 (n = 1) |" in md and "NO (leaks the future)" in md and "15.5x" in md
    assert "2.100 ± 0.141 (n = 2)" in md


def test_timings_are_summarised_apart_from_the_science_metrics():
    from quantum_llm.report.aggregate import qisa_timing_summary

    s = qisa_summary([_run("csa", 2.0, 0.6), _run("qisa", 1.0, 0.3)])
    assert all("inference_ratio_vs_csa" not in r and "seconds_per_token" not in r for r in s["variants"].values())
    assert "inference ratio" not in qisa_markdown(s)
    t = qisa_timing_summary([{"variant": "qisa", "inference": {"ratio_vs_csa": r, "seconds_per_token": 1e-6}}
                             for r in (1.2, 1.4)])
    assert t["variants"]["qisa"]["inference_ratio_vs_csa"]["mean"] == pytest.approx(1.3)
    assert t["variants"]["qisa"]["inference_ratio_vs_csa"]["n"] == 2
