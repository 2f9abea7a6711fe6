"""Stage train_qpa@<seed>: every QPA row (PEFT LoRA at each rank, QPA as published, gated QPA,
the gated classical control, gated QPA with frozen angles) over the learning-rate grid, for one
seed, on the cached lm_head features (one pass: the base logits of a batch are computed once for
every run), on the device QUANTUM_LLM_DEVICE names (recorded in the manifest). Keeps each row at its validation-chosen learning rate and best-validation
checkpoint: a PEFT adapter folder per row (for the generator rows: the weights the torch
simulator generates) plus the generator itself. Validation curves, the choice and the per-run
diagnostics go to --metrics (JSON); step times to a separate .timing.json."""

import argparse
import logging
from pathlib import Path

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.adapter import save_adapter, skeleton
from quantum_llm.qpa.io import circuit_hash, load_features, output_weight, save_generator
from quantum_llm.qpa.train import TRAIN_KEYS, Split, TrainConfig, rows, train_rows
from quantum_llm.stage import run_stage

log = logging.getLogger("train_adapter")


def main(args: argparse.Namespace) -> None:
    shared, p, circ = load_shared(), load_section("qpa"), load_section("circuits")
    cfg = TrainConfig(steps=p.steps, batch_tokens=p.batch_tokens, lrs=tuple(p.lrs), seed=args.seed, scaling=p.scaling,
                      dropout=p.dropout, n_qubits=shared.qubits, layers=circ.qpa_layers,
                      connectivity=circ.qpa_connectivity, activation=p.activation, eval_every=p.eval_every)
    weight = output_weight(args.base)
    train, val = (Split.from_features(load_features(args.features, s)) for s in ("train", "val"))
    chash = circuit_hash(args.circuits, "qpa")
    results = train_rows(weight, train, val, rows(p.rank, p.lora_ranks), cfg)
    doc, timing = {"seed": args.seed, "lrs": p.lrs, "steps": p.steps, "rows": {}}, {}
    with atomic_dir(args.out) as out:
        for name, res in results.items():
            run = res.run
            a, b = run.factors()
            head = skeleton(args.base, ["lm_head"], res.row.rank, p.scaling * res.row.rank, p.dropout, tuple(weight.shape))
            save_adapter(out / name / "adapter", head, {"lm_head": (a.detach().cpu(), b.detach().cpu())},
                         base_model=str(args.base))
            extra = {"row": name, "seed": args.seed, "lr": res.lr, "trainable_params": run.trainable}
            if run.generator is not None:
                if res.row.method == "qpa":
                    extra["circuit_hash"] = chash
                save_generator(out / name, run.generator, extra)
            write_json(out / name / "run.json", extra)
            doc["rows"][name] = {
                "kind": res.row.kind, "label": res.row.label, "method": res.row.method, "rank": res.row.rank,
                "trainable_params": run.trainable, "lr": res.lr,
                "by_lr": {f"{lr:g}": {k: v for k, v in d.items() if k != "step_time_s"} for lr, d in res.by_lr.items()},
            }
            timing[name] = {f"{lr:g}": d["step_time_s"] for lr, d in res.by_lr.items()}
        # exactly the params dvc.yaml declares for train_qpa (the manifest's hash moves with them only)
        used = {"qubits": shared.qubits, "qpa": p.model_dump(include=set(TRAIN_KEYS)),
                "circuits": circ.model_dump(include={"qpa_layers", "qpa_connectivity"})}
        write_manifest(out, "train_qpa", used, [args.features / "manifest.json"],
                       extra={"seed": args.seed, "circuit_hash": chash})
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.metrics, doc)
    write_json(args.metrics.with_suffix(".timing.json"), {"mean_step_time_s": timing})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--base", type=Path, required=True, help="models/base")
    parser.add_argument("--features", type=Path, required=True, help="data/features/qpa")
    parser.add_argument("--circuits", type=Path, default=Path("models/circuits"), help="models/circuits")
    parser.add_argument("--out", required=True, help="models/qpa/train/<seed>")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics/qpa/train/<seed>.json")
    run_stage(main, parser)
