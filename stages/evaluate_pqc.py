"""Stage evaluate_pqc: test accuracy of every trained PQC head on qsim -- exact, finite shots,
depolarising noise -- with the qsim-vs-torch agreement check (metrics/pqc/eval.json)."""

import argparse
import json
from pathlib import Path

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.pqc.data import load_split
from quantum_llm.pqc.evaluate import evaluate_head
from quantum_llm.pqc.model import load_head
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    p, sim, shared = load_section("pqc"), load_section("simulator"), load_shared()
    import torch
    torch.set_num_threads(p.threads)
    folders = [args.models / f"pqc-{s}" for s in p.seeds]
    missing = [str(f) for f in folders if not (f / "model.pt").is_file()]
    if missing:
        raise InputError(f"trained heads missing: {', '.join(missing)} (run the train_pqc stages)")
    test = load_split(args.data, "test")
    seed = shared.seed if sim.seed is None else sim.seed
    runs = []
    for s, folder in zip(p.seeds, folders, strict=True):
        model = load_head(folder)
        info = json.loads((folder / "train.json").read_text())
        ev = evaluate_head(model, test, shots=p.shots, noise=p.noise, noise_rows=p.noise_rows,
                           trajectories=p.trajectories, seed=seed + s, cpu_threads=sim.cpu_threads)
        runs.append({**info, "eval": ev})
    manifest = build_manifest("evaluate_pqc", {"pqc.shots": p.shots, "pqc.noise": p.noise, "pqc.noise_rows": p.noise_rows,
                                               "pqc.trajectories": p.trajectories, "simulator.seed": seed},
                              [*folders, args.data / "test.parquet"])
    write_json(args.out, {"units": "percent", "runs": runs,
                          "lineage": lineage_block(manifest)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, required=True, help="folder of trained heads (models/pqc)")
    parser.add_argument("--data", type=Path, required=True, help="prepared SST-2 embeddings (data/prepared/sst2)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON (metrics/pqc/eval.json)")
    run_stage(main, parser)
