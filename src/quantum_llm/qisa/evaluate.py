"""Evaluation of a trained character GPT on the test split.

- Cross-entropy: mean token cross-entropy in nats per character, teacher-forced, over all
  non-overlapping block_size windows of the test split.
- Paper protocol (teacher-forced): a seeded sample of ``windows`` test windows of
  ``window`` characters; the argmax next-character prediction at every position vs the true
  next characters. CER = jiwer.cer per window, averaged (jiwer strips surrounding whitespace,
  as the paper's code did); WER = jiwer.wer over all fragments.
- Free-running: a seeded sample of ``prompts`` test prompts of block_size characters; greedy
  generation of ``generate`` characters vs the true continuation; jiwer CER and WER over all.
- Inference time per token: median over ``timing_repeats`` timed forward passes of a fixed
  batch of ``timing_batch`` windows, divided by batch x block_size tokens.
"""

from __future__ import annotations

import logging
import statistics
import time

import jiwer
import numpy as np
import torch
import torch.nn.functional as F

from ..device import synchronize
from .model import CharGPT

log = logging.getLogger(__name__)


def decode(ids, vocab: list[str]) -> str:
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()  # one host copy, not one per character
    return "".join(vocab[int(i)] for i in ids)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def split_cross_entropy(model: CharGPT, data: torch.Tensor, batch_size: int = 512) -> float:
    """Mean cross-entropy (nats/char) over all non-overlapping windows, every position scored."""
    T = model.config.block_size
    data = data.to(_device(model))
    n = (len(data) - 1) // T
    x = data[: n * T].view(n, T)
    y = data[1: n * T + 1].view(n, T)
    total = 0.0
    for i in range(0, n, batch_size):
        logits = model(x[i:i + batch_size])  # (b, T, vocab)
        total += F.cross_entropy(logits.flatten(0, 1), y[i:i + batch_size].flatten(), reduction="sum").item()
    return total / (n * T)


def window_starts(n_chars: int, length: int, count: int, seed: int) -> np.ndarray:
    """A seeded sample (without replacement) of window starts s with s + length + 1 <= n_chars."""
    rng = np.random.default_rng(seed)
    hi = n_chars - length - 1
    return np.sort(rng.choice(hi, size=min(count, hi), replace=False))


def cer_wer(references: list[str], hypotheses: list[str]) -> dict:
    """Per-window mean CER (jiwer.cer on each pair) and corpus WER (jiwer.wer over all pairs)."""
    return {
        "cer": float(np.mean([jiwer.cer(r, h) for r, h in zip(references, hypotheses, strict=True)])),
        "wer": float(jiwer.wer(references, hypotheses)),
    }


@torch.no_grad()
def paper_protocol(model: CharGPT, data: torch.Tensor, vocab: list[str], windows: int, seed: int) -> dict:
    """Teacher-forced argmax predictions on block_size-character windows (the paper's metrics)."""
    T = model.config.block_size
    starts = torch.from_numpy(window_starts(len(data), T, windows, seed))
    offs = torch.arange(T)
    x, y = data[starts[:, None] + offs], data[starts[:, None] + offs + 1]  # (M, T), on the host
    x = x.to(_device(model))
    pred = torch.cat([model(x[i:i + 512]).argmax(-1) for i in range(0, len(x), 512)]).cpu()  # (M, T)
    refs = [decode(r, vocab) for r in y]
    hyps = [decode(p, vocab) for p in pred]
    return {**cer_wer(refs, hyps), "windows": len(refs), "window_chars": T,
            "examples": [{"reference": r, "prediction": h} for r, h in zip(refs[:3], hyps[:3], strict=True)]}


@torch.no_grad()
def free_running(model: CharGPT, data: torch.Tensor, vocab: list[str], prompts: int, generate: int,
                 seed: int) -> dict:
    """Greedy generation from true test prompts, compared with the true continuation."""
    T = model.config.block_size
    starts = torch.from_numpy(window_starts(len(data), T + generate, prompts, seed))
    offs = torch.arange(T + generate)
    seqs = data[starts[:, None] + offs].cpu()  # (M, T + K)
    out = model.generate(seqs[:, :T].to(_device(model)), generate)[:, T:].cpu()  # (M, K)
    refs = [decode(r, vocab) for r in seqs[:, T:]]
    hyps = [decode(h, vocab) for h in out]
    return {**cer_wer(refs, hyps), "prompts": len(refs), "prompt_chars": T, "generated_chars": generate,
            "examples": [{"prompt": decode(p, vocab), "reference": r, "generated": h}
                         for p, r, h in zip(seqs[:3, :T], refs[:3], hyps[:3], strict=True)]}


@torch.no_grad()
def time_forward(models: dict[str, CharGPT], batch: int, repeats: int, seed: int = 0) -> dict[str, dict]:
    """Seconds per token (median of ``repeats`` forward passes), the models interleaved so
    that machine load affects all of them alike. Denormals are flushed (an untrained model
    can otherwise be dominated by denormal arithmetic). On CUDA each pass is bracketed by
    ``torch.cuda.synchronize`` so that the time covers the kernels, not just their launch."""
    flush = torch.set_flush_denormal(True)
    any_model = next(iter(models.values()))
    T, V = any_model.config.block_size, any_model.config.vocab_size
    device = _device(any_model)
    x = torch.randint(0, V, (batch, T), generator=torch.Generator().manual_seed(seed)).to(device)
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for m in models.values():  # warm-up
            m.eval()
            m(x)
        for _ in range(repeats):
            for k, m in models.items():
                synchronize(device)
                t0 = time.perf_counter()
                m(x)
                synchronize(device)
                times[k].append(time.perf_counter() - t0)
    if flush:
        torch.set_flush_denormal(False)
    # the median is the reported figure; the minimum is the least load-disturbed pass (shared machines)
    return {k: {"seconds_per_token": statistics.median(v) / (batch * T), "median_batch_seconds": statistics.median(v),
                "min_seconds_per_token": min(v) / (batch * T), "batch": batch, "block_size": T, "repeats": repeats}
            for k, v in times.items()}


PROTOCOLS = {
    "cross_entropy": "mean token cross-entropy on the test split, nats per character, teacher-forced, "
                     "all non-overlapping block_size windows",
    "paper": "teacher-forced: seeded sample of test windows of block_size characters; argmax next-character "
             "prediction at every position vs the true next characters; CER = mean of jiwer.cer per window, "
             "WER = jiwer.wer over all fragments (the paper's protocol)",
    "free_running": "seeded sample of test prompts of block_size characters; greedy generation of `generated_chars` "
                    "characters vs the true continuation; CER = mean of jiwer.cer per prompt, WER = jiwer.wer over all",
    "inference": "seconds per token = median over repeats of one forward pass of a fixed batch / (batch x block_size), "
                 "interleaved with a freshly initialised CSA model of the same shape in the same process; "
                 "ratio = this model / that CSA model; 1 torch thread, denormals flushed (on CUDA: each pass between torch.cuda.synchronize calls)",
    "causality_audit": "outputs at positions <= t must not change (beyond tolerance) when the inputs at positions > t "
                       "are redrawn, for every t; on the whole model (token ids) and on the first block's attention",
}


def evaluate_model(model: CharGPT, test: torch.Tensor, vocab: list[str], p) -> dict:
    """All test metrics of one trained model; ``p`` is the qisa.eval params section."""
    from .audit import causality_audit
    from .model import GPTConfig

    cfg = model.config
    model.eval()
    csa_ref = CharGPT(GPTConfig(**{**cfg.to_dict(), "attention": "csa", "pauli_strings": []})).to(_device(model)).eval()
    timing = time_forward({"model": model, "csa_reference": csa_ref}, p.timing_batch, p.timing_repeats)
    audit_model = causality_audit(model, trials=p.audit_trials, tolerance=p.audit_tolerance, seed=p.sample_seed)
    audit_attn = causality_audit(model.blocks[0].attn, seq_len=cfg.block_size, trials=p.audit_trials,
                                 tolerance=p.audit_tolerance, seed=p.sample_seed)
    metrics = {
        "variant": cfg.attention,
        "protocols": PROTOCOLS,
        "parameters": model.num_params(),
        "cross_entropy_nats": split_cross_entropy(model, test),
        "paper": paper_protocol(model, test, vocab, p.windows, p.sample_seed),
        "free_running": free_running(model, test, vocab, p.prompts, p.generate, p.sample_seed),
        "inference": {  # a measurement that varies run to run: the stage writes it to *.timing.json
            "seconds_per_token": timing["model"]["seconds_per_token"],
            "csa_reference_seconds_per_token": timing["csa_reference"]["seconds_per_token"],
            "ratio_vs_csa": timing["model"]["seconds_per_token"] / timing["csa_reference"]["seconds_per_token"],
            "ratio_vs_csa_of_minima": (timing["model"]["min_seconds_per_token"]
                                       / timing["csa_reference"]["min_seconds_per_token"]),
            "batch": p.timing_batch, "repeats": p.timing_repeats,
        },
        "causality_audit": {"causal": audit_model.causal and audit_attn.causal,
                            "model": audit_model.to_dict(), "attention_module": audit_attn.to_dict()},
    }
    log.info("%s: CE %.4f, paper CER %.4f WER %.4f, free CER %.4f WER %.4f, ratio %.2f, causal %s",
             cfg.attention, metrics["cross_entropy_nats"], metrics["paper"]["cer"], metrics["paper"]["wer"],
             metrics["free_running"]["cer"], metrics["free_running"]["wer"], metrics["inference"]["ratio_vs_csa"],
             metrics["causality_audit"]["causal"])
    return metrics
