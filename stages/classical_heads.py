"""Stage classical_heads: on every data seed, the majority class, logistic regression, MLPs and SVCs
on the same frozen SST-2 embeddings (grids searched on validation), the size-matched heads on the
pca_front head's k inputs (metrics/pqc/classical.json), and the Pauli-body probe of the
amplitude-encoded states (metrics/pqc/probes.json)."""

import argparse
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.pqc.classical import classical_heads
from quantum_llm.pqc.data import amplitude_states, check_seeds, load_splits, pca_splits
from quantum_llm.pqc.grid import VARIANTS
from quantum_llm.pqc.model import HeadConfig, expected_params
from quantum_llm.pqc.probes import pauli_body_probe
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    shared, circuits, p, d = load_shared(), load_section("circuits"), load_section("pqc"), load_section("data.sst2")
    check_seeds(args.data, d.seeds, "data.sst2.seeds")
    pca_cfg = HeadConfig.from_params(shared.qubits, circuits, input_scale=p.input_scale,
                                     trainable_scale=p.trainable_scale, front=VARIANTS["pca_front"])
    q_params, k = expected_params(pca_cfg), pca_cfg.n_inputs
    heads, probes, timing = {}, {}, {}
    for seed in d.seeds:
        t0 = time.perf_counter()
        splits = load_splits(args.data, seed)
        heads[str(seed)] = classical_heads(splits, pca_splits(splits, k), seed=seed, c=p.classical,
                                           quantum_params=q_params)
        timing[f"heads-{seed}"] = time.perf_counter() - t0
        if p.probe_bodies:
            t0 = time.perf_counter()
            probes[str(seed)] = pauli_body_probe({n: (amplitude_states(s.x), s.y) for n, s in splits.items()},
                                                 p.probe_bodies, p.classical.logreg_c)
            timing[f"probe-{seed}"] = time.perf_counter() - t0
    params = {"qubits": shared.qubits, "circuits": circuits.model_dump(), "data.sst2.seeds": d.seeds,
              "pqc.classical": p.classical.model_dump(), "pqc.probe_bodies": p.probe_bodies,
              "pqc.input_scale": p.input_scale, "pqc.trainable_scale": p.trainable_scale}
    lin = lineage_block(build_manifest("classical_heads", params, [args.data]))
    write_json(args.out, {"units": "percent", "k_inputs": k, "size_matched_quantum_params": q_params,
                          "seeds": heads, "lineage": lin})
    write_json(args.probes, {"units": "percent", "max_body": p.probe_bodies, "seeds": probes, "lineage": lin})
    write_json(args.out.with_suffix(".timing.json"), {"seconds": timing, "seconds_total": sum(timing.values())})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="prepared SST-2 embeddings (data/prepared/sst2)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON (metrics/pqc/classical.json)")
    parser.add_argument("--probes", type=Path, required=True, help="probe metrics JSON (metrics/pqc/probes.json)")
    with threadpool_limits(1):  # tiny BLAS calls: one thread avoids the pool's overhead (measured 10x on sklearn MLPs)
        run_stage(main, parser)
