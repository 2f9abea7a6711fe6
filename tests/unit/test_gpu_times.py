"""GPU times for the energy model from benchmarks/gpu_sim.py's JSON (measured or labelled assumption)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from quantum_llm.quantum.gpu_times import gpu_seconds_model, gpu_times
from quantum_llm.stage import InputError

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_sim.py"


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory) -> dict:
    """A real (CPU-only) run of the benchmark at small N: the format gpu_times reads."""
    out = tmp_path_factory.mktemp("bench") / "gpu_sim.json"
    res = subprocess.run([sys.executable, str(BENCH), "--qubits", "6", "8", "--batch", "1", "--repeats", "1",
                          "--columns", "qsim_cpu", "torch_cuda", "qsim_gpu", "--out", str(out)],
                         capture_output=True, text=True, timeout=300, env={"QUANTUM_LLM_DEVICE": "cpu", **_env()})
    assert res.returncode == 0, res.stderr
    assert "unavailable: torch_cuda: no CUDA device" in res.stdout
    return json.loads(out.read_text())


def _env():
    import os
    return {k: v for k, v in os.environ.items() if k != "QUANTUM_LLM_DEVICE"}


def test_benchmark_json_records_measurements_and_what_is_unavailable(cpu_run):
    assert cpu_run["gpu"] is None and set(cpu_run["unavailable"]) == {"torch_cuda", "qsim_gpu"}
    rows = cpu_run["rows"]
    assert [(r["simulator"], r["qubits"], r["batch"]) for r in rows] == [("qsim_cpu", 6, 1), ("qsim_cpu", 8, 1)]
    for r in rows:
        assert r["status"] == "ok" and r["seconds"] > 0 and r["bytes_per_amplitude"] == 8
        # a gate reads and writes the whole state once: limit = gates * 2 * 8 B * 2**N / bandwidth
        bw = cpu_run["measured_bandwidth_gbs"]["cpu"] * 1e9
        assert math.isclose(r["seconds_limit"], r["gates"] * 16 * 2 ** r["qubits"] / bw, rel_tol=1e-9)
        assert math.isclose(r["bandwidth_fraction"], r["seconds_limit"] / r["seconds"], rel_tol=1e-9)


def test_a_cpu_only_run_gives_the_labelled_assumption(cpu_run, tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(cpu_run))
    assert gpu_times(path) is None
    times, label = gpu_seconds_model(path, 50.0)
    assert times is None and label.startswith("assumed: 50x the CPU simulator's speed (no GPU measurement in ")
    assert gpu_seconds_model(None, 50.0) == (None, "assumed: 50x the CPU simulator's speed (no GPU measurement)")
    assert gpu_times(tmp_path / "absent.json") is None


def test_gpu_rows_give_measured_times(cpu_run, tmp_path):
    # the same format with GPU rows (as a GPU machine writes them): the fastest GPU column per N
    data = {**cpu_run, "gpu": {"name": "NVIDIA H200", "type": "cuda"}, "gpu_board_watts": 700.0}
    data["rows"] = [
        {"simulator": "torch_cuda", "qubits": 20, "batch": 1, "gates": 100, "status": "ok", "seconds": 2e-3},
        {"simulator": "qsim_gpu", "qubits": 20, "batch": 1, "gates": 100, "status": "ok", "seconds": 1e-3},
        {"simulator": "qsim_gpu", "qubits": 24, "batch": 1, "gates": 120, "status": "ok", "seconds": 1.2e-2},
        {"simulator": "qsim_gpu", "qubits": 24, "batch": 64, "gates": 120, "status": "ok", "seconds": 1e-9},
        {"simulator": "qsim_cpu", "qubits": 24, "batch": 1, "gates": 120, "status": "ok", "seconds": 1e-9},
        {"simulator": "qsim_custatevec", "qubits": 28, "batch": 1, "gates": 140, "status": "skip(time)"},
    ]
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(data))
    t, label = gpu_seconds_model(path, 50.0)
    a20, a24 = 1e-3 / (100 * 2**20), 1.2e-2 / (120 * 2**24)
    assert t.per_gate_amplitude == pytest.approx({20: a20, 24: a24}) and t.simulator == {20: "qsim_gpu", 24: "qsim_gpu"}
    assert t.board_watts == 700.0
    assert label.startswith(f"measured: qsim_gpu on NVIDIA H200 ({data['date'][:10]}), N = 20..24 from ")
    assert t.seconds_per_gate_amplitude(10) == pytest.approx(a20)        # clamped below
    assert t.seconds_per_gate_amplitude(40) == pytest.approx(a24)        # flat above (memory-bound)
    assert t.seconds_per_gate_amplitude(22) == pytest.approx(math.sqrt(a20 * a24))  # log-linear midpoint
    assert t.seconds(24, 120) == pytest.approx(1.2e-2)


def test_malformed_file_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"rows": [{"simulator": "qsim_gpu"}]}')
    with pytest.raises(InputError, match="not a benchmarks/gpu_sim.py result"):
        gpu_times(path)
