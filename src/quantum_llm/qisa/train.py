"""Training of the character GPT on the prepared character corpus (data/prepared/chars)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..device import resolve_device, synchronize
from ..io import read_parquet
from .model import CharGPT, GPTConfig

log = logging.getLogger(__name__)


def load_split(chars_dir: str | Path, split: str) -> torch.Tensor:
    """A split as one id tensor: the Parquet rows are lines, joining them gives the split."""
    table = read_parquet(Path(chars_dir) / f"{split}.parquet", ["ids"], stage="prepare_chars")
    flat = table.column("ids").combine_chunks().flatten().to_numpy()
    return torch.from_numpy(flat.astype(np.int64))  # (n_chars,)


def load_vocab(chars_dir: str | Path) -> list[str]:
    return json.loads((Path(chars_dir) / "meta.json").read_text())["vocab"]


def get_batch(data: torch.Tensor, batch_size: int, block_size: int,
              gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows: x = data[s:s+T], y = data[s+1:s+T+1]; both (B, T), on ``data``'s device.
    The starts come from the CPU generator ``gen``, so CPU and CUDA runs draw the same windows."""
    starts = torch.randint(0, len(data) - block_size - 1, (batch_size,), generator=gen).to(data.device)
    offs = torch.arange(block_size, device=data.device)
    x = data[starts[:, None] + offs]
    return x, data[starts[:, None] + offs + 1]


@torch.no_grad()
def estimate_loss(model: CharGPT, data: torch.Tensor, batch_size: int, iters: int, seed: int) -> float:
    """Mean cross-entropy (nats per character) over ``iters`` seeded random batches."""
    was = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(iters):
        x, y = get_batch(data, batch_size, model.config.block_size, gen)
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
    model.train(was)
    return float(np.mean(losses))


def train(cfg: GPTConfig, train_data: torch.Tensor, val_data: torch.Tensor, *, seed: int, batch_size: int,
          lr: float, weight_decay: float, max_iters: int, eval_interval: int, eval_iters: int,
          grad_clip: float = 1.0, device: torch.device | str | None = None) -> tuple[CharGPT, list[dict]]:
    """AdamW on random windows. Returns the model (eval mode, on ``device``) and the training
    curve: one row per evaluation with step, train_loss (mean of the steps since the last row),
    val_loss, and seconds (wall clock since the start: the stage moves it to the curve's
    *.timing.json). ``device`` defaults to :func:`~quantum_llm.device.resolve_device`; the weights
    are initialised on the CPU (same seed, same initial model on every device) and then moved."""
    device = torch.device(device) if device is not None else resolve_device()
    torch.manual_seed(seed)
    model = CharGPT(cfg).to(device)
    train_data, val_data = train_data.to(device), val_data.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    curve: list[dict] = []
    running: list[torch.Tensor] = []  # losses stay on the device: no host sync per step
    t0 = time.perf_counter()
    model.train()
    for step in range(1, max_iters + 1):
        x, y = get_batch(train_data, batch_size, cfg.block_size, gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())  # mean over B*T characters
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        running.append(loss.detach())
        if step % eval_interval == 0 or step == max_iters:
            val = estimate_loss(model, val_data, batch_size, eval_iters, seed=10_000 + seed)
            synchronize(device)
            curve.append({"step": step, "train_loss": torch.stack(running).double().mean().item(), "val_loss": val,
                          "seconds": round(time.perf_counter() - t0, 2)})
            running = []
            log.info("%s seed %d step %d: train %.4f val %.4f", cfg.attention, seed, step,
                     curve[-1]["train_loss"], val)
    return model.eval(), curve
