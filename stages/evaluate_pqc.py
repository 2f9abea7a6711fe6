"""Stage evaluate_pqc: test accuracy of every trained PQC head (variant x data seed) on qsim -- exact,
finite shots on every test row, depolarising noise on seeded rows for pqc.noise_variants -- each
paired with the exact evaluation on the same rows; qsim-vs-torch agreement check (metrics/pqc/eval.json)."""

import argparse
import json
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.pqc.data import load_split
from quantum_llm.pqc.evaluate import evaluate_head
from quantum_llm.pqc.model import load_head
from quantum_llm.pqc.paired import paired_rows
from quantum_llm.stage import InputError, run_stage
from quantum_llm.stats import summarize


def main(args: argparse.Namespace) -> None:
    p, sim, shared, d = load_section("pqc"), load_section("simulator"), load_shared(), load_section("data.sst2")
    import torch
    torch.set_num_threads(p.threads)
    folders = {(v, s): args.models / f"{v}-{s}" for v in p.variants for s in d.seeds}
    missing = [str(f) for f in folders.values() if not (f / "model.pt").is_file()]
    if missing:
        raise InputError(f"trained heads missing: {', '.join(missing)} (run the train_pqc stage)")
    test = load_split(args.data, "test")
    base_seed = shared.seed if sim.seed is None else sim.seed
    qsim = {"cpu_threads": sim.cpu_threads, "use_gpu": sim.use_gpu, "gpu_mode": sim.gpu_mode}
    out, timing = {}, {}
    for v in p.variants:
        rows, runs = {}, []
        for s in d.seeds:
            t0 = time.perf_counter()
            info = json.loads((folders[v, s] / "train.json").read_text())
            ev = evaluate_head(load_head(folders[v, s]), test, shots=p.shots, noise=p.noise if v in p.noise_variants else [],
                               noise_rows=p.noise_rows, trajectories=p.trajectories, seed=base_seed + s,
                               qsim=qsim, subset_seed=1234 + s)
            timing[f"{v}-{s}"] = time.perf_counter() - t0
            rows[s] = ev
            runs.append({"seed": s, "params": info["params"], "val_acc": info["val_acc"],
                         "acc_torch": 100 * float(ev["torch"].mean()), "acc_exact": 100 * float(ev["exact"].mean()),
                         "agreement": ev["agreement"]})
        exact = {s: r["exact"] for s, r in rows.items()}
        entry = {"runs": runs, "acc_exact": summarize([r["acc_exact"] for r in runs]).to_dict(),
                 "shots": {k: paired_rows({s: r["shots"][k] for s, r in rows.items()}, exact) for k in map(str, p.shots)},
                 "max_abs_z_qsim_vs_torch": max(r["agreement"]["max_abs_z_main"] for r in runs)}
        if v in p.noise_variants:
            on_rows = {s: r["exact"][r["noise_rows"]] for s, r in rows.items()}
            entry["noise"] = {k: paired_rows({s: r["noise"][k] for s, r in rows.items()}, on_rows)
                              for k in map(str, p.noise)}
            entry["noise_protocol"] = {"rows_per_seed": int(len(rows[d.seeds[0]]["noise_rows"])),
                                       "trajectories": p.trajectories, "subset_seed": "1234 + data seed"}
        out[v] = entry
    params = {"pqc": p.model_dump(include={"variants", "shots", "noise", "noise_variants", "noise_rows", "trajectories"}),
              "data.sst2.seeds": d.seeds, "simulator.seed": base_seed,
              **{f"simulator.{k}": v for k, v in qsim.items()}}
    manifest = build_manifest("evaluate_pqc", params, [args.models, args.data / "test.parquet"])
    write_json(args.out, {"units": "percent", "n_test": len(test), "variants": out, "lineage": lineage_block(manifest)})
    write_json(args.out.with_suffix(".timing.json"), {"seconds": timing, "seconds_total": sum(timing.values())})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, required=True, help="folder of trained heads (models/pqc)")
    parser.add_argument("--data", type=Path, required=True, help="prepared SST-2 embeddings (data/prepared/sst2)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON (metrics/pqc/eval.json)")
    with threadpool_limits(1):  # tiny BLAS calls: one thread avoids the pool's overhead on a shared machine
        run_stage(main, parser)
