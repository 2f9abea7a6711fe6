"""Cheap sweep and ablations in the default DAG: accuracy vs main-module qubits and with one
module removed. Every point is trained exactly like the main head (same selection rule) with
``sweep_seeds`` and ``sweep_epochs``, and evaluated exactly on the torch simulator (test split)."""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from .data import Split
from .model import HeadConfig, PQCHead, build_specs, spec_hashes
from .report import stats
from .train import accuracy, train_head

log = logging.getLogger(__name__)


def run_point(name: str, cfg: HeadConfig, splits: dict[str, Split], *, seeds: list[int], epochs: int,
              batch_size: int, lr: float) -> dict:
    """Train one configuration for each seed; test accuracy (percent, exact torch) per seed."""
    enc, main = build_specs(cfg)
    runs = []
    for s in seeds:
        torch.manual_seed(s)
        model = PQCHead(cfg, x_train=splits["train"].x, seed=s)
        model, _curve, best = train_head(model, splits["train"], splits["validation"], epochs=epochs,
                                         batch_size=batch_size, lr=lr, seed=s, desc=f"sweep {name} seed {s}")
        runs.append({"seed": s, "val_acc": 100 * best["val_acc"], "epoch": best["epoch"],
                     "test_acc": 100 * accuracy(model, splits["test"]), "params": model.num_params()})
    return {"name": name, "qubits": cfg.qubits, "ablation": cfg.ablation, "config": cfg.to_dict(),
            "params": runs[0]["params"], "acc": stats([r["test_acc"] for r in runs]), "runs": runs,
            "circuit_hashes": spec_hashes(enc, main)}


def sweep_points(base: HeadConfig, sweep_qubits: list[int], ablations: list[str]) -> dict[str, HeadConfig]:
    """Point name -> config: ``q<N>`` for each width (full head), ablation names at the default width.

    With ablations, the default width is always a width point too: the full head at the same budget
    (sweep seeds and epochs) is what each ablation is compared with."""
    widths = sorted(set(sweep_qubits) | ({base.qubits} if ablations else set()))
    pts = {f"q{n}": replace(base, qubits=n, main_readout=min(base.main_readout, n)) for n in widths}
    for a in ablations:
        pts[a] = HeadConfig.from_params(base.qubits, base, input_scale=base.input_scale, ablation=a,
                                        trainable_scale=base.trainable_scale, init_range=base.init_range)
    return pts
