"""Stage train_qisa: one attention variant x seed of the character GPT -> checkpoint + training curve."""

import argparse
from pathlib import Path

import torch

from quantum_llm.config import load_section
from quantum_llm.device import resolve_device
from quantum_llm.io import atomic_dir, timing_path, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qisa.model import GPTConfig, save_checkpoint
from quantum_llm.qisa.train import load_split, load_vocab, train
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("qisa")
    if args.variant not in p.variants:
        raise InputError(f"--variant {args.variant!r} is not in qisa.variants {p.variants}")
    torch.set_num_threads(p.train.threads)
    device = resolve_device()  # QUANTUM_LLM_DEVICE (not a param: recorded in the manifest)
    if not (args.data / "train.parquet").is_file():
        raise InputError(f"{args.data}/train.parquet not found (run `dvc repro prepare_chars`)")
    cfg = GPTConfig(vocab_size=len(load_vocab(args.data)), attention=args.variant, pauli_seed=args.seed,
                    **p.model.model_dump())
    model, curve = train(cfg, load_split(args.data, "train"), load_split(args.data, "val"), seed=args.seed,
                         device=device, **p.train.model_dump(exclude={"threads"}))
    with atomic_dir(args.out) as tmp:
        save_checkpoint(model, tmp / "model.pt")
        write_json(tmp / "config.json", cfg.to_dict())
        write_manifest(tmp, "train_qisa", {"qisa.model": p.model.model_dump(), "qisa.train": p.train.model_dump(),
                                           "variant": args.variant, "seed": args.seed},
                       [args.data / "train.parquet", args.data / "val.parquet"],
                       extra={"parameters": model.num_params(), "pauli_strings": cfg.pauli_strings,
                              # an odd number of Y's gives v_i = 0 for real u: those value channels are dead
                              "zero_value_strings": sum(s.count("Y") % 2 for layer in cfg.pauli_strings
                                                        for head in layer for s in head)})
    # wall-clock seconds vary run to run: their own file, so the git-tracked curve is reproducible
    write_json(args.curve, [{k: v for k, v in row.items() if k != "seconds"} for row in curve])
    write_json(timing_path(args.curve), [{"step": row["step"], "seconds": row["seconds"]} for row in curve])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", required=True, help="csa, qisa or qisa_paper")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="prepared character corpus (data/prepared/chars)")
    parser.add_argument("--out", type=Path, required=True, help="model folder (models/qisa/<variant>-<seed>)")
    parser.add_argument("--curve", type=Path, required=True, help="training curve JSON for dvc plots (timings go to <curve>.timing.json)")
    run_stage(main, parser)
