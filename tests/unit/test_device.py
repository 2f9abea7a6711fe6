"""The runtime device setting (QUANTUM_LLM_DEVICE): parsing, clear errors, the manifest record."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from quantum_llm.config import ParamsError
from quantum_llm.device import ENV, device_record, parse_device, resolve_device, timed, to_numpy
from quantum_llm.lineage import build_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value,count,expected", [
    (None, 0, "cpu"), ("", 0, "cpu"), ("auto", 0, "cpu"), ("auto", 2, "cuda:0"), ("cpu", 2, "cpu"),
    ("CPU", 0, "cpu"), (" cuda ", 1, "cuda:0"), ("cuda:1", 2, "cuda:1"),
])
def test_parse_device(value, count, expected):
    assert parse_device(value, cuda_count=count) == torch.device(expected)


@pytest.mark.parametrize("value,count,message", [
    ("gpu", 1, "invalid: use auto, cpu, cuda or cuda:<index>"),
    ("cuda:x", 1, "invalid"), ("cuda:-1", 1, "invalid"), ("mps", 0, "invalid"),
    ("cuda", 0, "sees no CUDA device"), ("cuda:0", 0, "sees no CUDA device"),
    ("cuda:2", 2, r"only 2 CUDA device\(s\) are visible \(cuda:0..cuda:1\)"),
])
def test_parse_device_errors_are_one_line(value, count, message):
    with pytest.raises(ParamsError, match=message) as e:
        parse_device(value, cuda_count=count)
    assert "\n" not in str(e.value) and ENV in str(e.value)


def test_resolve_device_reads_the_environment(monkeypatch):
    monkeypatch.setenv(ENV, "cpu")
    assert resolve_device() == torch.device("cpu")
    monkeypatch.delenv(ENV)
    assert resolve_device() == (torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu"))
    monkeypatch.setenv(ENV, "tpu")
    with pytest.raises(ParamsError, match="tpu"):
        resolve_device()


def test_to_numpy_detaches_and_copies_to_host():
    t = torch.ones(3, requires_grad=True) * 2
    a = to_numpy(t)
    assert a.tolist() == [2.0, 2.0, 2.0] and not isinstance(a, torch.Tensor)


def test_timed_returns_result_and_seconds():
    out, s = timed(lambda: torch.ones(4).sum().item(), "cpu")
    assert out == 4.0 and s >= 0


def test_device_record_and_manifest(monkeypatch):
    monkeypatch.setenv(ENV, "cpu")
    rec = device_record()
    assert rec["type"] == "cpu" and rec["index"] is None and rec["setting"] == "cpu"
    assert rec["torch"] == torch.__version__ and "cuda" in rec and rec["name"]
    manifest = build_manifest("s", {"k": 1}, [])
    assert manifest["device"]["type"] == "cpu"
    # the device is not a param: it never changes the params hash
    monkeypatch.setenv(ENV, "auto")
    assert build_manifest("s", {"k": 1}, [])["params_hash"] == manifest["params_hash"]
    # an invalid setting is recorded, not raised (a stage that never used torch must not fail on it)
    monkeypatch.setenv(ENV, "tpu")
    assert "tpu" in device_record()["error"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_stage_exits_2_on_an_absent_cuda_device(tmp_path):
    import os
    env = {**os.environ, ENV: "cuda:0", "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "stages/train_qisa.py", "--variant", "csa", "--seed", "0",
                          "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--curve", str(tmp_path / "c.json")],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: {ENV}=cuda:0 but torch")
