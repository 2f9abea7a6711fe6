"""Reading and writing QPA artifacts: the base output layer, cached features, trained generators."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

from ..stage import InputError
from .generator import GeneratorSpec, QPAGenerator


def output_weight(base: Path) -> torch.Tensor:
    """The base model's lm_head weight (V, d) (tied to the input embeddings in SmolLM2)."""
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
    return model.get_output_embeddings().weight.detach().clone()


def load_features(folder: Path, split: str) -> dict[str, torch.Tensor]:
    f = folder / f"{split}.safetensors"
    if not f.is_file():
        raise InputError(f"{f} not found; run `dvc repro qpa_features` first")
    return load_file(str(f))


def save_generator(folder: Path, gen: QPAGenerator, extra: dict) -> None:
    # on the host: a generator trained on a CUDA device is saved like one trained on the CPU; copies,
    # since training keeps the parameters as views of one flat buffer (safetensors refuses shared memory)
    save_file({k: v.detach().to("cpu", copy=True).contiguous() for k, v in gen.state_dict().items()}, str(folder / "generator.safetensors"))
    (folder / "generator.json").write_text(json.dumps(
        {"spec": gen.spec.to_dict(), "source": gen.source_kind, "gate": gen.gate is not None, **extra}, indent=2, sort_keys=True))


def load_generator(folder: Path) -> tuple[QPAGenerator, dict]:
    meta_file = folder / "generator.json"
    if not meta_file.is_file():
        raise InputError(f"{folder} holds no trained generator; run its train stage first")
    meta = json.loads(meta_file.read_text())
    gen = QPAGenerator(GeneratorSpec.from_dict(meta["spec"]), source=meta["source"], gate=meta.get("gate", False))
    gen.load_state_dict(load_file(str(folder / "generator.safetensors")))
    return gen.eval(), meta


def circuit_hash(circuits: Path, name: str) -> str:
    hashes = circuits / "hashes.json"
    if not hashes.is_file():
        raise InputError(f"{hashes} not found; run `dvc repro circuits` first")
    table = json.loads(hashes.read_text())
    if name not in table:
        raise InputError(f"{hashes} has no circuit {name!r} (has {sorted(table)})")
    return table[name]
