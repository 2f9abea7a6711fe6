"""Stage evaluate_qpa: test perplexity (padding masked, and the paper's padded protocol) of the
base model, the LoRA baseline, QPA (exact, each shot count, each noise level) and the classical
control, for every seed; mean +- std table, trainable parameters and their share of LoRA's,
and the PPL-vs-shots plot."""

import argparse
import json
from pathlib import Path

import torch
from peft import LoraConfig
from safetensors.torch import load_file

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir, atomic_file, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.adapter import PEFT_PREFIX
from quantum_llm.qpa.evaluate import perplexities
from quantum_llm.qpa.io import load_features, output_weight
from quantum_llm.qpa.report import aggregate, markdown_table, plot_shots
from quantum_llm.stage import InputError, run_stage

PROTOCOL = ("WikiText-2 test (first qpa.test_lines lines, each its own sequence; the base model's tokenizer). "
            "masked: next-token loss over real tokens only. padded: every position of the line padded to "
            "qpa.padded_length with EOS is a target, pads included (the paper's protocol, only for comparison). "
            "Trained on WikiText-2 valid (train is not embedded).")


def head_weight(weight: torch.Tensor, adapter: Path) -> torch.Tensor:
    """W + (alpha / r) * B @ A: PEFT's merge of an lm_head adapter."""
    cfg = LoraConfig.from_pretrained(str(adapter))
    t = load_file(str(adapter / "adapter_model.safetensors"))
    a, b = t[f"{PEFT_PREFIX}lm_head.lora_A.weight"], t[f"{PEFT_PREFIX}lm_head.lora_B.weight"]
    return weight + (cfg.lora_alpha / cfg.r) * (b @ a)


def trainable(run: Path) -> int:
    return json.loads((run / "manifest.json").read_text())["trainable_params"]


def main(args: argparse.Namespace) -> None:
    p = load_section("qpa")
    test = load_features(args.features, "test")
    weight = output_weight(args.base)
    rows = []

    def add(variant: str, seed: int, w: torch.Tensor, n_params: int | None) -> None:
        ppl = perplexities(test["h"], test["ids"], test["real"], w)
        rows.append({"variant": variant, "seed": seed, "ppl_masked": ppl["masked"], "ppl_padded": ppl["padded"],
                     "trainable": n_params, "masked_tokens": ppl["masked_tokens"], "padded_tokens": ppl["padded_tokens"]})

    runs = sorted(d for d in args.runs.iterdir() if d.is_dir())
    generated = sorted(d for d in args.generated.iterdir() if d.is_dir())
    add("base", 0, weight, 0)
    for run in runs:
        method, seed = run.name.rsplit("-", 1)
        if not (run / "adapter").is_dir():
            raise InputError(f"{run} holds no adapter; run its train stage first")
        if method == "lora":
            add("lora", int(seed), head_weight(weight, run / "adapter"), trainable(run))
    for gen in generated:
        seed = int(gen.name)
        for variant in sorted(d.name for d in gen.iterdir() if (d / "adapter_config.json").is_file()):
            method = "control" if variant == "control" else "qpa"
            add(variant, seed, head_weight(weight, gen / variant), trainable(args.runs / f"{method}-{seed}"))
    summary = aggregate(rows)
    with atomic_dir(args.out) as out:
        write_json(out / "eval.json", {"protocol": PROTOCOL, "summary": summary, "runs": rows,
                                       "shots": p.shots, "noise": p.noise})
        with atomic_file(out / "summary.md") as fh:
            fh.write("# QPA on SmolLM2-135M: LoRA baseline, QPA, classical control\n\n")
            fh.write(markdown_table(summary, PROTOCOL))
        plot_shots(summary, out / "ppl_vs_shots.png")
        write_manifest(out, "evaluate_qpa", {"qpa": p.model_dump()},
                       [args.features / "manifest.json"] + [r / "manifest.json" for r in runs + generated])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True, help="models/qpa/train (holds <method>-<seed> folders)")
    parser.add_argument("--generated", type=Path, required=True, help="models/qpa/generated (holds <seed> folders)")
    parser.add_argument("--out", required=True, help="metrics/qpa/eval")
    run_stage(main, parser)
