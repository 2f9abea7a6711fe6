"""Stage evaluate_qpa: test perplexity (padding masked, and the paper's padded protocol) of the
base model, the LoRA baseline, QPA (exact, each shot count, each noise level) and the classical
control, for every seed in qpa.seeds; mean +- std per variant, trainable parameters and their
share of LoRA's, and the PPL-vs-shots plot. lm_head adapters are scored on the cached final hidden
states; adapters of other modules (qpa.target_modules) by a full forward of the same padded lines."""

import argparse
import json
from pathlib import Path

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir, atomic_file, sha256_path, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.evaluate import run_rows
from quantum_llm.qpa.io import load_features, output_weight
from quantum_llm.qpa.report import aggregate, markdown_table, plot_shots
from quantum_llm.stage import run_stage

PROTOCOL = ("WikiText-2 test (first qpa.test_lines lines, each its own sequence; the base model's tokenizer). "
            "masked: next-token loss over real tokens only. padded: every position of the line padded to "
            "qpa.padded_length with EOS is a target, pads included (the paper's protocol, only for comparison). "
            "Trained on WikiText-2 valid (train is not embedded).")


def main(args: argparse.Namespace) -> None:
    p = load_section("qpa")
    def full_model():  # adapters of modules other than lm_head run through the whole model
        import torch
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32, local_files_only=True).eval()

    rows = run_rows(output_weight(args.base), load_features(args.features, "test"), args.runs, args.generated, p.seeds,
                    model_loader=full_model)
    summary = aggregate(rows)
    with atomic_dir(args.out) as out:
        # metrics: numbers in dicts keyed by variant, so dvc metrics/exp show and diff can read them
        write_json(out / "eval.json", {"protocol": PROTOCOL,
                                       "ppl": {r["variant"]: {k: v for k, v in r.items() if k not in ("variant", "seeds")}
                                               for r in summary}})
        write_json(out / "runs.json", {"protocol": PROTOCOL, "summary": summary, "runs": rows,
                                       "shots": p.shots, "noise": p.noise})
        with atomic_file(out / "summary.md") as fh:
            fh.write("# QPA on SmolLM2-135M: LoRA baseline, QPA, classical control\n\n")
            fh.write(markdown_table(summary, PROTOCOL))
        plot_shots(summary, out / "ppl_vs_shots.png")
        inputs = [args.features / "manifest.json"] + [args.runs / f"{m}-{s}" / "manifest.json"
                                                      for s in p.seeds for m in ("lora", "qpa", "control")]
        generated = [args.generated / str(s) / "manifest.json" for s in p.seeds]
        # the circuit every QPA number here was generated from (one per pipeline: qubits + circuits params)
        hashes = sorted({json.loads(g.read_text())["circuit_hash"] for g in generated})
        # params: what this stage declares in dvc.yaml (so the hash changes exactly when the stage
        # re-runs); training and generation params reach it through the input manifests' hashes
        write_manifest(out, "evaluate_qpa", {"qpa.seeds": p.seeds}, inputs + generated,
                       extra={"circuit_hashes": {"qpa": ",".join(hashes)},
                              "data_hash": sha256_path(args.features / "manifest.json")})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True, help="models/qpa/train (holds <method>-<seed> folders)")
    parser.add_argument("--generated", type=Path, required=True, help="models/qpa/generated (holds <seed> folders)")
    parser.add_argument("--out", required=True, help="metrics/qpa/eval")
    run_stage(main, parser)
