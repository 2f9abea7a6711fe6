"""Stage prepare_chars: character corpus for the QISA models -> Parquet splits + vocabulary."""

import argparse

from quantum_llm.config import load_section
from quantum_llm.data.prepare import write_chars
from quantum_llm.io import atomic_dir
from quantum_llm.lineage import write_manifest
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("data.chars")
    with atomic_dir(args.out) as tmp:
        write_chars(p, tmp)
        write_manifest(tmp, "prepare_chars", {"data.chars": p.model_dump()}, [p.source] if not p.source.startswith("hf:") else [])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (data/prepared/chars)")
    run_stage(main, parser)
