"""Stage merge_export: merge each adapter into the base weights and export plain model folders
that load with transformers alone (no peft, cirq or quantum_llm needed)."""

import argparse
from pathlib import Path

from quantum_llm.io import atomic_dir
from quantum_llm.lineage import write_manifest
from quantum_llm.lm.export import merge_and_export
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    if len(args.names) != len(args.adapters):
        raise InputError(f"{len(args.adapters)} adapters but {len(args.names)} names: give one name per adapter")
    for adapter in args.adapters:
        if not (adapter / "adapter_config.json").is_file():
            raise InputError(f"{adapter} is not a PEFT adapter folder; run the stage that writes it first")
    with atomic_dir(args.out) as out:
        for name, adapter in zip(args.names, args.adapters, strict=True):
            facts = merge_and_export(args.base, adapter, out / name)
            write_manifest(out / name, "merge_export", {"adapter": str(adapter)},
                           [args.base / "manifest.json", adapter / "adapter_model.safetensors"], extra=facts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="models/base")
    parser.add_argument("--adapters", type=Path, nargs="+", required=True, help="PEFT adapter folders")
    parser.add_argument("--names", nargs="+", required=True, help="one export name per adapter")
    parser.add_argument("--out", required=True, help="models/export")
    run_stage(main, parser)
