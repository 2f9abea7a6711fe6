"""Stage evaluate_qisa: test metrics of one trained model -> metrics JSON (CE, CER/WER under both
protocols, parameter count, causality audit) and <out>.timing.json (inference time, ratio vs CSA)."""

import argparse
from pathlib import Path

import torch

from quantum_llm.config import load_section
from quantum_llm.device import resolve_device
from quantum_llm.io import timing_path, write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.qisa.evaluate import evaluate_model
from quantum_llm.qisa.model import load_checkpoint
from quantum_llm.qisa.train import load_split, load_vocab
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("qisa").eval
    torch.set_num_threads(1)
    if not (args.model / "model.pt").is_file():
        raise InputError(f"{args.model}/model.pt not found (run the matching train_qisa stage)")
    model = load_checkpoint(args.model / "model.pt").to(resolve_device())
    metrics = evaluate_model(model, load_split(args.data, "test"), load_vocab(args.data), p)
    metrics["run"] = args.model.name
    manifest = build_manifest("evaluate_qisa", {"qisa.eval": p.model_dump()},
                              [args.model / "model.pt", args.data / "test.parquet"])
    # inputs as a list, so `dvc metrics show` does not grow a column per input path
    metrics["lineage"] = lineage_block(manifest, inputs=[{"path": k, "sha256": v} for k, v in manifest["inputs"].items()])
    # inference time varies run to run: its own file (*.timing.json), not the git-tracked metrics
    write_json(timing_path(args.out), {"run": metrics["run"], "variant": metrics["variant"],
                                       "inference": metrics.pop("inference")})
    write_json(args.out, metrics)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="model folder (models/qisa/<variant>-<seed>)")
    parser.add_argument("--data", type=Path, required=True, help="prepared character corpus (data/prepared/chars)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON (metrics/qisa/runs/<variant>-<seed>.json)")
    run_stage(main, parser)
