"""Stage prepare_lm: WikiText-2 lines tokenised with the base model's tokenizer -> Parquet splits."""

import argparse

from quantum_llm.config import load_section
from quantum_llm.data.prepare import write_lm
from quantum_llm.io import atomic_dir
from quantum_llm.lineage import write_manifest
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("data.lm")
    if not (args.base / "tokenizer_config.json").is_file():
        raise InputError(f"{args.base} has no tokenizer; run `dvc repro base_model` first")
    with atomic_dir(args.out) as tmp:
        write_lm(p, args.base, tmp)
        local = [s for s in (p.train_source, p.test_source) if not s.startswith("hf:")]
        tokenizer_files = sorted(f for f in args.base.glob("tokenizer*") if f.is_file())
        write_manifest(tmp, "prepare_lm", {"data.lm": p.model_dump()}, local + tokenizer_files)


if __name__ == "__main__":
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="base model folder with the tokenizer (models/base)")
    parser.add_argument("--out", required=True, help="output folder (data/prepared/lm)")
    run_stage(main, parser)
