"""Stage qpa_features: final hidden states of the frozen base model for lm_head adaptation:
train, validation (whole lines after the training lines) and test splits."""

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir, read_parquet, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.features import all_features
from quantum_llm.stage import InputError, run_stage


def _lines(path: Path) -> list[list[int]]:
    return read_parquet(path, ["input_ids"], stage="prepare_lm").column("input_ids").to_pylist()


def main(args: argparse.Namespace) -> None:
    p = load_section("qpa")
    if not (args.base / "config.json").is_file():
        raise InputError(f"{args.base} holds no model; run `dvc repro base_model` first")
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32, local_files_only=True).eval()
    pad_id = model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else model.config.eos_token_id[0]
    try:
        feats = all_features(model, _lines(args.lm / "train.parquet"), _lines(args.lm / "test.parquet"),
                             p.train_tokens, p.val_tokens, p.test_lines, pad_id)
    except ValueError as e:
        raise InputError(str(e)) from e
    with atomic_dir(args.out) as tmp:
        for split, f in feats.items():
            save_file(f, str(tmp / f"{split}.safetensors"))
        write_json(tmp / "meta.json", {
            **{f"{s}_targets": len(f["y"]) for s, f in feats.items()},
            **{f"{s}_lines": int(f["line_of"].max()) + 1 for s, f in feats.items()},
            "hidden_size": int(feats["train"]["h"].shape[1]),
            "protocol": "whole lines, each its own sequence; train: first lines of the training corpus until "
                        "qpa.train_tokens targets; val: the following lines until qpa.val_tokens; test: the first "
                        "qpa.test_lines lines of the test corpus; every target is a real token (no padding)",
        })
        keys = ("train_tokens", "val_tokens", "test_lines")
        write_manifest(tmp, "qpa_features", {"qpa": {k: getattr(p, k) for k in keys}},
                       [args.base / "manifest.json", args.lm / "manifest.json"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="base model folder (models/base)")
    parser.add_argument("--lm", type=Path, required=True, help="prepared LM corpus (data/prepared/lm)")
    parser.add_argument("--out", required=True, help="output folder (data/features/qpa)")
    run_stage(main, parser)
