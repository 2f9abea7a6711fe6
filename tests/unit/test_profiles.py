"""`quantum-llm exp --profile`: profile checks before anything runs, the dvc command, DVC's typing of -S values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantum_llm.cli import main
from quantum_llm.profiles import exp_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _profile(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return str(p)


def test_paper_profile_dry_run_prints_the_command(in_root, capsys):
    assert main(["exp", "--profile", "paper", "--dry-run", "--", "--name", "paper", "qisa_summary"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("dvc exp run -S qisa.model.dropout=0.2 -S qisa.train.batch_size=1024 "
                          "-S qisa.train.max_iters=1840 -S qisa.train.lr=0.003 ")
    assert " -S 'pqc.search.reupload_blocks=[\"shared\", \"separate\"]' " in out   # lists as JSON, quoted
    assert out.endswith(" --name paper qisa_summary")


@pytest.mark.parametrize("text,message", [
    ("qisa.train.max_iter: 10\n", "qisa.train.max_iter is not a params key in params.yaml (did you mean qisa.train.max_iters?)"),
    ("qisa.train: 10\n", "qisa.train is not a params key"),
    ("qisa.train.max_iters: -1\n", "qisa.train.max_iters = -1 is invalid"),
    ("simulator.gpu_mode: 3\n", "simulator.gpu_mode = 3 is invalid"),
    ("qisa:\n  train: 1\n", "a profile is a flat mapping"),
])
def test_bad_profiles_stop_with_one_line(in_root, tmp_path, capsys, text, message):
    path = _profile(tmp_path, text)
    assert main(["exp", "--profile", path, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith(f"error: {path}")
    assert str(tmp_path / "tmp") not in err  # names the profile, not the temporary merged file


def test_unknown_profile(in_root, capsys):
    assert main(["exp", "--profile", "nope"]) == 2
    assert "profiles/nope.yaml: profile not found (known profiles: mpnet, paper" in capsys.readouterr().err


def test_dvc_reads_the_values_with_their_types(tmp_path):
    """The -S values (JSON) reach params.yaml typed: strings with colons, lists, small floats, null."""
    params = {"a": {"s": "x", "l": [1], "f": 0.1, "n": 1}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": {
        "cmd": "cp params.yaml out.yaml", "params": ["a.s", "a.l", "a.f", "a.n"], "outs": ["out.yaml"]}}}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=env, capture_output=True)
    cmd = exp_command({"a.s": "path:some/dir", "a.l": [2, 3], "a.f": 3.0e-3, "a.n": None}, [])
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    want = {"s": "path:some/dir", "l": [2, 3], "f": 0.003, "n": None}
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["a"] == want
    assert yaml.safe_load((tmp_path / "out.yaml").read_text())["a"] == want   # what the stage saw


def test_mpnet_profile_switches_the_body_only(in_root, capsys):
    assert main(["exp", "--profile", "mpnet", "--dry-run", "--", "--name", "mpnet", "pqc_summary"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "dvc exp run -S 'data.sst2.encoder=\"pypi:all-mpnet-base-v2\"' --name mpnet pqc_summary"
