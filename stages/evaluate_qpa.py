"""Stage evaluate_qpa: test perplexity of the base model, every trained row (each at its
validation-chosen learning rate and best-validation checkpoint) and the gated QPA's qsim
generations (exact, shots, noise), for every seed in qpa.seeds, scored on the device
QUANTUM_LLM_DEVICE names (recorded in the manifest); per-line NLL sums, the summary
over seeds with intervals (metrics/qpa/summary.json, summary.md) and the PPL-vs-shots plot."""

import argparse
from pathlib import Path

import numpy as np

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir, atomic_file, read_json, sha256_path, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.adapter import load_factors
from quantum_llm.qpa.evaluate import line_nll
from quantum_llm.qpa.io import load_features, output_weight
from quantum_llm.qpa.report import build_summary, markdown_table
from quantum_llm.qpa.train import Split, rows
from quantum_llm.report import plots
from quantum_llm.stage import InputError, run_stage

PROTOCOL = ("lm_head of SmolLM2-135M adapted, backbone frozen. Train: the first whole lines of WikiText-2 valid "
            "until qpa.train_tokens targets (the train split is not embedded); validation: the following whole "
            "lines until qpa.val_tokens; test: the first qpa.test_lines lines of WikiText-2 test, each its own "
            "sequence, next-token loss over real tokens only (no padding). Every row: the same batches, steps and "
            "seeds, each learning rate of qpa.lrs, the rate and checkpoint with the best validation loss kept.")


def _diagnostics(by_lr: dict, lr: float) -> dict:
    d = by_lr[f"{lr:g}"]
    out = {"initial_val_loss": d["initial_val_loss"], "best_val_loss": d["best_val_loss"], "best_step": d["best_step"],
           "dw_rel_start": d["start"]["dw_rel"], "dw_rel_end": d["end"]["dw_rel"]}
    for k in ("source_max_abs_change", "gate"):
        if k in d["end"]:
            out[k + "_end"] = d["end"][k]
    if "chunk_rank" in d["start"]:
        out["chunk_rank_start"], out["chunk_rank_end"] = d["start"]["chunk_rank"], d["end"]["chunk_rank"]
    return out


def collect(args, p) -> tuple[dict, dict]:
    """(adapters {(row, seed): (A, B, scaling) | None}, metas {row: meta})."""
    adapters, metas = {("base", s): None for s in p.seeds}, {"base": {
        "kind": "base", "label": "the base model, not adapted", "trainable_params": 0}}
    for row in rows(p.rank, p.lora_ranks):
        meta = {"kind": row.kind, "label": row.label, "lr_per_seed": {}, "diagnostics": {}}
        for s in p.seeds:
            run = read_json(args.runs / str(s) / row.name / "run.json", f"train_qpa@{s}")
            train_doc = read_json(args.train_metrics / f"{s}.json", f"train_qpa@{s}")
            adapters[(row.name, s)] = load_factors(args.runs / str(s) / row.name / "adapter")
            meta["trainable_params"] = run["trainable_params"]
            meta["lr_per_seed"][str(s)] = run["lr"]
            meta["diagnostics"][str(s)] = _diagnostics(train_doc["rows"][row.name]["by_lr"], run["lr"])
        metas[row.name] = meta
    for s in p.seeds:
        gen = args.generated / str(s)
        if not (gen / "manifest.json").is_file():
            raise InputError(f"{gen} not found; run `dvc repro generate_qpa@{s}` first")
        for d in sorted(x for x in gen.iterdir() if (x / "adapter_config.json").is_file()):
            name = f"qpa_gated_{d.name}"
            adapters[(name, s)] = load_factors(d)
            metas.setdefault(name, {"kind": "generation", "trainable_params": metas["qpa_gated"]["trainable_params"],
                                    "label": f"gated QPA, weights generated on qsim ({d.name})"})
    return adapters, metas


def main(args: argparse.Namespace) -> None:
    p = load_section("qpa")
    test = Split.from_features(load_features(args.features, "test"))
    adapters, metas = collect(args, p)
    sums, tokens = line_nll(output_weight(args.base), test, {f"{k}@{s}": v for (k, s), v in adapters.items()})
    nll = {name: {s: sums[f"{name}@{s}"] for s in p.seeds} for name in metas}
    doc = build_summary(PROTOCOL, p.seeds, tokens, metas, nll, p.bootstrap_resamples)
    write_json(args.summary, doc)
    with atomic_file(args.summary.with_suffix(".md")) as fh:
        fh.write("# QPA on SmolLM2-135M: LoRA baselines, QPA, control and ablations\n\n")
        fh.write(markdown_table(doc))
    with atomic_dir(args.out) as out:
        write_json(out / "lines.json", {"tokens": tokens.tolist(), "nll": {
            n: {str(s): np.round(v, 6).tolist() for s, v in per.items()} for n, per in nll.items()}})
        plots.qpa_shots({name: row["ppl"] for name, row in doc["rows"].items()}, out / "ppl_vs_shots.png")
        inputs = [args.features / "manifest.json"] + [args.runs / str(s) / "manifest.json" for s in p.seeds]
        generated = [args.generated / str(s) / "manifest.json" for s in p.seeds]
        hashes = sorted({read_json(g, "generate_qpa")["circuit_hash"] for g in generated})
        write_manifest(out, "evaluate_qpa", {"qpa.seeds": p.seeds, "qpa.rank": p.rank, "qpa.lora_ranks": p.lora_ranks,
                                             "qpa.bootstrap_resamples": p.bootstrap_resamples}, inputs + generated,
                       extra={"circuit_hashes": {"qpa": ",".join(hashes)},
                              "data_hash": sha256_path(args.features / "manifest.json")})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True, help="models/qpa/train (holds <seed>/<row> folders)")
    parser.add_argument("--train-metrics", type=Path, required=True, help="metrics/qpa/train (holds <seed>.json)")
    parser.add_argument("--generated", type=Path, required=True, help="models/qpa/generated (holds <seed> folders)")
    parser.add_argument("--summary", type=Path, required=True, help="metrics/qpa/summary.json")
    parser.add_argument("--out", required=True, help="metrics/qpa/eval (per-line NLL, plot, manifest)")
    run_stage(main, parser)
