"""Benchmark: QISA vs CSA inference time per token, same model shape, one process.

    python benchmarks/qisa_speed.py            # shape from params.yaml's qisa.model
    python benchmarks/qisa_speed.py --batch 1 64 1024 --repeats 50

Both models are freshly initialised with the same shape; their forward passes are interleaved
in ABBA order (CSA, QISA, QISA, CSA, ...: machine load and drift hit both alike) and per batch
size the table shows each model's median time per token, the ratio QISA / CSA of the medians,
of the minima, and the median of the per-round ratios (each round's two QISA passes over its
two CSA passes); the target is <= 1.10 (printed as met / NOT met on all three).
QISA here is the causal `qisa` variant as the pipeline evaluates it: one input projection, then
the fused C kernel (quantum_llm.qisa.fused; the PyTorch ops where no C compiler is found, which
the header line says). `--ops` adds the same model on the PyTorch ops (the kernel off) to the
rounds; `--paper-style` adds a model whose values use the authors' precomputation
O'_i = W_v^T O_i W_v (x^T O'_i x, O(h d^2) per token) to show where their 2.6x came from.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time

import torch

from quantum_llm.config import load_section
from quantum_llm.qisa import fused
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


TARGET = 1.10


def time_abba(models: dict, batch: int, repeats: int, seed: int = 0) -> dict[str, list[float]]:
    """Seconds per forward pass, rounds of CSA, others..., others reversed..., CSA (ABBA)."""
    T, V = models["csa"].config.block_size, models["csa"].config.vocab_size
    x = torch.randint(0, V, (batch, T), generator=torch.Generator().manual_seed(seed))
    names = list(models)
    order = names + names[::-1]
    times: dict[str, list[float]] = {k: [] for k in names}
    with torch.inference_mode():
        for m in models.values():
            m(x)                                        # warm-up (also fills QISA's fused-weight cache)
        for _ in range(repeats):
            for k in order:
                t0 = time.perf_counter()
                models[k](x)
                times[k].append(time.perf_counter() - t0)
    return times


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64, 1024], help="windows per forward pass")
    parser.add_argument("--repeats", type=int, default=50, help="ABBA rounds per batch size (2 passes per model each)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--ops", action="store_true", help="also time QISA on the PyTorch ops (fused kernel off)")
    parser.add_argument("--paper-style", action="store_true", help="also time the authors' O'_i precomputation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flush = torch.set_flush_denormal(True)  # an untrained model can otherwise be dominated by denormals
    shape = load_section("qisa").model.model_dump()
    torch.manual_seed(0)
    models = {a: CharGPT(GPTConfig(attention=a, **shape)).eval() for a in ("csa", "qisa")}
    if args.ops:
        models["qisa_ops"] = CharGPT(GPTConfig(attention="qisa", **shape)).eval()
        models["qisa_ops"].load_state_dict(models["qisa"].state_dict())
        for block in models["qisa_ops"].blocks:
            block.attn.use_kernel = False
    if args.paper_style:
        models["qisa_precomputed"] = paper_style(CharGPT(GPTConfig(attention="qisa", **shape)).eval())
    sizes = {k: m.num_params() for k, m in models.items()}
    log.info("shape %s, parameters %s, %d thread(s), torch %s, %s, load %s", shape, sizes, args.threads,
             torch.__version__, platform.processor() or platform.machine(),
             " ".join(f"{v:.2f}" for v in os.getloadavg()))
    log.info("QISA attention at inference: %s", "one projection + the fused C kernel" if fused.kernel() is not None
             else "PyTorch ops (the fused kernel is unavailable, see the warning above)")
    log.info("%6s  %12s  %13s  %12s  %12s  %12s  %s", "batch", "CSA us/token", "QISA us/token", "QISA/CSA med",
             "QISA/CSA min", "paired med", "target <= 1.10")
    T = models["csa"].config.block_size
    for b in args.batch:
        t = time_abba(models, b, args.repeats)
        us = {k: statistics.median(v) / (b * T) * 1e6 for k, v in t.items()}
        r_med = us["qisa"] / us["csa"]
        r_min = min(t["qisa"]) / min(t["csa"])
        pairs = [(t["qisa"][2 * i] + t["qisa"][2 * i + 1]) / (t["csa"][2 * i] + t["csa"][2 * i + 1])
                 for i in range(args.repeats)]
        r_pair = statistics.median(pairs)
        met = "met" if max(r_med, r_min, r_pair) <= TARGET else "NOT met"
        line = (f"{b:6d}  {us['csa']:12.3f}  {us['qisa']:13.3f}  {r_med:11.2f}x  {r_min:11.2f}x  {r_pair:11.2f}x  {met}")
        if "qisa_ops" in us:
            line += f"   (on the PyTorch ops: {us['qisa_ops'] / us['csa']:.2f}x)"
        if "qisa_precomputed" in us:
            line += f"   (precomputed O'_i, the paper's path: {us['qisa_precomputed'] / us['csa']:.2f}x)"
        log.info(line)
    if flush:
        torch.set_flush_denormal(False)


if __name__ == "__main__":
    main()
