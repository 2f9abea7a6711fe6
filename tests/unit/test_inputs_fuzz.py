"""Malformed data files: every prepare stage's loader either reads them or stops with one
InputError line naming the params key, the file and the fix; never a pandas/pyarrow traceback.
Plus the shared Parquet reader every downstream stage uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_llm.config import CharsParams, LMDataParams, SST2Params
from quantum_llm.data import prepare, sst2
from quantum_llm.io import read_parquet
from quantum_llm.stage import InputError

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class FakeEncoder:
    """Stands in for MiniLM: these tests are about reading tables, not about embeddings."""

    def get_sentence_embedding_dimension(self) -> int:
        return 384

    def encode(self, sentences, **_):
        return np.zeros((len(sentences), 384), dtype=np.float32)


def _one_line(e: InputError, key: str, path: Path) -> None:
    msg = str(e)
    assert "\n" not in msg and key in msg and str(path) in msg, msg


def _good_tsv(n: int = 12) -> str:
    return "sentence\tlabel\n" + "".join(f"sentence number {i}\t{i % 2}\n" for i in range(n))


def _parquet_bytes(tmp: Path) -> bytes:
    pq.write_table(pa.table({"sentence": [f"s{i}" for i in range(12)], "label": [i % 2 for i in range(12)]}),
                   tmp / "ok.parquet")
    return (tmp / "ok.parquet").read_bytes()


def _sst2(tmp_path: Path, train: Path) -> SST2Params:
    test = tmp_path / "test.tsv"
    test.write_text(_good_tsv())
    # model_construct skips the params model's file checks (the files are what we corrupt)
    defaults = {k: f.default for k, f in SST2Params.model_fields.items()}
    return SST2Params.model_construct(**{**defaults, "train_source": str(train), "test_source": str(test),
                                         "per_class": 3})


@pytest.fixture
def no_encoder(monkeypatch):
    monkeypatch.setattr(sst2, "load_encoder", lambda spec: FakeEncoder())


# ---------------------------------------------------------------- named cases
@pytest.mark.parametrize("content, fragment", [
    (b"", "the text is empty"),
    (b"  \n\n \t\n", "the text is empty"),
    (b"\xff\xfe\x00bad", "not UTF-8 text"),
    (b"one line only\n", "too few lines"),
])
def test_chars_text_cases(tmp_path, content, fragment):
    f = tmp_path / "in.txt"
    f.write_bytes(content)
    with pytest.raises(InputError, match=fragment) as e:
        prepare.write_chars(CharsParams.model_construct(source=str(f), train=0.9, val=0.05), tmp_path)
    _one_line(e.value, "data.chars", f)
    assert str(e.value).count("data.chars.source =") == 1, str(e.value)
    assert not list(tmp_path.glob("*.parquet"))


@pytest.mark.parametrize("name, content, fragment", [
    ("t.tsv", b"", "the file is empty"),
    ("t.tsv", b"sentence\tlabel\n", "no data rows"),
    ("t.csv", b"sentence,label\n", "no data rows"),
    ("t.jsonl", b"{not json\n", "not a readable jsonl table"),
    ("t.parquet", b"PAR1 this is not parquet", "not a readable parquet table"),
    ("t.tsv", b"sentence\tlabel\nfine\tpositive\n", "integer class labels"),
    ("t.tsv", "sentence\tlabel\n" + "".join(f"s{i}\t1\n" for i in range(9)), "one class only"),
])
def test_sst2_table_cases(tmp_path, no_encoder, name, content, fragment):
    f = tmp_path / name
    f.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InputError, match=fragment) as e:
        prepare.write_sst2(_sst2(tmp_path, f), 0, tmp_path)
    assert "\n" not in str(e.value) and str(f) in str(e.value)
    assert not list(tmp_path.glob("*.parquet")) or name.endswith(".parquet")


def test_truncated_parquet_table(tmp_path, no_encoder):
    f = tmp_path / "t.parquet"
    f.write_bytes(_parquet_bytes(tmp_path)[:-20])
    with pytest.raises(InputError, match=r"data\.sst2\.train_source = .*not a readable parquet table") as e:
        prepare.write_sst2(_sst2(tmp_path, f), 0, tmp_path)
    _one_line(e.value, "data.sst2.train_source", f)


def test_lm_text_cases(tmp_path, tiny_lm):
    good, empty = tmp_path / "good.txt", tmp_path / "empty.txt"
    good.write_text("a line\nanother line\n")
    empty.write_text("\n \n")
    p = LMDataParams.model_construct(train_source=str(good), test_source=str(empty), max_length=16, max_lines=0)
    with pytest.raises(InputError, match=r"data\.lm\.test_source = .*the text is empty") as e:
        prepare.write_lm(p, tiny_lm, tmp_path)
    _one_line(e.value, "data.lm.test_source", empty)


def test_stage_reading_a_corrupted_parquet_says_one_line(tmp_path):
    f = tmp_path / "train.parquet"
    f.write_bytes(_parquet_bytes(tmp_path)[:50] + b"garbage")
    with pytest.raises(InputError, match=r"not a readable Parquet file .*dvc repro -f prepare_sst2") as e:
        read_parquet(f, ["sentence"], stage="prepare_sst2")
    assert "\n" not in str(e.value)
    ok = tmp_path / "ok.parquet"
    with pytest.raises(InputError, match=r"columns \['nope'\]"):
        read_parquet(ok, ["nope"], stage="prepare_sst2")
    assert read_parquet(ok, ["label"], stage="prepare_sst2").num_rows == 12


@pytest.mark.parametrize("stage, setup, key", [
    ("prepare_chars", lambda d: (d / "in.txt").write_text(""), "data.chars.source"),
    ("prepare_sst2", lambda d: (d / "in.tsv").write_text("sentence\tlabel\n"), "data.sst2.train_source"),
])
def test_prepare_stage_exits_2_with_one_line_and_writes_nothing(tmp_path, stage, setup, key):
    import yaml

    setup(tmp_path)
    (tmp_path / "data").symlink_to(ROOT / "data")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"]["chars"]["source"] = "in.txt" if stage == "prepare_chars" else raw["data"]["chars"]["source"]
    if stage == "prepare_sst2":
        raw["data"]["sst2"]["train_source"] = "in.tsv"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "out" / "prepared"
    res = subprocess.run([sys.executable, str(ROOT / f"stages/{stage}.py"), "--out", str(out)],
                         cwd=tmp_path, capture_output=True, text=True)
    err = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]  # not log lines or progress bars
    assert res.returncode == 2 and len(err) == 1 and key in err[0] and "Traceback" not in res.stderr, res.stderr
    assert not out.exists() and not list(out.parent.glob(".prepared.tmp-*"))


# ---------------------------------------------------------------- properties
MUTATIONS = st.sampled_from(["truncate", "flip", "insert", "keep"])


def _mutate(data: bytes, kind: str, i: int, junk: bytes) -> bytes:
    i = i % (len(data) + 1)
    return {"truncate": data[:i], "flip": data[:i] + junk + data[i + len(junk):], "insert": data[:i] + junk + data[i:],
            "keep": junk}[kind]


@SETTINGS
@given(kind=MUTATIONS, i=st.integers(0, 10_000), junk=st.binary(max_size=24),
       suffix=st.sampled_from([".tsv", ".csv", ".jsonl", ".json", ".parquet"]))
def test_any_malformed_table_reads_or_says_one_line(tmp_path, no_encoder, kind, i, junk, suffix):
    good = {".tsv": _good_tsv().encode(), ".csv": _good_tsv().replace("\t", ",").encode(),
            ".jsonl": b"".join(b'{"sentence": "s%d", "label": %d}\n' % (k, k % 2) for k in range(12)),
            ".json": b"[" + b",".join(b'{"sentence": "s%d", "label": %d}' % (k, k % 2) for k in range(12)) + b"]",
            ".parquet": _parquet_bytes(tmp_path)}[suffix]
    f = tmp_path / f"train{suffix}"
    f.write_bytes(_mutate(good, kind, i, junk))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    try:
        prepare.write_sst2(_sst2(tmp_path, f), 0, out)
    except InputError as e:
        assert "\n" not in str(e) and str(f) in str(e), str(e)


@SETTINGS
@given(kind=MUTATIONS, i=st.integers(0, 10_000), junk=st.binary(max_size=24))
def test_any_malformed_text_reads_or_says_one_line(tmp_path, kind, i, junk):
    f = tmp_path / "input.txt"
    f.write_bytes(_mutate((ROOT / "data/raw/tinyshakespeare/input.txt").read_bytes()[:3000], kind, i, junk))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    try:
        prepare.write_chars(CharsParams.model_construct(source=str(f), train=0.9, val=0.05), out)
    except InputError as e:
        _one_line(e, "data.chars.source", f)
