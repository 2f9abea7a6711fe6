"""Stage base_model: materialise the base causal LM as a plain Hugging Face folder."""

import argparse

from quantum_llm.config import load_section
from quantum_llm.io import atomic_dir
from quantum_llm.lineage import write_manifest
from quantum_llm.lm.base import materialise
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("base_model")
    with atomic_dir(args.out) as tmp:
        facts = materialise(p.source, tmp, p.check_atol)
        write_manifest(tmp, "base_model", {"base_model": p.model_dump()}, [], extra={"source": p.source, **facts})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (models/base)")
    run_stage(main, parser)
