"""Stage qpa_qubits@<N>: one point of QPA's perplexity-vs-qubits curve.

Trains QPA (seed 0, the same data, steps, batch, learning rate and LoRA layers as train_qpa) with
a QNN of N qubits built from params (circuits.qpa_layers, circuits.qpa_connectivity; n_mlp =
ceil(m / 2**N) follows N), then scores the test lines' perplexity (padding masked; padded
protocol alongside) with the weights the torch simulator generates from exact probabilities
(equal to qsim-exact ones within 1e-7, checked by generate_qpa for the pipeline's own N).
The default pipeline's N is the top-level ``qubits``; this sweep is ``qpa.sweep_qubits``."""

import argparse
import logging
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.adapter import check_targets, is_head_only, merged_weight
from quantum_llm.qpa.evaluate import merged_weights, model_perplexities, perplexities
from quantum_llm.qpa.io import load_features, output_weight, save_generator
from quantum_llm.qpa.train import TokenData, TrainConfig, train, train_full
from quantum_llm.quantum.circuits import qpa_ansatz
from quantum_llm.quantum.serialize import circuit_hash
from quantum_llm.stage import InputError, run_stage

log = logging.getLogger("qpa_qubits")
SEED = 0
WEIGHTS = "torch simulator, exact probabilities (equal to qsim exact within 1e-7)"


def _model(base: Path):
    return AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)


def main(args: argparse.Namespace) -> None:
    p, circ = load_section("qpa"), load_section("circuits")
    n = args.qubits
    if n not in p.sweep_qubits:
        raise InputError(f"--qubits {n} is not in qpa.sweep_qubits {p.sweep_qubits}")
    cfg = TrainConfig(
        method="qpa", steps=p.steps, batch_tokens=p.batch_tokens, lr=p.lr, seed=SEED, rank=p.rank, alpha=p.alpha,
        dropout=p.dropout, n_qubits=n, layers=circ.qpa_layers, connectivity=circ.qpa_connectivity,
        activation=p.activation, val_fraction=p.val_fraction, eval_every=p.eval_every,
        target_modules=tuple(p.target_modules))
    feats, test = load_features(args.features, "train"), load_features(args.features, "test")
    chash = circuit_hash(qpa_ansatz(n, circ.qpa_layers, circ.qpa_connectivity).circuit)
    scaling = p.alpha / p.rank
    t0 = time.perf_counter()
    if is_head_only(p.target_modules):
        weight = output_weight(args.base)
        res = train(weight, feats["h"], feats["y"], cfg)
        a, b = res.factors["lm_head"]
        ppl = perplexities(test["h"], test["ids"], test["real"], merged_weight(weight, a, b, scaling))
    else:
        model = _model(args.base)
        check_targets(model, p.target_modules)
        res = train_full(model, TokenData.from_features(feats), cfg)
        fresh = _model(args.base)
        ppl = model_perplexities(fresh, test["ids"], test["real"], merged_weights(fresh, res.factors, scaling))
    spec = res.generator.spec
    point = {
        "qubits": n, "ppl_masked": ppl["masked"], "ppl_padded": ppl["padded"], "masked_tokens": ppl["masked_tokens"],
        "trainable_params": res.trainable, "lora_params": spec.m, "ratio_to_lora": res.trainable / spec.m,
        "circuit_hash": chash, "n_mlp": spec.n_mlp, "n_b": spec.n_b, "layers": spec.layers,
        "connectivity": spec.connectivity, "seed": SEED, "final_val_loss": res.history[-1]["val_loss"],
        "train_eval_time_s": time.perf_counter() - t0, "weights": WEIGHTS,
    }
    log.info("N = %d: masked PPL %.3f, %d trainable (%.1f %% of LoRA's %d)", n, ppl["masked"], res.trainable,
             100 * point["ratio_to_lora"], spec.m)
    with atomic_dir(args.out) as out:
        write_json(out / "point.json", point)
        save_generator(out, res.generator, {"method": "qpa", "seed": SEED, "circuit_hash": chash})
        used = {"qpa": p.model_dump(), "circuits": {"qpa_layers": circ.qpa_layers,
                                                    "qpa_connectivity": circ.qpa_connectivity}}
        write_manifest(out, f"qpa_qubits@{n}", used, [args.features / "manifest.json"],
                       extra={"circuit_hash": chash, "qubits": n})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qubits", type=int, required=True, help="N, one entry of qpa.sweep_qubits")
    parser.add_argument("--base", type=Path, required=True, help="models/base")
    parser.add_argument("--features", type=Path, required=True, help="data/features/qpa")
    parser.add_argument("--out", required=True, help="models/qpa/qubits/<N>")
    run_stage(main, parser)
