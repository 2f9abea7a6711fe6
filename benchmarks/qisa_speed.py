"""Benchmark: QISA vs CSA inference time per token, same model shape, one process.

    python benchmarks/qisa_speed.py            # shape from params.yaml's qisa.model
    python benchmarks/qisa_speed.py --batch 1 64 1024 --repeats 50

Both models are freshly initialised with the same shape; their forward passes are interleaved
(so machine load hits both alike) and the median per batch size is reported, with the ratio.
QISA here is the causal `qisa` variant with the matrix-free Pauli values; `--paper-style`
adds a model whose values use the authors' precomputation O'_i = W_v^T O_i W_v (x^T O'_i x,
O(h d^2) per token) to show where their 2.6x came from.
"""

from __future__ import annotations

import argparse
import logging
import platform

import torch

from quantum_llm.config import load_section
from quantum_llm.qisa.evaluate import time_forward
from quantum_llm.qisa.model import CharGPT, GPTConfig, QISAttention
from quantum_llm.qisa.pauli import dense_pauli_matrix

log = logging.getLogger("qisa_speed")


class PrecomputedValues(torch.nn.Module):
    """The published fast path: v_i = x^T O'_i x with O'_i = W_v^T Re(O_i)[:d, :d] W_v (h dense d x d matrices)."""

    def __init__(self, attn: QISAttention):
        super().__init__()
        C = attn.n_embd
        mats = []
        for h, values in enumerate(attn.values):
            wv = attn.w_v.weight[h * C:(h + 1) * C].detach()  # (d, d)
            for s in values.strings:
                o = dense_pauli_matrix(s).real[:C, :C].float()
                mats.append(wv.T @ o @ wv)
        self.register_buffer("o_prime", torch.stack(mats))  # (n_head * h, d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, T, n_head * h)
        return torch.einsum("btc,icd,btd->bti", x, self.o_prime, x)


def paper_style(model: CharGPT) -> CharGPT:
    """Same weights, but values from the precomputed d x d matrices (x^T O'_i x)."""
    import types

    for block in model.blocks:
        attn = block.attn
        attn.precomputed = PrecomputedValues(attn)

        def forward(self, x):
            B, T, C = x.shape
            q, k = self.c_qk(x).split(C, -1)  # (B, T, C) each
            v = self.precomputed(x)  # (B, T, C), O(h d^2) per token
            q, k, v = (t.view(B, T, self.n_head, self.hs).transpose(1, 2) for t in (q, k, v))
            d2 = torch.cdist(q, k) ** 2  # (B, nh, T, T)
            scores = torch.exp(-d2).masked_fill(self.future[:T, :T], float("-inf"))
            y = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T, C)
            return self.c_proj(y)

        attn.forward = types.MethodType(forward, attn)
    return model


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64, 1024], help="windows per forward pass")
    parser.add_argument("--repeats", type=int, default=50, help="timed forward passes per model and batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--paper-style", action="store_true", help="also time the authors' O'_i precomputation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = load_section("qisa").model.model_dump()
    torch.manual_seed(0)
    models = {a: CharGPT(GPTConfig(attention=a, **shape)).eval() for a in ("csa", "qisa")}
    if args.paper_style:
        models["qisa_precomputed"] = paper_style(CharGPT(GPTConfig(attention="qisa", **shape)).eval())
    sizes = {k: m.num_params() for k, m in models.items()}
    log.info("shape %s, parameters %s, %d thread(s), torch %s, %s", shape, sizes, args.threads, torch.__version__,
             platform.processor() or platform.machine())
    log.info("%6s  %14s  %14s  %10s  %s", "batch", "CSA us/token", "QISA us/token", "QISA / CSA",
             "(ratio of minima)")
    for b in args.batch:
        t = time_forward(models, b, args.repeats)
        us = {k: v["seconds_per_token"] * 1e6 for k, v in t.items()}
        mins = {k: v["min_seconds_per_token"] for k, v in t.items()}
        line = (f"{b:6d}  {us['csa']:14.3f}  {us['qisa']:14.3f}  {us['qisa'] / us['csa']:9.2f}x  "
                f"({mins['qisa'] / mins['csa']:.2f}x)")
        if "qisa_precomputed" in us:
            line += f"   (precomputed O'_i, the paper's path: {us['qisa_precomputed'] / us['csa']:.2f}x)"
        log.info(line)


if __name__ == "__main__":
    main()
