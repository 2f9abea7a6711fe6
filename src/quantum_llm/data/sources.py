"""Reading data sources named in params: a local file (txt, csv, tsv, parquet, jsonl/json)
or a Hugging Face dataset ``hf:<id>[:<config>][:<split>]`` (needs the hub, so not the
offline default). Files under ``data/raw`` are checked against ``data/raw/SHA256SUMS``."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import datasets

from ..config import HF_SCHEME
from ..io import sha256_file
from ..stage import InputError

log = logging.getLogger(__name__)
RAW_DIR = Path("data/raw")
_BUILDERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".jsonl": "json", ".json": "json"}


def parse_hf(source: str) -> tuple[str, str | None, str]:
    """``hf:glue:sst2:validation`` -> ("glue", "sst2", "validation"); split defaults to train."""
    parts = source[len(HF_SCHEME):].split(":")
    name, config, split = parts[0], None, "train"
    if len(parts) == 2:
        split = parts[1]
    elif len(parts) >= 3:
        config, split = parts[1] or None, parts[2]
    return name, config, split


def verify_raw(path: str | Path) -> None:
    """If ``path`` is an embedded raw file, its sha256 must match data/raw/SHA256SUMS."""
    path = Path(path)
    sums = RAW_DIR / "SHA256SUMS"
    try:
        rel = path.resolve().relative_to(RAW_DIR.resolve()).as_posix()
    except ValueError:
        return
    if not sums.is_file():
        return
    expected = {name.removeprefix("./"): digest for digest, name in (ln.split(None, 1) for ln in sums.read_text().split("\n") if ln.strip())}
    if rel in expected and sha256_file(path) != expected[rel]:
        raise InputError(f"{path} does not match data/raw/SHA256SUMS (restore it with `git checkout -- {path}`)")


def load_text(source: str) -> str:
    """The whole text of a source: a local .txt file, or the 'text' column of a HF dataset joined by newlines."""
    if source.startswith(HF_SCHEME):
        name, config, split = parse_hf(source)
        ds = datasets.load_dataset(name, config, split=split)
        if "text" not in ds.column_names:
            raise InputError(f"{source}: no 'text' column (columns: {ds.column_names})")
        return "\n".join(ds["text"])
    verify_raw(source)
    return Path(source).read_text(encoding="utf-8")


def load_table(source: str) -> datasets.Dataset:
    """A table source as a ``datasets.Dataset`` (tsv/txt are tab-separated, no quoting: SST-2 has bare quotes)."""
    if source.startswith(HF_SCHEME):
        name, config, split = parse_hf(source)
        return datasets.load_dataset(name, config, split=split)
    verify_raw(source)
    suffix = Path(source).suffix.lower()
    kwargs = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if suffix in (".tsv", ".txt") else {}
    return datasets.load_dataset(_BUILDERS[suffix], data_files=str(source), split="train", **kwargs)
