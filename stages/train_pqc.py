"""Stage train_pqc: one seed of the PQC head (encoder -> main module -> linear), trained end to end
on the torch simulator with the circuits of the circuits stage -> checkpoint + training curve."""

import argparse
from pathlib import Path

import torch

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.pqc.data import data_hash, load_splits
from quantum_llm.pqc.model import HeadConfig, PQCHead, check_circuit_files, expected_params, save_head
from quantum_llm.pqc.train import SELECTION_RULE, accuracy, train_head
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    shared, circuits, p = load_shared(), load_section("circuits"), load_section("pqc")
    if args.seed not in p.seeds:
        raise InputError(f"--seed {args.seed} is not in pqc.seeds {p.seeds}")
    torch.set_num_threads(p.threads)
    splits = load_splits(args.data)
    cfg = HeadConfig.from_params(shared.qubits, circuits, input_scale=p.input_scale,
                                 trainable_scale=p.trainable_scale, init_range=p.init_range)
    model = PQCHead(cfg, x_train=splits["train"].x, seed=args.seed)
    hashes = check_circuit_files(args.circuits, model.encoder_spec, model.main_spec)
    model.cfg = cfg = HeadConfig(**{**cfg.to_dict(), "circuit_hashes": hashes})
    assert model.num_params() == expected_params(cfg), "parameter count formula out of date"
    torch.manual_seed(args.seed)
    model, curve, best = train_head(model, splits["train"], splits["validation"], epochs=p.epochs,
                                    batch_size=p.batch_size, lr=p.lr, seed=args.seed, desc=f"train pqc seed {args.seed}")
    info = {"seed": args.seed, "params": model.num_params(), "param_breakdown": model.param_breakdown(),
            "selected_epoch": best["epoch"], "val_acc": 100 * best["val_acc"],
            "test_acc_torch": 100 * accuracy(model, splits["test"]), "selection_rule": SELECTION_RULE,
            "circuit_hashes": hashes, "data_hash": data_hash(args.data)}
    with atomic_dir(args.out) as tmp:
        save_head(model, tmp)
        write_json(tmp / "train.json", info)
        write_manifest(tmp, "train_pqc", {"qubits": shared.qubits, "circuits": circuits.model_dump(),
                                          "pqc": p.model_dump(exclude={"classical", "energy"}), "seed": args.seed},
                       [args.data / f"{s}.parquet" for s in ("train", "validation")] +
                       [args.circuits / f"{n}.json" for n in hashes],
                       extra={"circuit_hashes": hashes, "parameters": info["params"]})
    args.curve.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.curve, curve[1:])  # epochs 1..E (epoch 0 = initial weights, no training loss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="prepared SST-2 embeddings (data/prepared/sst2)")
    parser.add_argument("--circuits", type=Path, required=True, help="circuit files (models/circuits)")
    parser.add_argument("--out", type=Path, required=True, help="model folder (models/pqc/pqc-<seed>)")
    parser.add_argument("--curve", type=Path, required=True, help="training curve JSON for dvc plots")
    run_stage(main, parser)
