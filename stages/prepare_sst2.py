"""Stage prepare_sst2: SST-2 protocol splits with frozen sentence-transformer embeddings."""

import argparse

from quantum_llm.config import load_section, load_shared
from quantum_llm.data.prepare import write_sst2
from quantum_llm.io import atomic_dir
from quantum_llm.lineage import write_manifest
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    shared, p = load_shared(), load_section("data.sst2")
    with atomic_dir(args.out) as tmp:
        write_sst2(p, shared.seed, tmp)
        local = [s for s in (p.train_source, p.test_source) if not s.startswith("hf:")]
        write_manifest(tmp, "prepare_sst2", {"seed": shared.seed, "data.sst2": p.model_dump()}, local)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (data/prepared/sst2)")
    run_stage(main, parser)
