"""Cached final hidden states of the frozen base model for lm_head-only adaptation.

When only ``lm_head`` is adapted the backbone's output never changes, so it is computed once
here and every training step and evaluation works on it (see :mod:`quantum_llm.qpa.train`).

Splits, by whole lines (each line its own sequence, no packing, no padding targets):

- train: the first lines of the LM training corpus until ``train_tokens`` next-token targets;
- validation: the lines right after them until ``val_tokens`` targets (no validation line
  shares a token with training; later lines are later articles of the corpus);
- test: the first ``test_lines`` lines of the test corpus.

Each split stores ``h`` (T, d), ``y`` (T,) and ``line_of`` (T,): the line (0-based within its
split) each target comes from, so the test perplexity can be resampled by line.
"""

from __future__ import annotations

import logging

import torch
from tqdm import tqdm

log = logging.getLogger(__name__)


@torch.no_grad()
def final_hidden(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Backbone output after the final norm: the lm_head's input. (B, T) -> (B, T, d)"""
    return model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state


def take_lines(lines: list[list[int]], start: int, tokens: int | None = None,
               n_lines: int | None = None) -> tuple[list[list[int]], int]:
    """Whole lines (>= 2 tokens) from index ``start`` until ``tokens`` targets or ``n_lines``
    lines; returns (lines, index after the last line read)."""
    picked, total, i = [], 0, start
    while i < len(lines):
        ln = lines[i]
        i += 1
        if len(ln) < 2:
            continue
        picked.append(ln)
        total += len(ln) - 1
        if (tokens is not None and total >= tokens) or (n_lines is not None and len(picked) >= n_lines):
            break
    return picked, i


def split_features(model, lines: list[list[int]], pad_id: int, batch_lines: int = 8) -> dict[str, torch.Tensor]:
    """Hidden states and targets of whole lines: {"h" (T, d), "y" (T,), "line_of" (T,)}."""
    if not lines:
        raise ValueError("no lines with at least 2 tokens")
    # batch lines of similar length (little padding, hidden by the attention mask), then restore order
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))
    states: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for i in tqdm(range(0, len(order), batch_lines), desc="features", unit="batch"):
        chunk = order[i: i + batch_lines]
        width = max(len(lines[k]) for k in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, k in enumerate(chunk):
            ids[j, : len(lines[k])] = torch.tensor(lines[k])
            mask[j, : len(lines[k])] = 1
        h = final_hidden(model, ids, mask)
        for j, k in enumerate(chunk):
            n = len(lines[k])
            states[k] = (h[j, : n - 1], ids[j, 1:n])
    return {"h": torch.cat([states[k][0] for k in range(len(lines))]).contiguous(),
            "y": torch.cat([states[k][1] for k in range(len(lines))]).contiguous(),
            "line_of": torch.cat([torch.full((len(ln) - 1,), k, dtype=torch.long) for k, ln in enumerate(lines)])}


def all_features(model, train_lines: list[list[int]], test_lines: list[list[int]], train_tokens: int,
                 val_tokens: int, n_test: int, pad_id: int) -> dict[str, dict[str, torch.Tensor]]:
    tr, nxt = take_lines(train_lines, 0, tokens=train_tokens)
    va, _ = take_lines(train_lines, nxt, tokens=val_tokens)
    te, _ = take_lines(test_lines, 0, n_lines=n_test)
    if not va:
        raise ValueError(f"the training corpus has no lines left for validation after {train_tokens} training "
                         "targets: lower qpa.train_tokens or use a longer corpus")
    out = {"train": split_features(model, tr, pad_id), "val": split_features(model, va, pad_id),
           "test": split_features(model, te, pad_id)}
    log.info("features: train %d lines / %d targets, val %d / %d, test %d / %d", len(tr), len(out["train"]["y"]),
             len(va), len(out["val"]["y"]), len(te), len(out["test"]["y"]))
    return out
