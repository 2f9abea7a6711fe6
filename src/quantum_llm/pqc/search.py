"""Validation search of a quantum variant on one data seed over its declared grid (params.yaml
``pqc.search``; :func:`quantum_llm.pqc.grid.quantum_grid`): every grid point is trained with the
same budget and selection rule (at most ``pqc.epochs`` epochs, early stop after ``pqc.patience``,
best validation epoch kept), and the point with the best validation accuracy is selected (ties ->
first in grid order). Grid sizes are declared per head, not forced equal (by default 4 points for
every quantum variant and each classical head; 2 for the size-matched MLP, whose width is fixed);
every head's grid size is recorded and printed in the report. The encoder-output probe is taken
on the selected head at its initial and trained weights."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .data import Split
from .grid import VARIANTS, arch, arch_tag, quantum_grid
from .model import HeadConfig, PQCHead, check_circuit_files, expected_params
from .probes import logistic_probe
from .train import accuracy, train_head

log = logging.getLogger(__name__)


def point_config(base: HeadConfig, circuits, point: dict, variant: str) -> HeadConfig:
    a = arch(circuits, point)
    return replace(base, front=VARIANTS[variant], encoder_ansatz=a["encoder_ansatz"],
                   encoder_layers=a["encoder_layers"], encoders=a["encoders"], reupload_blocks=a["reupload_blocks"])


def front_outputs(model: PQCHead, splits: dict[str, Split]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {k: model.encoder_outputs(torch.as_tensor(s.x)).numpy() for k, s in splits.items()}


def encoder_probe(model: PQCHead, splits: dict[str, Split], cs: list[float]) -> dict:
    """Logistic probe (C on validation) on the first module's outputs; test accuracy in percent."""
    z = front_outputs(model, splits)
    return {**logistic_probe({k: (z[k], s.y) for k, s in splits.items()}, cs),
            "z_std_across_sentences": float(z["train"].std(0).mean())}


def search_variant(variant: str, seed: int, splits: dict[str, Split], *, base: HeadConfig, circuits, search,
                   circuits_dir: Path, epochs: int, patience: int, batch_size: int,
                   probe_cs: list[float]) -> tuple[PQCHead, list[dict], dict]:
    """(selected model, its curve, record: grid results, selection, params, test accuracy, probe)."""
    grid = quantum_grid(search, variant)
    results, best = [], None
    for i, point in enumerate(grid):
        cfg = replace(point_config(base, circuits, point, variant), embedding_dim=int(splits["train"].x.shape[1]))
        torch.manual_seed(seed)
        model = PQCHead(cfg, x_train=splits["train"].x, seed=seed)
        tag = arch_tag(arch(circuits, point))
        hashes = check_circuit_files(circuits_dir / "pqc_search" / tag, model.encoder_spec, model.main_spec)
        model.cfg = replace(model.cfg, circuit_hashes=hashes)
        assert model.num_params() == expected_params(model.cfg), "parameter count formula out of date"
        init_probe = encoder_probe(model, splits, probe_cs) if variant == "faithful" else None
        model, curve, sel = train_head(model, splits["train"], splits["validation"], epochs=epochs, patience=patience,
                                       batch_size=batch_size, lr=point["lr"], seed=seed,
                                       desc=f"{variant} seed {seed} point {i + 1}/{len(grid)}")
        results.append({"point": point, "val_acc": 100 * sel["val_acc"], "epoch": sel["epoch"],
                        "epochs_run": sel["epochs_run"], "params": model.num_params()})
        if best is None or sel["val_acc"] > best[0]:
            best = (sel["val_acc"], i, model, curve, init_probe)
    _, idx, model, curve, init_probe = best
    record = {"variant": variant, "seed": seed, "grid_size": len(grid), "grid": results, "selected": idx,
              "selected_point": grid[idx], "config": model.cfg.to_dict(), "params": model.num_params(),
              "param_breakdown": model.param_breakdown(), "val_acc": results[idx]["val_acc"],
              "test_acc_torch": 100 * accuracy(model, splits["test"])}
    if variant == "faithful":
        record["encoder_probe"] = {"init": init_probe, "trained": encoder_probe(model, splits, probe_cs)}
    log.info("%s seed %d: selected %s (val %.2f, test %.2f)", variant, seed, grid[idx], record["val_acc"],
             record["test_acc_torch"])
    return model, curve, record
