"""Stage classical_heads: logistic regression, MLPs and SVCs on the same frozen SST-2 embeddings
and splits as the PQC head, every seed of pqc.seeds -> metrics/pqc/classical.json."""

import argparse
from pathlib import Path

from quantum_llm.config import load_section
from quantum_llm.io import write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.pqc.classical import classical_heads
from quantum_llm.pqc.data import load_splits
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("pqc")
    d = load_splits(args.data)
    c = p.classical
    heads = classical_heads(d["train"], d["validation"], d["test"], seeds=p.seeds, mlp_widths=c.mlp_widths,
                            svc_c=c.svc_c, lr_c=c.lr_c, mlp_epochs=c.mlp_epochs)
    manifest = build_manifest("classical_heads", {"pqc.seeds": p.seeds, "pqc.classical": c.model_dump()},
                              [args.data / f"{s}.parquet" for s in ("train", "validation", "test")])
    write_json(args.out, {"units": "percent", "heads": heads,
                          "lineage": lineage_block(manifest)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="prepared SST-2 embeddings (data/prepared/sst2)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON (metrics/pqc/classical.json)")
    run_stage(main, parser)
