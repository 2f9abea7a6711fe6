"""The three data-preparation products, each written into a given (scratch) folder as Parquet
splits plus a ``meta.json``. Stage scripts wrap these in an atomic folder and a manifest."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..config import CharsParams, LMDataParams, SST2Params
from ..io import write_json
from ..stage import InputError
from . import corpora, sst2
from .encoders import embedding_dim
from .sources import load_table, load_text, source_origin

log = logging.getLogger(__name__)


def write_chars(p: CharsParams, out: Path) -> dict:
    origin = source_origin(p.source)
    try:
        corpus = corpora.char_corpus(load_text(p.source, "data.chars.source", origin.get("revision")), p.train, p.val)
    except InputError:
        raise
    except ValueError as e:  # too few lines for the split fractions
        raise InputError(f"data.chars.source = {p.source!r}: {e}; use a longer text or change "
                         "data.chars.train / data.chars.val") from None
    counts = {}
    for name, text in corpus.splits.items():
        corpora.char_dataset(text, corpus.vocab).to_parquet(str(out / f"{name}.parquet"))
        counts[name] = len(text)
    meta = {
        "protocol": "contiguous split by character position, boundaries snapped to the next line break; "
                    "vocabulary = sorted distinct characters of the whole text",
        "vocab": corpus.vocab, "vocab_size": len(corpus.vocab), "characters": counts, "origin": origin,
    }
    write_json(out / "meta.json", meta)
    log.info("chars: vocab %d, characters %s", len(corpus.vocab), counts)
    return meta


def write_lm(p: LMDataParams, tokenizer_dir: Path, out: Path) -> dict:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    stats = {}
    for split, source in (("train", p.train_source), ("test", p.test_source)):
        origin = source_origin(source)
        lines = corpora.lm_lines(load_text(source, f"data.lm.{split}_source", origin.get("revision")), p.max_lines)
        ds = corpora.lm_dataset(lines, tok, p.max_length)
        ds.to_parquet(str(out / f"{split}.parquet"))
        stats[split] = {"source": source, "origin": origin, "lines": len(ds), "tokens": int(sum(ds["n_tokens"]))}
    meta = {
        "protocol": "one document per non-empty line (whitespace stripped), tokenised with the base "
                    "model's tokenizer without special tokens, truncated to max_length; "
                    "WikiText-2 valid is the training split and test the test split (train is not embedded)",
        "tokenizer": str(tokenizer_dir), "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id, "splits": stats,
    }
    write_json(out / "meta.json", meta)
    log.info("lm: %s", stats)
    return meta


def write_sst2(p: SST2Params, seed: int, out: Path) -> dict:
    """``test.parquet`` and, per data seed s in ``p.seeds``, ``seed-<s>/{train,validation}.parquet``:
    every data seed draws its own sample and split (rng seeded with (seed, s)); sentences are
    embedded once (the union over seeds)."""
    origins = {"train": source_origin(p.train_source), "test": source_origin(p.test_source)}
    train_all = sst2.labelled(load_table(p.train_source, "data.sst2.train_source", origins["train"].get("revision")),
                              p.text_column, p.label_column, p.train_source)
    test = sst2.labelled(load_table(p.test_source, "data.sst2.test_source", origins["test"].get("revision")),
                         p.text_column, p.label_column, p.test_source)
    if len(set(train_all["label"])) < 2:
        raise InputError(f"data.sst2.train_source = {p.train_source!r}: column {p.label_column!r} holds one class "
                         "only; a classifier needs at least two (use the full table)")
    if p.max_test:
        test = test.select(range(min(p.max_test, len(test))))
    per_seed = {}
    for s in p.seeds:
        rs = sst2.data_seed(seed, s)
        try:
            pool = sst2.fewshot(train_all, p.per_class, rs) if p.protocol == "fewshot" else train_all
        except InputError as e:  # too few rows of a class: name the file too
            raise InputError(f"data.sst2.train_source = {p.train_source!r}: {e} (use more rows or lower it)") from None
        try:
            per_seed[s] = sst2.stratified_split(pool, p.val_fraction, rs)
        except ValueError as e:  # scikit-learn: too few rows of a class for a stratified split
            raise InputError(f"data.sst2.train_source = {p.train_source!r}: no stratified {p.val_fraction:g} "
                             f"validation split possible ({e}); use more rows or change data.sst2.val_fraction") from None
    used = sorted({i for tr, va in per_seed.values() for ds in (tr, va) for i in ds["idx"]})
    encoder = sst2.load_encoder(p.encoder)
    declared, got = embedding_dim(p.encoder), encoder.get_sentence_embedding_dimension()
    if got != declared:  # the circuits stage sized the PQC encoder circuit with the declared one
        raise InputError(f"data.sst2.encoder = {p.encoder!r}: the model embeds to {got} dimensions, its files "
                         f"declare {declared}; use a sentence-transformers folder whose 1_Pooling/config.json matches")
    emb_used = dict(zip(used, sst2.embed(encoder, train_all.select(used)["sentence"], p.batch_size), strict=True))
    sst2.with_embeddings(test, sst2.embed(encoder, test["sentence"], p.batch_size)).to_parquet(str(out / "test.parquet"))
    counts = {"test": _counts(test)}
    for s, (tr, va) in per_seed.items():
        (out / f"seed-{s}").mkdir()
        for name, ds in (("train", tr), ("validation", va)):
            emb = np.stack([emb_used[i] for i in ds["idx"]])
            sst2.with_embeddings(ds, emb).to_parquet(str(out / f"seed-{s}" / f"{name}.parquet"))
        counts[f"seed-{s}"] = {"train": _counts(tr), "validation": _counts(va)}
    meta = {
        "protocol": p.protocol, "seed": seed, "data_seeds": list(p.seeds), "encoder": p.encoder, "origins": origins,
        "embedding_dim": int(encoder.get_sentence_embedding_dimension()),
        "rule": (f"per data seed: {p.per_class} per class sampled from train_source, stratified "
                 f"{1 - p.val_fraction:.2f}/{p.val_fraction:.2f} train/validation split; test = test_source"
                 if p.protocol == "fewshot" else
                 f"all of train_source, per data seed a stratified {p.val_fraction:.2f} held out as validation; "
                 "test = test_source"),
        "splits": counts,
    }
    write_json(out / "meta.json", meta)
    log.info("sst2: %s", counts)
    return meta


def _counts(ds) -> dict:
    return {"rows": len(ds), "per_label": {str(c): ds["label"].count(c) for c in sorted(set(ds["label"]))}}
