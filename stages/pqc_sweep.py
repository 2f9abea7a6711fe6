"""Stage pqc_sweep: accuracy vs main-module qubits (pqc.sweep_qubits) and the ablations
(pqc.ablations) at the default width, for pqc.sweep_variant on the data seeds pqc.sweep_seeds;
one metrics JSON per point in the output folder."""

import argparse
from dataclasses import replace
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.pqc.data import check_seeds, load_splits
from quantum_llm.pqc.grid import VARIANTS
from quantum_llm.pqc.model import HeadConfig
from quantum_llm.pqc.sweep import run_point, sweep_points
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    shared, circuits, p = load_shared(), load_section("circuits"), load_section("pqc")
    torch.set_num_threads(p.threads)
    check_seeds(args.data, p.sweep_seeds, "pqc.sweep_seeds")
    seed_splits = {s: load_splits(args.data, s) for s in p.sweep_seeds}
    base = HeadConfig.from_params(shared.qubits, circuits, input_scale=p.input_scale,
                                  trainable_scale=p.trainable_scale, init_range=p.init_range)
    dim = int(seed_splits[p.sweep_seeds[0]]["train"].x.shape[1])
    base = replace(base, front=VARIANTS[p.sweep_variant], embedding_dim=dim)
    with atomic_dir(args.out) as tmp:
        for name, cfg in sweep_points(base, p.sweep_qubits, p.ablations).items():
            write_json(tmp / f"{name}.json", {**run_point(name, cfg, seed_splits, epochs=p.sweep_epochs,
                                                          batch_size=p.batch_size, lr=p.sweep_lr),
                                              "variant": p.sweep_variant, "units": "percent"})
        write_manifest(tmp, "pqc_sweep", {"qubits": shared.qubits, "circuits": circuits.model_dump(),
                                          "pqc": p.model_dump(include={"sweep_qubits", "sweep_seeds", "sweep_epochs",
                                                                       "sweep_variant", "sweep_lr", "ablations",
                                                                       "batch_size", "input_scale", "trainable_scale",
                                                                       "init_range", "threads"})},
                       [args.data])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="prepared SST-2 embeddings (data/prepared/sst2)")
    parser.add_argument("--out", type=Path, required=True, help="folder of per-point metrics (metrics/pqc/sweep)")
    with threadpool_limits(1):  # tiny BLAS calls: one thread avoids the pool's overhead on a shared machine
        run_stage(main, parser)
