"""Text corpora: the character corpus for QISA and the tokenised LM corpus for fine-tuning."""

from __future__ import annotations

from dataclasses import dataclass

import datasets

CHAR_FEATURES = datasets.Features({"text": datasets.Value("string"), "ids": datasets.Sequence(datasets.Value("int16"))})
LM_FEATURES = datasets.Features({
    "text": datasets.Value("string"),
    "input_ids": datasets.Sequence(datasets.Value("int32")),
    "n_tokens": datasets.Value("int32"),
})


@dataclass(frozen=True)
class CharCorpus:
    vocab: list[str]             # sorted distinct characters of the whole text; id = index
    splits: dict[str, str]       # train / val / test, contiguous, concatenation == text


def _snap(text: str, i: int) -> int:
    """First position after the line break at or after ``i`` (split at line boundaries)."""
    j = text.find("\n", i)
    return len(text) if j < 0 else j + 1


def char_corpus(text: str, train: float, val: float) -> CharCorpus:
    """Contiguous split: first ``train`` of the characters, then ``val``, the rest is test, each
    boundary moved forward to the next line break. The vocabulary covers the whole text, so
    every test character has an id (standard for Tiny Shakespeare: 65 characters)."""
    if not text:
        raise ValueError("empty character corpus")
    a = _snap(text, int(len(text) * train))
    b = max(a, _snap(text, int(len(text) * (train + val))))
    splits = {"train": text[:a], "val": text[a:b], "test": text[b:]}
    empty = [k for k, v in splits.items() if not v]
    if empty:
        raise ValueError(f"split(s) {empty} are empty: the text has too few lines for train={train}, val={val}")
    return CharCorpus(vocab=sorted(set(text)), splits=splits)


def char_dataset(text: str, vocab: list[str]) -> datasets.Dataset:
    """One row per line (line break kept), with character ids; joining ``text`` gives the split back."""
    stoi = {c: i for i, c in enumerate(vocab)}
    lines = text.splitlines(keepends=True)
    return datasets.Dataset.from_dict(
        {"text": lines, "ids": [[stoi[c] for c in ln] for ln in lines]}, features=CHAR_FEATURES)


def lm_lines(text: str, max_lines: int = 0) -> list[str]:
    """WikiText protocol: one document per non-empty line, surrounding whitespace stripped."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[:max_lines] if max_lines else lines


def lm_dataset(lines: list[str], tokenizer, max_length: int) -> datasets.Dataset:
    """Token ids without special tokens, truncated to ``max_length``; consumers add EOS/padding."""
    ds = datasets.Dataset.from_dict({"text": lines})

    def tok(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": ids, "n_tokens": [len(x) for x in ids]}

    return ds.map(tok, batched=True, batch_size=1000, features=LM_FEATURES, desc="tokenise")
