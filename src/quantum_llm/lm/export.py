"""Merge a PEFT LoRA adapter into the base weights and export a plain model folder that
``AutoModelForCausalLM.from_pretrained`` loads with nothing but transformers.

SmolLM2 ties ``lm_head`` to the input embeddings. Merging a LoRA on ``lm_head`` into a tied
model would also change the embeddings (measured: merged logits then differ from the
adapter's by more than 10), so the output layer is untied first; the exported model carries
``tie_word_embeddings: false`` and the base's input embeddings, unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from peft import PeftModel
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer

from .base import CHECK_TEXT

log = logging.getLogger(__name__)


def untie_output(model) -> bool:
    """Give ``lm_head`` its own copy of the weight; returns whether it was tied."""
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    tied = out.weight.data_ptr() == inp.weight.data_ptr()
    if tied:
        out.weight = nn.Parameter(out.weight.detach().clone())
    model.config.tie_word_embeddings = False
    if getattr(model.config, "get_text_config", None):
        model.config.get_text_config().tie_word_embeddings = False
    return tied


@torch.no_grad()
def merge_and_export(base_dir: Path, adapter_dir: Path, out_dir: Path, atol: float = 1e-4) -> dict:
    tok = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    ids = tok(CHECK_TEXT, return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, local_files_only=True).eval()
    embeddings = base.get_input_embeddings().weight.detach().clone()
    was_tied = untie_output(base)
    adapted = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    ref = adapted(input_ids=ids).logits
    merged = adapted.merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, local_files_only=True).eval()
    diff = (reloaded(input_ids=ids).logits - ref).abs().max().item()
    if diff > atol:
        raise RuntimeError(f"merged model's logits differ from the adapter model's by {diff:.3g} > {atol}")
    if not torch.equal(reloaded.get_input_embeddings().weight, embeddings):
        raise RuntimeError("merging changed the input embeddings")
    log.info("exported %s: max |merged - adapter logits| = %.3g, embeddings unchanged", out_dir, diff)
    return {"merged_vs_adapter_max_abs_diff": diff, "untied_lm_head": was_tied, "embeddings_unchanged": True}
