"""End-to-end training of a PQC head with model selection on the validation split.

Selection rule: Adam on the cross-entropy for up to ``epochs`` epochs of shuffled mini-batches;
after each epoch the validation accuracy is measured; the weights of the epoch with the highest
validation accuracy are kept (ties -> the earliest epoch); training stops early after
``patience`` epochs without a better validation accuracy. The test split is never looked at.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from tqdm import tqdm

from ..device import resolve_device, to_numpy
from .data import Split
from .model import PQCHead

log = logging.getLogger(__name__)

SELECTION_RULE = ("per data seed, every grid point is trained with the epoch of best validation accuracy kept "
                  "(ties -> earliest; early stop after `patience` epochs without improvement); the grid point with "
                  "the best validation accuracy is selected (ties -> first in grid order); the test split is used "
                  "only for the reported numbers")

def accuracy(model: PQCHead, split: Split, batch: int = 1024) -> float:
    """Exact (torch statevector) accuracy in [0, 1], on the device the model is on."""
    device = next(model.parameters()).device
    with torch.no_grad():
        preds = [to_numpy(model(torch.as_tensor(split.x[i:i + batch], device=device)).argmax(-1))
                 for i in range(0, len(split), batch)]
    return float((np.concatenate(preds) == split.y).mean())


def train_head(model: PQCHead, train: Split, val: Split, *, epochs: int, batch_size: int, lr: float,
               seed: int, patience: int | None = None, desc: str = "train pqc") -> tuple[PQCHead, list[dict], dict]:
    """Train in place on the runtime device (QUANTUM_LLM_DEVICE); returns (model with the selected
    weights, back on the CPU for export and qsim evaluation, curve, selection info)."""
    device = resolve_device()
    model.to(device)
    gen = torch.Generator().manual_seed(seed)   # CPU generator: the same batch order on every device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.as_tensor(train.x, device=device), torch.as_tensor(train.y, device=device)
    best = {"epoch": 0, "val_acc": accuracy(model, val)}
    best_state = copy.deepcopy(model.state_dict())
    # no wall-clock times here: the curve is a git-tracked metric (the stage's *.timing.json has them)
    curve = [{"epoch": 0, "train_loss": None, "val_acc": best["val_acc"]}]
    for epoch in tqdm(range(1, epochs + 1), desc=desc, unit="epoch"):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        losses = []
        for i in range(0, len(y), batch_size):
            idx = order[i:i + batch_size].to(device)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item() * len(idx))
        model.eval()
        val_acc = accuracy(model, val)
        curve.append({"epoch": epoch, "train_loss": float(np.sum(losses) / len(y)), "val_acc": val_acc})
        if val_acc > best["val_acc"]:
            best = {"epoch": epoch, "val_acc": val_acc}
            best_state = copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - best["epoch"] >= patience:
            break
    best["epochs_run"] = curve[-1]["epoch"]
    model.load_state_dict(best_state)
    model.to("cpu")
    log.info("%s: selected epoch %d (validation accuracy %.4f)", desc, best["epoch"], best["val_acc"])
    return model, curve, best
