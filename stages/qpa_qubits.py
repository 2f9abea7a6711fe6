"""Stage qpa_qubits@<N>: one point of the gated QPA's perplexity-vs-qubits curve.

Trains the gated QPA (seed 0; the same data, batches, steps and learning-rate grid as train_qpa,
the rate and checkpoint with the best validation loss kept) with a QNN of N qubits built from
params (circuits.qpa_layers, circuits.qpa_connectivity; n_mlp = ceil(m / 2**N) follows N), then
scores the test perplexity with the weights the torch simulator generates from exact
probabilities (equal to qsim-exact ones within 1e-5, checked by generate_qpa for the pipeline's
own N). Trains and scores on the device QUANTUM_LLM_DEVICE names (recorded in the manifest).
The default pipeline's N is the top-level ``qubits``; this sweep is ``qpa.sweep_qubits``."""

import argparse
import logging
from pathlib import Path

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.evaluate import line_nll, perplexity
from quantum_llm.qpa.io import load_features, output_weight, save_generator
from quantum_llm.qpa.train import TRAIN_KEYS, Split, TrainConfig, rows, train_rows
from quantum_llm.quantum.circuits import qpa_ansatz
from quantum_llm.quantum.serialize import circuit_hash
from quantum_llm.stage import InputError, run_stage

log = logging.getLogger("qpa_qubits")
SEED = 0
ROW = "qpa_gated"
WEIGHTS = "torch simulator, exact probabilities"


def main(args: argparse.Namespace) -> None:
    p, circ = load_section("qpa"), load_section("circuits")
    n = args.qubits
    if n not in p.sweep_qubits:
        raise InputError(f"--qubits {n} is not in qpa.sweep_qubits {p.sweep_qubits}")
    cfg = TrainConfig(steps=p.steps, batch_tokens=p.batch_tokens, lrs=tuple(p.lrs), seed=SEED, scaling=p.scaling,
                      dropout=p.dropout, n_qubits=n, layers=circ.qpa_layers, connectivity=circ.qpa_connectivity,
                      activation=p.activation, eval_every=p.eval_every)
    train, val, test = (Split.from_features(load_features(args.features, s)) for s in ("train", "val", "test"))
    weight = output_weight(args.base)
    chash = circuit_hash(qpa_ansatz(n, circ.qpa_layers, circ.qpa_connectivity).circuit)
    row = next(r for r in rows(p.rank, p.lora_ranks) if r.name == ROW)
    res = train_rows(weight, train, val, [row], cfg)[ROW]
    a, b = res.run.factors()
    sums, tokens = line_nll(weight, test, {ROW: (a.detach(), b.detach(), p.scaling)})
    spec = res.run.generator.spec
    point = {
        "qubits": n, "row": ROW, "ppl": perplexity(sums[ROW], tokens), "test_tokens": int(tokens.sum()),
        "trainable_params": res.run.trainable, "lora_params": spec.m, "ratio_to_lora": res.run.trainable / spec.m,
        "circuit_hash": chash, "n_mlp": spec.n_mlp, "n_b": spec.n_b, "layers": spec.layers,
        "connectivity": spec.connectivity, "seed": SEED, "lr": res.lr, "best_val_loss": res.run.best[0],
        "weights": WEIGHTS,
    }
    log.info("N = %d: PPL %.3f, %d trainable (%.1f %% of LoRA's %d)", n, point["ppl"], res.run.trainable,
             100 * point["ratio_to_lora"], spec.m)
    with atomic_dir(args.out) as out:
        write_json(out / "point.json", point)
        save_generator(out, res.run.generator, {"row": ROW, "seed": SEED, "circuit_hash": chash, "lr": res.lr})
        used = {"qpa": p.model_dump(include={"sweep_qubits", *TRAIN_KEYS}),
                "circuits": {"qpa_layers": circ.qpa_layers, "qpa_connectivity": circ.qpa_connectivity}}
        write_manifest(out, f"qpa_qubits@{n}", used, [args.features / "manifest.json"],
                       extra={"circuit_hash": chash, "qubits": n})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qubits", type=int, required=True, help="N, one entry of qpa.sweep_qubits")
    parser.add_argument("--base", type=Path, required=True, help="models/base")
    parser.add_argument("--features", type=Path, required=True, help="data/features/qpa")
    parser.add_argument("--out", required=True, help="models/qpa/qubits/<N>")
    run_stage(main, parser)
