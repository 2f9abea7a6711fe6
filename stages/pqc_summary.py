"""Stage pqc_summary: verdict inputs for the PQC head -- every quantum variant and classical head
over the data seeds, paired differences with t intervals, chance, grid sizes, probes, shots/noise
paired with exact, the qubit sweep, the energy cross-over (summary.json, summary.md, sweep.json)
and the plots (drawn by the report's plot helpers: chance line, legends outside). No verdicts: the
report stage applies its rules to these numbers."""

import argparse
import json
from pathlib import Path

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_file, write_json
from quantum_llm.lineage import git_state, params_hash
from quantum_llm.pqc import report
from quantum_llm.pqc.data import data_hash
from quantum_llm.pqc.train import SELECTION_RULE
from quantum_llm.report import plots
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    shared, circuits, p, d = load_shared(), load_section("circuits"), load_section("pqc"), load_section("data.sst2")
    for f in (args.eval, args.train, args.classical, args.probes, args.energy, args.circuits / "hashes.json"):
        if not Path(f).is_file():
            raise InputError(f"{f} not found (run `dvc repro pqc_summary` to build its stage)")
    ev, tr, cl, pr = (report.load_json(f) for f in (args.eval, args.train, args.classical, args.probes))
    energy = report.load_json(args.energy)
    seeds = sorted(int(s) for s in cl["seeds"])
    if seeds != sorted(d.seeds) or sorted({r["seed"] for r in tr["runs"]}) != seeds:
        raise InputError(f"metrics hold data seeds {seeds}, data.sst2.seeds is {d.seeds}: rerun the PQC stages")
    hashes = json.loads((args.circuits / "hashes.json").read_text())
    if any(h not in hashes.values() for r in tr["runs"] for h in r["config"]["circuit_hashes"].values()):
        raise InputError("the trained heads were built from other circuits than models/circuits: rerun train_pqc")
    heads = {**report.quantum_heads(ev, tr), **report.classical_heads(cl)}
    points = [report.load_json(f) for f in sorted(args.sweep.glob("*.json")) if f.name != "manifest.json"]
    sweep = report.sweep_json(points)
    sweep["protocol"] = (f"{p.sweep_variant} head, data seeds {p.sweep_seeds}, {p.sweep_epochs} epochs, lr {p.sweep_lr}; "
                         "exact torch test accuracy; chance = each seed's majority class")
    c = p.classical
    git = git_state(stage="pqc_summary")
    summary = {
        "units": "percent",
        "protocol": report.PROTOCOL_SHORT,
        "data_seeds": seeds,
        "selection_rule": {"quantum": SELECTION_RULE,
                           "classical": "per data seed, the grid point with the best validation accuracy (ties -> "
                                        "first); MLPs keep their best validation epoch"},
        "grids": {"quantum": p.search.model_dump(), "classical": c.model_dump(exclude={"mlp_epochs"}),
                  "sizes": {name: h["grid_size"] for name, h in heads.items()}},
        "k_inputs": cl["k_inputs"], "size_matched_quantum_params": cl["size_matched_quantum_params"],
        "paper": {k: report.PAPER[k] for k in ("quantum", "classical", "quantum_qubits", "quantum_params")},
        "chance": heads["majority"]["test_acc"],
        "heads": heads,
        "paired": report.paired_vs_classical(heads),
        "probes": report.probes_block(tr, pr),
        "shots_noise": {v: {k: e[k] for k in ("shots", "noise", "noise_protocol") if k in e}
                        for v, e in ev["variants"].items()},
        "sweep": sweep,
        "energy": {k: energy[k] for k in ("crossover_qubits", "crossover_qubits_gpu", "paper_crossover")},
        "lineage": {"params_hash": params_hash({"qubits": shared.qubits, "circuits": circuits.model_dump(),
                                                "pqc": p.model_dump(), "data.sst2": d.model_dump()}),
                    "circuit_hashes": {k: hashes[k] for k in ("pqc_encoder", "pqc_main")},
                    "data_hash": data_hash(args.data), "commit": git["commit"], "dirty": git["dirty"]},
    }
    out = args.out
    write_json(out / "summary.json", summary)
    write_json(out / "sweep.json", sweep)
    with atomic_file(out / "summary.md") as fh:
        fh.write(report.markdown(summary))
    plots.pqc_qubits(plots.pqc_qubits_data(summary), out / "acc_vs_qubits.png")
    plots.pqc_noise(plots.pqc_noise_data(summary), out / "acc_vs_noise.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval", type=Path, required=True, help="metrics/pqc/eval.json")
    parser.add_argument("--train", type=Path, required=True, help="metrics/pqc/train.json")
    parser.add_argument("--classical", type=Path, required=True, help="metrics/pqc/classical.json")
    parser.add_argument("--probes", type=Path, required=True, help="metrics/pqc/probes.json")
    parser.add_argument("--sweep", type=Path, required=True, help="metrics/pqc/sweep folder")
    parser.add_argument("--energy", type=Path, required=True, help="metrics/pqc/energy.json")
    parser.add_argument("--circuits", type=Path, required=True, help="models/circuits (hashes.json)")
    parser.add_argument("--data", type=Path, required=True, help="data/prepared/sst2 (its hash goes in lineage)")
    parser.add_argument("--out", type=Path, required=True, help="metrics/pqc (summary.json, summary.md, sweep.json, PNGs)")
    run_stage(main, parser)
