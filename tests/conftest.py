"""Shared fixtures: a tiny causal LM with its own tokenizer (built here, offline, in seconds)
and a tiny profile of the pipeline in a temporary copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def build_tiny_lm(out: Path) -> Path:
    """A 2-layer Llama (tied embeddings, like SmolLM2) with a byte-level BPE tokenizer of 320
    tokens trained on WikiText-2 lines. Deterministic: fixed seed, fixed training text."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    lines = (ROOT / "data/raw/wikitext-2/valid.txt").read_text(encoding="utf-8").splitlines()[:400]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=True, eos_token_id=0, bos_token_id=0)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


TINY_PARAMS = {
    "data.lm.max_lines": 60,
    "data.lm.max_length": 64,
    "data.sst2.per_class": 16,
    "data.sst2.max_test": 48,
}


def set_params(params_file: Path, overrides: dict) -> None:
    import yaml

    raw = yaml.safe_load(params_file.read_text())
    for key, value in overrides.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run with this interpreter's bin folder first on PATH, so stage commands' `python`, `dvc`
    and `quantum-llm` are the ones of the environment under test even when it is not activated."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


@pytest.fixture
def tiny_repo(tmp_path, tiny_lm) -> Path:
    """The git-tracked project files copied into a fresh git repo, with a tiny profile:
    the tiny LM as base model and small data limits. DVC stays the real thing."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    repo = tmp_path / "repo"
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / rel)
    set_params(repo / "params.yaml", {**TINY_PARAMS, "base_model.source": f"path:{tiny_lm}"})
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny profile"]):
        run(cmd, repo)
    return repo
