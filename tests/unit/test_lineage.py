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


def _repo(tmp_path):
    """A git repository with a two-stage dvc.yaml, its code, params and tracked outputs committed."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    dvc = {"stages": {
        "a": {"matrix": {"seed": [0, 1]}, "cmd": "python a.py", "deps": ["a.py", "lib", "out/b", "models/m-${item.seed}"],
              "params": ["k.x"], "outs": ["out/a"], "metrics": [{"metrics/a.json": {"cache": False}}]},
        "b": {"cmd": "python b.py", "deps": ["b.py"], "params": [{"params.yaml": ["k.y"]}],
              "outs": ["out/b", "models/m-${item}"], "metrics": [{"metrics/b.json": {"cache": False}}]}}}
    files = {"dvc.yaml": yaml.safe_dump(dvc), "params.yaml": yaml.safe_dump({"k": {"x": 1, "y": 2}}),
             "a.py": "A = 1\n", "b.py": "B = 1\n", "lib/util.py": "U = 1\n", "metrics/a.json": "{}\n",
             "metrics/b.json": "{}\n", "dvc.lock": "schema: '2.0'\n", "out/b/x.txt": "b\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return tmp_path


def test_stage_deps_are_code_and_params_not_outputs(tmp_path):
    root = _repo(tmp_path)
    assert lineage.stage_deps("a@1", root) == (["a.py", "lib"], {"params.yaml": ["k.x"]})
    assert lineage.stage_deps("b", root) == (["b.py"], {"params.yaml": ["k.y"]})
    assert lineage.stage_deps("nope", root) is None


def test_dirty_only_when_a_declared_code_or_params_dep_differs(tmp_path):
    root = _repo(tmp_path)
    state = lineage.git_state(root, stage="a@0")
    assert state["dirty"] is False and state["dirty_deps"] == [] and len(state["commit"]) == 40
    # outputs (its own, other stages'), dvc.lock, another stage's code and an undeclared param: still clean
    for name in ("metrics/a.json", "metrics/b.json", "dvc.lock", "out/b/x.txt", "b.py"):
        (root / name).write_text("changed\n")
    (root / "params.yaml").write_text(yaml.safe_dump({"k": {"x": 1, "y": 3}}))
    assert lineage.git_state(root, stage="a@0")["dirty"] is False
    assert lineage.git_state(root, stage="b")["dirty_deps"] == ["b.py", "params.yaml:k.y"]
    # a declared param, a declared code file, a new file in a declared code folder: dirty, and named
    (root / "params.yaml").write_text(yaml.safe_dump({"k": {"x": 5, "y": 3}}))
    (root / "a.py").write_text("A = 2\n")
    (root / "lib" / "new.py").write_text("N = 1\n")
    state = lineage.git_state(root, stage="a@0")
    assert state["dirty"] is True and state["dirty_deps"] == ["a.py", "lib/new.py", "params.yaml:k.x"]
    # no stage: every tracked file except stage outputs and dvc.lock
    assert lineage.git_state(root)["dirty_deps"] == ["a.py", "b.py", "params.yaml"]


def test_manifest_records_the_stage_scope_and_trace_shows_it(tmp_path, monkeypatch):
    root = _repo(tmp_path)
    monkeypatch.chdir(root)
    (root / "metrics/a.json").write_text("changed\n")
    m = lineage.write_manifest(root / "out/a", "a@0", {"k.x": 1}, [])
    assert m["git"]["dirty"] is False and "stage 'a'" in m["git"]["scope"]
    lock = {"schema": "2.0", "stages": {"a@0": {"cmd": "python a.py", "outs": [{"path": "out/a", "md5": "0" * 32}]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    text = lineage.format_trace(lineage.trace("out/a"))
    assert f"commit {m['git']['commit'][:12]} (clean: declared deps and params of stage 'a'" in text
    (root / "a.py").write_text("A = 3\n")
    lineage.write_manifest(root / "out/a", "a@0", {"k.x": 1}, [])
    assert "(dirty: a.py)" in lineage.format_trace(lineage.trace("out/a"))
