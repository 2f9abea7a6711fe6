"""Stage qpa_qubits_summary: gated-QPA perplexity vs qubits. Collects every qpa_qubits@<N> point
(qpa.sweep_qubits) and the default pipeline's own point (N = top-level ``qubits``: the gated QPA of
train_qpa@0 scored by evaluate_qpa on qsim-exact weights; added when N is not in the sweep), with
LoRA r4 and the base model for reference, into metrics/qpa/qubits.json and metrics/qpa/ppl_vs_qubits.png."""

import argparse
from pathlib import Path

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import read_json, write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.report import plots
from quantum_llm.stage import InputError, run_stage

PROTOCOL = ("Gated QPA trained with seed 0 at each qubit count N (qpa.sweep_qubits; same data, batches, steps and "
            "learning-rate grid as train_qpa, best validation kept; circuit = circuits.qpa_layers x (RY column + "
            "CNOT {conn}); n_mlp = ceil(m / 2**N)). ppl: WikiText-2 test, first qpa.test_lines lines, next-token "
            "loss over real tokens. Sweep points use the weights the torch simulator generates from exact "
            "probabilities; the point with source 'train_qpa@0' is the default pipeline's gated QPA scored on "
            "qsim-exact weights. lora_ppl: LoRA r4, seed 0 (mean over qpa.seeds in lora_ppl_mean). "
            "trainable_params: QNN angles + mapping model + gate; lora_params: LoRA's m.")


def main(args: argparse.Namespace) -> None:
    shared, p, circ = load_shared(), load_section("qpa"), load_section("circuits")
    points = [dict(read_json(args.points / str(n) / "point.json", f"qpa_qubits@{n}"), source=f"qpa_qubits@{n}")
              for n in p.sweep_qubits]
    rows = read_json(args.summary, "evaluate_qpa")["rows"]

    def ppl(row: str, seed: int) -> float:
        try:
            return rows[row]["ppl_per_seed"][str(seed)]
        except KeyError:
            raise InputError(f"{args.summary} has no {row} run for seed {seed}; run `dvc repro evaluate_qpa`") from None

    if shared.qubits not in p.sweep_qubits:
        gen = read_json(args.qpa_run / "generator.json", "train_qpa@0")
        m = sum(gen["spec"]["rank"] * (t["d_in"] + t["d_out"]) for t in gen["spec"]["targets"])
        n_params = rows["qpa_gated"]["trainable_params"]
        points.append({"qubits": shared.qubits, "row": "qpa_gated", "ppl": ppl("qpa_gated_qsim_exact", 0),
                       "trainable_params": n_params, "lora_params": m, "ratio_to_lora": n_params / m,
                       "circuit_hash": gen["circuit_hash"], "seed": 0, "lr": gen["lr"], "source": "train_qpa@0",
                       "weights": "qsim exact"})
    points.sort(key=lambda q: q["qubits"])
    doc = {"protocol": PROTOCOL.format(conn=circ.qpa_connectivity), "points": points,
           "lora_ppl": ppl("lora_r4", 0), "lora_ppl_mean": rows["lora_r4"]["ppl"]["mean"], "base_ppl": ppl("base", 0)}
    # lineage for the report: params of this sweep, the data (the features evaluate_qpa scored), commit;
    # each point carries its own circuit_hash; this block has no 'created'
    eval_manifest = read_json(args.eval_manifest, "evaluate_qpa")
    # params: exactly those the stage declares in dvc.yaml, so the hash changes when it re-runs
    manifest = build_manifest("qpa_qubits_summary", {
        "qubits": shared.qubits, "qpa.sweep_qubits": p.sweep_qubits, "circuits.qpa_connectivity": circ.qpa_connectivity}, [])
    doc["lineage"] = lineage_block(manifest, keys=("params_hash", "git"),
                                   data_hash=eval_manifest["inputs"].get("data/features/qpa/manifest.json"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, doc)
    plots.qpa_qubits(doc, args.plot)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=Path, required=True, help="models/qpa/qubits (holds <N>/point.json)")
    parser.add_argument("--summary", type=Path, required=True, help="metrics/qpa/summary.json")
    parser.add_argument("--eval-manifest", type=Path, required=True, help="metrics/qpa/eval/manifest.json")
    parser.add_argument("--qpa-run", type=Path, required=True, help="models/qpa/train/0/qpa_gated (its generator.json)")
    parser.add_argument("--out", type=Path, required=True, help="metrics/qpa/qubits.json")
    parser.add_argument("--plot", type=Path, required=True, help="metrics/qpa/ppl_vs_qubits.png")
    run_stage(main, parser)
