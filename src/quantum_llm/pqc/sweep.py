"""Qubit sweep and ablations in the default DAG: accuracy vs main-module qubits and with one module
removed. Every point is trained with the same selection rule on each of ``sweep_seeds`` (data
seeds: each its own sample and split), ``sweep_epochs`` epochs, one learning rate, and evaluated
exactly on the torch simulator (test split). The chance line is each seed's majority class."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import torch

from ..stats import paired_differences, summarize, t_interval
from .data import Split
from .model import HeadConfig, PQCHead, build_specs, spec_hashes
from .train import accuracy, train_head

log = logging.getLogger(__name__)


def chance(train: Split, test: Split) -> float:
    """Test accuracy (percent) of the training split's majority class."""
    return 100 * float((test.y == np.bincount(train.y, minlength=2).argmax()).mean())


def run_point(name: str, cfg: HeadConfig, seed_splits: dict[int, dict[str, Split]], *, epochs: int,
              batch_size: int, lr: float) -> dict:
    """Train one configuration on every data seed; test accuracy (percent, exact torch) per seed,
    and the paired difference to the seed's chance level with a t interval over seeds."""
    enc, main = build_specs(cfg)
    runs = []
    for s, splits in seed_splits.items():
        torch.manual_seed(s)
        model = PQCHead(cfg, x_train=splits["train"].x, seed=s)
        model, _curve, best = train_head(model, splits["train"], splits["validation"], epochs=epochs,
                                         batch_size=batch_size, lr=lr, seed=s, desc=f"sweep {name} seed {s}")
        runs.append({"seed": s, "val_acc": 100 * best["val_acc"], "epoch": best["epoch"],
                     "test_acc": 100 * accuracy(model, splits["test"]), "params": model.num_params(),
                     "chance": chance(splits["train"], splits["test"])})
    diff = paired_differences({r["seed"]: r["test_acc"] for r in runs}, {r["seed"]: r["chance"] for r in runs})
    return {"name": name, "qubits": cfg.qubits, "ablation": cfg.ablation, "config": cfg.to_dict(),
            "params": runs[0]["params"], "acc": summarize([r["test_acc"] for r in runs]).to_dict(),
            "acc_interval": t_interval([r["test_acc"] for r in runs]).to_dict(),
            "minus_chance": t_interval(list(diff.values())).to_dict(), "runs": runs,
            "circuit_hashes": spec_hashes(enc, main)}


def sweep_points(base: HeadConfig, sweep_qubits: list[int], ablations: list[str]) -> dict[str, HeadConfig]:
    """Point name -> config: ``q<N>`` for each width, ablation names at the default width.

    With ablations, the default width is always a width point too: the full head at the same budget
    (sweep seeds and epochs) is what each ablation is compared with."""
    widths = sorted(set(sweep_qubits) | ({base.qubits} if ablations else set()))
    pts = {f"q{n}": replace(base, qubits=n, main_readout=min(base.main_readout, n)) for n in widths}
    for a in ablations:
        cfg = replace(base, ablation=a)
        if a == "no_encoder":
            cfg = replace(cfg, front="pca")
        elif a == "no_reupload":
            cfg = replace(cfg, reuploads=1)
        elif a == "range1":
            cfg = replace(cfg, main_range=1)
        pts[a] = cfg
    return pts
