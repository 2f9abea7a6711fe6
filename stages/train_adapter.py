"""Stages train_lora / train_qpa / train_control: one method, one seed, on the cached features
(lm_head only, the default) or, for any other qpa.target_modules, with full backprop through the
base model on the token ids behind the same targets.

Writes the trained adapter as a PEFT folder (for QPA and the control: the weights the
generator produces, computed by the torch simulator) and, for QPA and the control, the
generator itself. Curves go to DVCLive under --metrics."""

import argparse
import logging
from pathlib import Path

import torch
from dvclive import Live
from transformers import AutoModelForCausalLM

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_dir
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.adapter import check_targets, is_head_only, save_adapter
from quantum_llm.qpa.io import circuit_hash, load_features, output_weight, save_generator
from quantum_llm.qpa.train import TokenData, TrainConfig, train, train_full
from quantum_llm.stage import InputError, run_stage

log = logging.getLogger("train_adapter")


def main(args: argparse.Namespace) -> None:
    shared, p = load_shared(), load_section("qpa")
    circ = load_section("circuits") if args.method != "lora" else None
    cfg = TrainConfig(
        method=args.method, steps=p.steps, batch_tokens=p.batch_tokens, lr=p.lr, seed=args.seed,
        rank=p.rank, alpha=p.alpha, dropout=p.dropout, n_qubits=shared.qubits,
        layers=circ.qpa_layers if circ else 0, connectivity=circ.qpa_connectivity if circ else "chain",
        activation=p.activation, val_fraction=p.val_fraction, eval_every=p.eval_every,
        target_modules=tuple(p.target_modules))
    feats = load_features(args.features, "train")
    if is_head_only(p.target_modules):
        weight, model = output_weight(args.base), None
    else:
        model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32, local_files_only=True)
        check_targets(model, p.target_modules)
        if "lines" not in feats:
            raise InputError(f"{args.features} holds no token ids; re-run `dvc repro qpa_features`")
    extra = {"method": args.method, "seed": args.seed}
    if args.method == "qpa":
        extra["circuit_hash"] = circuit_hash(args.circuits, "qpa")
    with atomic_dir(args.out) as out, atomic_dir(args.metrics) as mdir:
        with Live(dir=str(mdir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
            def on_log(rec: dict) -> None:
                for k, v in rec.items():
                    if k != "step":
                        live.log_metric(k, v)
                live.next_step()

            if model is None:
                res = train(weight, feats["h"], feats["y"], cfg, on_log)
            else:
                res = train_full(model, TokenData.from_features(feats), cfg, on_log)
            times = [r["step_time_s"] for r in res.history if "step_time_s" in r]
            live.summary.update({"final_val_loss": res.history[-1]["val_loss"], "trainable_params": res.trainable,
                                 "median_step_time_s": sorted(times)[len(times) // 2]})
        save_adapter(out / "adapter", res.peft_model, res.factors, base_model=str(args.base))
        if res.generator is not None:
            extra["source_params_max_abs_change"] = res.source_change   # gradients reached theta / the logits
            save_generator(out, res.generator, extra)
        params = {"qubits": shared.qubits, "qpa": p.model_dump(), **({"circuits": circ.model_dump()} if circ else {})}
        write_manifest(out, f"train_{args.method}", params, [args.features / "manifest.json"],
                       extra={**extra, "trainable_params": res.trainable})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", choices=("lora", "qpa", "control"), required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--base", type=Path, required=True, help="models/base")
    parser.add_argument("--features", type=Path, required=True, help="data/features/qpa")
    parser.add_argument("--circuits", type=Path, default=Path("models/circuits"), help="models/circuits (QPA)")
    parser.add_argument("--out", required=True, help="models/qpa/<method>-<seed>")
    parser.add_argument("--metrics", required=True, help="DVCLive folder metrics/qpa/train/<method>-<seed>")
    run_stage(main, parser)
