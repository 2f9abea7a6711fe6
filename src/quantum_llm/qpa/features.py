"""Cached final hidden states of the frozen base model, for lm_head-only adaptation, and the
token ids behind them, for every other target (full backprop).

When only ``lm_head`` is adapted the backbone's output never changes, so it is computed once
here and every training step and evaluation is a (tokens x d) @ (d x vocab) product: this is
what makes a 135M model practical on 2 CPU cores.

- train: the first lines of the LM training split until ``train_tokens`` next-token targets;
  each line on its own (no packing), as in the paper. Stored (T, d) states and (T,) targets,
  plus the token ids of the picked lines (``lines`` (L, P) right-padded, ``line_len`` (L,)) and
  where each target sits (``line_of``, ``pos_of`` (T,): the input position that predicts it),
  for the full-backprop path (target modules other than ``lm_head``, whose input changes).
- test: the first ``test_lines`` lines of the test split, each right-padded to
  ``padded_length`` with the pad token (EOS) and an attention mask that hides the pads, as in
  the paper's protocol. Stored (M, P, d) states, (M, P) ids and a (M, P) mask of real tokens,
  so both the masked and the paper's padded perplexity come from one forward pass.
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


def _pad(lines: list[list[int]], length: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(lines), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(lines), length), dtype=torch.long)
    for i, ln in enumerate(lines):
        ids[i, : len(ln)] = torch.tensor(ln[:length])
        mask[i, : len(ln)] = 1
    return ids, mask


def train_features(model, lines: list[list[int]], train_tokens: int, pad_id: int,
                   batch_lines: int = 8) -> dict[str, torch.Tensor]:
    picked, total = [], 0
    for ln in lines:
        if len(ln) < 2:
            continue
        picked.append(ln)
        total += len(ln) - 1
        if total >= train_tokens:
            break
    # batch lines of similar length (little padding), then put the results back in line order
    order = sorted(range(len(picked)), key=lambda i: len(picked[i]))
    states: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for i in tqdm(range(0, len(order), batch_lines), desc="train features", unit="batch"):
        chunk = order[i: i + batch_lines]
        ids, mask = _pad([picked[k] for k in chunk], max(len(picked[k]) for k in chunk), pad_id)
        h = final_hidden(model, ids, mask)
        for j, k in enumerate(chunk):
            n = len(picked[k])
            states[k] = (h[j, : n - 1], ids[j, 1:n])
    h = torch.cat([states[k][0] for k in range(len(picked))])[:train_tokens]
    y = torch.cat([states[k][1] for k in range(len(picked))])[:train_tokens]
    lines_t, _ = _pad(picked, max(len(ln) for ln in picked), pad_id)
    line_of = torch.cat([torch.full((len(ln) - 1,), k, dtype=torch.long) for k, ln in enumerate(picked)])[:train_tokens]
    pos_of = torch.cat([torch.arange(len(ln) - 1) for ln in picked])[:train_tokens]
    log.info("train features: %d lines, %d targets", len(picked), len(y))
    return {"h": h.contiguous(), "y": y.contiguous(), "lines": lines_t,
            "line_len": torch.tensor([len(ln) for ln in picked]), "line_of": line_of, "pos_of": pos_of}


def test_features(model, lines: list[list[int]], n_lines: int, padded_length: int, pad_id: int,
                  batch_lines: int = 4) -> dict[str, torch.Tensor]:
    picked = [ln[:padded_length] for ln in lines if len(ln) >= 2][:n_lines]
    ids, mask = _pad(picked, padded_length, pad_id)
    hs = [final_hidden(model, ids[i: i + batch_lines], mask[i: i + batch_lines])
          for i in tqdm(range(0, len(picked), batch_lines), desc="test features", unit="batch")]
    log.info("test features: %d lines padded to %d (%d real tokens)", len(picked), padded_length, int(mask.sum()))
    return {"h": torch.cat(hs).contiguous(), "ids": ids, "real": mask.bool()}
