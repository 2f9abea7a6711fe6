"""Stage qpa_features: final hidden states of the frozen base model for lm_head adaptation."""

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir, read_parquet, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.features import test_features, train_features
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("qpa")
    if not (args.base / "config.json").is_file():
        raise InputError(f"{args.base} holds no model; run `dvc repro base_model` first")
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32, local_files_only=True).eval()
    meta = read_parquet(args.lm / "train.parquet", ["input_ids"], stage="prepare_lm")
    pad_id = model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else model.config.eos_token_id[0]
    train = train_features(model, meta.column("input_ids").to_pylist(), p.train_tokens, pad_id)
    test_lines = read_parquet(args.lm / "test.parquet", ["input_ids"], stage="prepare_lm").column("input_ids").to_pylist()
    test = test_features(model, test_lines, p.test_lines, p.padded_length, pad_id)
    with atomic_dir(args.out) as tmp:
        save_file(train, str(tmp / "train.safetensors"))
        save_file(test, str(tmp / "test.safetensors"))
        write_json(tmp / "meta.json", {
            "pad_token_id": pad_id, "train_targets": len(train["y"]), "test_lines": int(test["ids"].shape[0]),
            "test_real_tokens": int(test["real"].sum()), "padded_length": p.padded_length,
            "hidden_size": int(train["h"].shape[1]),
        })
        keys = ("train_tokens", "test_lines", "padded_length")
        write_manifest(tmp, "qpa_features", {"qpa": {k: getattr(p, k) for k in keys}},
                       [args.base / "manifest.json", args.lm / "manifest.json"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="base model folder (models/base)")
    parser.add_argument("--lm", type=Path, required=True, help="prepared LM corpus (data/prepared/lm)")
    parser.add_argument("--out", required=True, help="output folder (data/features/qpa)")
    run_stage(main, parser)
