"""Stage train_pqc: every quantum variant (pqc.variants) on every data seed (data.sst2.seeds), each
searched over its declared grid on validation, trained end to end on the torch simulator with the
circuits of the circuits stage -> models/pqc/<variant>-<seed>, metrics/pqc/train.json (grid results,
selection, encoder-output probe) and training curves metrics/pqc/curves/<variant>-<seed>.json."""

import argparse
import time
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import build_manifest, lineage_block, write_manifest
from quantum_llm.pqc.data import check_seeds, data_hash, load_splits
from quantum_llm.pqc.model import HeadConfig, save_head
from quantum_llm.pqc.search import search_variant
from quantum_llm.pqc.train import SELECTION_RULE
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    shared, circuits, p, d = load_shared(), load_section("circuits"), load_section("pqc"), load_section("data.sst2")
    torch.set_num_threads(p.threads)
    check_seeds(args.data, d.seeds, "data.sst2.seeds")
    base = HeadConfig.from_params(shared.qubits, circuits, input_scale=p.input_scale,
                                  trainable_scale=p.trainable_scale, init_range=p.init_range)
    records, timing = [], {}
    params = {"qubits": shared.qubits, "circuits": circuits.model_dump(), "data.sst2.seeds": d.seeds,
              "pqc": p.model_dump(include={"variants", "epochs", "patience", "batch_size", "search", "input_scale",
                                           "trainable_scale", "init_range", "threads"})}
    with atomic_dir(args.out) as tmp, atomic_dir(args.curves) as curves:
        for seed in d.seeds:
            splits = load_splits(args.data, seed)
            for variant in p.variants:
                t0 = time.perf_counter()
                model, curve, rec = search_variant(variant, seed, splits, base=base, circuits=circuits, search=p.search,
                                                   circuits_dir=args.circuits, epochs=p.epochs, patience=p.patience,
                                                   batch_size=p.batch_size, probe_cs=p.classical.logreg_c)
                timing[f"{variant}-{seed}"] = time.perf_counter() - t0
                folder = tmp / f"{variant}-{seed}"
                folder.mkdir()
                save_head(model, folder)
                write_json(folder / "train.json", rec)
                write_json(curves / f"{variant}-{seed}.json", curve[1:])  # epoch 0 = initial weights, no loss
                records.append(rec)
        write_manifest(tmp, "train_pqc", params, [args.data, args.circuits], extra={"data_hash": data_hash(args.data)})
    manifest = build_manifest("train_pqc", params, [args.data, args.circuits])
    write_json(args.metrics, {"units": "percent", "selection_rule": SELECTION_RULE, "runs": records,
                              "lineage": lineage_block(manifest)})
    write_json(args.metrics.with_suffix(".timing.json"), {"seconds_per_search": timing,
                                                         "seconds_total": sum(timing.values())})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="prepared SST-2 embeddings (data/prepared/sst2)")
    parser.add_argument("--circuits", type=Path, required=True, help="circuit files (models/circuits)")
    parser.add_argument("--out", type=Path, required=True, help="models folder (models/pqc)")
    parser.add_argument("--metrics", type=Path, required=True, help="search metrics JSON (metrics/pqc/train.json)")
    parser.add_argument("--curves", type=Path, required=True, help="training curves folder (metrics/pqc/curves)")
    with threadpool_limits(1):  # tiny BLAS calls: one thread avoids the pool's overhead (measured 10x on sklearn MLPs)
        run_stage(main, parser)
