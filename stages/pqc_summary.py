"""Stage pqc_summary: the PQC head (3 seeds, qsim exact / shots / noise) beside the classical heads
and the paper's claim (summary.json, summary.md), the sweep table (sweep.json) and the plots."""

import argparse
import json
from pathlib import Path

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_file, write_json
from quantum_llm.lineage import git_state, params_hash
from quantum_llm.pqc import report
from quantum_llm.pqc.data import data_hash
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    shared, circuits, p = load_shared(), load_section("circuits"), load_section("pqc")
    for f in (args.eval, args.classical, args.energy, args.circuits / "hashes.json"):
        if not Path(f).is_file():
            raise InputError(f"{f} not found (run `dvc repro pqc_summary` to build its stage)")
    ev, cl = report.load_json(args.eval), report.load_json(args.classical)
    energy = report.load_json(args.energy)
    runs = sorted(ev["runs"], key=lambda r: r["seed"])
    if [r["seed"] for r in runs] != sorted(p.seeds):
        raise InputError(f"{args.eval} holds seeds {[r['seed'] for r in runs]}, pqc.seeds is {p.seeds}: rerun evaluate_pqc")
    hashes = json.loads((args.circuits / "hashes.json").read_text())
    circuit_hashes = {k: hashes[k] for k in ("pqc_encoder", "pqc_main")}
    if any(r["circuit_hashes"] != circuit_hashes for r in runs):
        raise InputError("the trained heads were built from other circuits than models/circuits: rerun train_pqc")
    q = report.quantum_row(runs, f"pqc_q{shared.qubits}")
    heads = [q, *report.classical_rows(cl["heads"])]
    points = [report.load_json(f) for f in sorted(args.sweep.glob("*.json")) if f.name != "manifest.json"]
    full = {"qubits": shared.qubits, "params": q["params"], "acc": report.stats([r["test_acc_torch"] for r in runs]),
            "note": "train_pqc heads (pqc.epochs, pqc.seeds), exact torch test accuracy"}
    sweep = report.sweep_json(points, full)
    sweep["protocol"] = (f"sweep/ablation points: seeds {p.sweep_seeds}, {p.sweep_epochs} epochs each; full: seeds {p.seeds}, "
                         f"{p.epochs} epochs; exact torch test accuracy; same selection rule")
    summary = {
        "units": "percent",
        "protocol": report.PROTOCOL_SHORT + f"; noise on a seeded subset of {q['noise_subset']['n']} test rows, "
                    f"{q['noise_subset']['trajectories']} trajectories",
        "selection_rule": f"quantum: {report.SELECTION_RULE}; classical: fixed hyperparameters (logreg C={p.classical.lr_c}, "
                          f"SVC rbf C in {p.classical.svc_c}), MLP epoch with the best validation accuracy (ties -> earliest)",
        "paper": {k: report.PAPER[k] for k in ("quantum", "classical", "quantum_qubits", "quantum_params")},
        "heads": heads,
        "sweep": sweep,
        "energy": {k: energy[k] for k in ("crossover_qubits", "crossover_qubits_gpu", "paper_crossover")},
        "lineage": {"params_hash": params_hash({"qubits": shared.qubits, "circuits": circuits.model_dump(),
                                                "pqc": p.model_dump()}),
                    "circuit_hashes": circuit_hashes, "data_hash": data_hash(args.data),
                    "commit": git_state()["commit"], "dirty": git_state()["dirty"]},
    }
    out = args.out
    write_json(out / "summary.json", summary)
    write_json(out / "sweep.json", sweep)
    with atomic_file(out / "summary.md") as fh:
        fh.write(report.markdown(summary))
    report.plot_acc_vs_qubits(sweep, [h for h in heads if h["kind"] == "classical"], out / "acc_vs_qubits.png")
    report.plot_acc_vs_noise(q, out / "acc_vs_noise.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval", type=Path, required=True, help="metrics/pqc/eval.json")
    parser.add_argument("--classical", type=Path, required=True, help="metrics/pqc/classical.json")
    parser.add_argument("--sweep", type=Path, required=True, help="metrics/pqc/sweep folder")
    parser.add_argument("--energy", type=Path, required=True, help="metrics/pqc/energy.json")
    parser.add_argument("--circuits", type=Path, required=True, help="models/circuits (hashes.json)")
    parser.add_argument("--data", type=Path, required=True, help="data/prepared/sst2 (its hash goes in lineage)")
    parser.add_argument("--out", type=Path, required=True, help="metrics/pqc (summary.json, summary.md, sweep.json, PNGs)")
    run_stage(main, parser)
