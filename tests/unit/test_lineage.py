"""Lineage: manifests and the trace from an artifact back through dvc.lock."""

import json

import yaml

from quantum_llm import lineage


def test_params_hash_is_canonical():
    assert lineage.params_hash({"a": 1, "b": [1, 2]}) == lineage.params_hash({"b": [1, 2], "a": 1})
    assert lineage.params_hash({"a": 1}) != lineage.params_hash({"a": 2})


def test_manifest_records_params_inputs_git_and_versions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("data")
    m = lineage.write_manifest(tmp_path / "art", "stage_x", {"sec": {"k": 1}}, [tmp_path / "in.txt"],
                               extra={"circuit_hash": "abc"})
    on_disk = json.loads((tmp_path / "art/manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(m, default=str))
    assert m["inputs"][str((tmp_path / "in.txt").as_posix())] == \
        "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7"  # sha256("data")
    assert m["circuit_hash"] == "abc" and "torch" in m["versions"] and set(m["git"]) == {"commit", "dirty"}


def test_trace_follows_dvc_lock_chain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lock = {"schema": "2.0", "stages": {
        "a": {"cmd": "python a.py", "deps": [{"path": "raw.txt", "md5": "r" * 32}],
              "params": {"params.yaml": {"seed": 3}}, "outs": [{"path": "out/a", "md5": "x" * 32}]},
        "b": {"cmd": "python b.py", "deps": [{"path": "out/a", "md5": "x" * 32}, {"path": "b.py", "md5": "y" * 32}],
              "params": {"params.yaml": {"qubits": 8}}, "outs": [{"path": "out/b", "md5": "z" * 32}]},
    }}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    for stage in "ab":
        lineage.write_manifest(tmp_path / f"out/{stage}", stage, {"p": stage}, [])
    (tmp_path / "out/b/file.parquet").write_text("")
    link = lineage.trace("out/b/file.parquet")
    assert link.stage == "b" and link.params == {"qubits": 8} and link.manifest["stage"] == "b"
    assert [p.stage for p in link.parents] == ["a"] and link.parents[0].params == {"seed": 3}
    text = lineage.format_trace(link)
    assert "out/b  <- stage 'b'" in text and "  out/a  <- stage 'a'" in text and "param qubits = 8" in text
    assert lineage.trace("raw.txt").stage is None


def test_trace_prints_a_shared_dependency_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stage = lambda deps, out: {"cmd": f"make {out}", "deps": [{"path": d, "md5": "0" * 32} for d in deps],  # noqa: E731
                               "outs": [{"path": out, "md5": "1" * 32}]}
    lock = {"schema": "2.0", "stages": {"base": stage(["raw"], "base"), "x": stage(["base"], "x"),
                                         "y": stage(["base"], "y"), "z": stage(["x", "y"], "z")}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    text = lineage.format_trace(lineage.trace("z"))
    assert text.count("base  <- stage 'base': make base") == 1
    assert "base  <- stage 'base' (see above)" in text and "not a stage output" not in text
