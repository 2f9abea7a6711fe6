"""Reading data sources named in params: a local file (txt, csv, tsv, parquet, jsonl/json)
or a Hugging Face dataset ``hf:<id>[:<config>][:<split>]`` (needs the hub, so not the
offline default). Files under ``data/raw`` are checked against ``data/raw/SHA256SUMS``."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import datasets

from ..config import HF_SCHEME
from ..io import hub_revision, sha256_file
from ..stage import InputError

log = logging.getLogger(__name__)
RAW_DIR = Path("data/raw")
_BUILDERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet"}
_JSON = (".jsonl", ".json")


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


def _fix(path: str | Path) -> str:
    """How to fix a bad local file: embedded raw files come back from git, others are the user's."""
    try:
        Path(path).resolve().relative_to(RAW_DIR.resolve())
        return f"restore it with `git checkout -- {path}`"
    except ValueError:
        return "fix or replace the file"


def _bad(key: str, source: str, problem: str, fix: str) -> InputError:
    return InputError(f"{key} = {source!r}: {problem}; {fix}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def source_origin(source: str) -> dict:
    """What identifies a source exactly, for the output's metadata: a local file's sha256, or the
    hub commit an ``hf:`` dataset resolves to now (the loaders then read that commit)."""
    if source.startswith(HF_SCHEME):
        return {"source": source, "revision": hub_revision(parse_hf(source)[0], "dataset")}
    try:
        return {"source": source, "sha256": sha256_file(source)}
    except OSError:
        return {"source": source}  # missing or unreadable: the loader reports it with the params key


def _load_hf(source: str, key: str, revision: str | None = None) -> datasets.Dataset:
    name, config, split = parse_hf(source)
    try:
        return datasets.load_dataset(name, config, split=split, revision=revision)
    except Exception as e:  # noqa: BLE001 - hub/network/format errors of any kind: one line for the user
        raise _bad(key, source, f"the Hugging Face dataset could not be loaded ({_first_line(e)})",
                   "check the id, config and split, and that the hub is reachable (or use a local file)") from None


def load_text(source: str, key: str = "source", revision: str | None = None) -> str:
    """The whole text of a source: a local .txt file, or the 'text' column of a HF dataset joined
    by newlines (at ``revision``, see :func:`source_origin`). ``key`` is the params key naming it (for error messages). A missing, unreadable,
    non-UTF-8 or blank text is an :class:`InputError`."""
    if source.startswith(HF_SCHEME):
        ds = _load_hf(source, key, revision)
        if "text" not in ds.column_names:
            raise _bad(key, source, f"no 'text' column (columns: {ds.column_names})", "use a dataset with a text column")
        text = "\n".join(t for t in ds["text"] if t is not None)
        fix = "use a dataset split with text"
    else:
        verify_raw(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise _bad(key, source, "file not found", "point it at an existing file") from None
        except UnicodeDecodeError as e:
            raise _bad(key, source, f"not UTF-8 text (byte {e.start})", _fix(source)) from None
        except OSError as e:
            raise _bad(key, source, f"cannot be read ({_first_line(e)})", _fix(source)) from None
        fix = _fix(source)
    if not text.strip():
        raise _bad(key, source, "the text is empty (no non-blank line)", fix)
    return text


def _json_table(text: str, suffix: str, key: str, source: str, fix: str) -> datasets.Dataset:
    """A local JSON Lines file, or a JSON array of objects (``text``), as a Dataset of its records
    (columns: every key seen, in order of first appearance; a missing key is null).

    Parsed here with Python's json module instead of datasets' JSON builder, because that builder
    hands the bytes to pyarrow's JSON reader, which crashed the whole process (a segmentation
    fault) on some malformed files our property tests generated; this parser raises on any
    malformed input and names the line."""
    array = text.lstrip().startswith("[")
    # (lines before the chunk, chunk): the whole array, or each non-blank line of JSON Lines, split
    # on "\n" only (str.splitlines would also split inside strings, at U+2028)
    chunks = [(0, text)] if array else [(n, line) for n, line in enumerate(text.split("\n")) if line.strip()]
    rows: list = []
    for before, chunk in chunks:
        try:
            rows.append(json.loads(chunk))
        except json.JSONDecodeError as e:
            where = f"line {before + e.lineno}, column {e.colno}: {e.msg}"
        except RecursionError:
            where = f"line {before + 1}: nested too deeply"
        else:
            continue
        raise _bad(key, source, f"not a readable {suffix[1:]} table (JSON error at {where})", fix)
    if array:
        rows = rows[0]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise _bad(key, source, "not a table: expected JSON Lines of objects or a JSON array of objects", fix)
    if not rows:
        raise _bad(key, source, "the table has no data rows", fix)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    try:
        return datasets.Dataset.from_dict({c: [r.get(c) for r in rows] for c in columns})
    except Exception as e:  # noqa: BLE001 - pyarrow's type errors (e.g. a column of numbers and strings): one line
        raise _bad(key, source, f"not a readable {suffix[1:]} table ({_first_line(e)})", fix) from None


def load_table(source: str, key: str = "source", revision: str | None = None) -> datasets.Dataset:
    """A table source as a ``datasets.Dataset`` (tsv/txt are tab-separated, no quoting: SST-2 has
    bare quotes). A missing, unparsable, empty or header-only table is an :class:`InputError`."""
    if source.startswith(HF_SCHEME):
        ds, fix = _load_hf(source, key, revision), "use a split with rows"
    else:
        verify_raw(source)
        path = Path(source)
        if not path.is_file():
            raise _bad(key, source, "file not found", "point it at an existing file")
        fix = _fix(source)
        if path.stat().st_size == 0:
            raise _bad(key, source, "the file is empty", fix)
        suffix = path.suffix.lower()
        text = None
        if suffix != ".parquet":  # a text reader would take invalid UTF-8 into string columns
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as e:
                raise _bad(key, source, f"not UTF-8 text (byte {e.start})", fix) from None
        if suffix in _JSON:
            ds = _json_table(text, suffix, key, source, fix)
        else:
            kwargs = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if suffix in (".tsv", ".txt") else {}
            try:
                ds = datasets.load_dataset(_BUILDERS[suffix], data_files=str(source), split="train", **kwargs)
            except Exception as e:  # noqa: BLE001 - pandas/pyarrow errors of any kind: one line for the user
                if "corresponds to no data" in str(e):  # datasets' word for a header-only table
                    raise _bad(key, source, "the table has no data rows (a header only?)", fix) from None
                cause = e.__cause__ or e.__context__ or e  # datasets wraps the parser's error
                raise _bad(key, source, f"not a readable {suffix[1:]} table ({_first_line(cause)})", fix) from None
    try:
        ds.data.table.validate(full=True)  # e.g. invalid UTF-8 inside a Parquet string column
    except Exception as e:  # noqa: BLE001 - pyarrow's validation errors: one line for the user
        raise _bad(key, source, f"the table's contents are invalid ({_first_line(e)})", fix) from None
    if len(ds) == 0:
        raise _bad(key, source, f"the table has no data rows (columns: {ds.column_names})", fix)
    return ds
