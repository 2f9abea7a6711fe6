"""Stage pqc_energy: qsim statevector time of the PQC main module vs qubits on this machine, the
2**N fit, and the simulator-vs-QPU energy cross-over under the stated model (pqc.energy)."""

import argparse
from pathlib import Path

from quantum_llm.config import load_section
from quantum_llm.io import write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.pqc.energy import EnergyModel, energy_report
from quantum_llm.quantum.gpu_times import gpu_seconds_model
from quantum_llm.report.plots import energy as plot_energy
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    circuits, e = load_section("circuits"), load_section("pqc").energy
    model = EnergyModel(**e.model_dump(exclude={"qubits", "repeats", "fit_from", "cpu_threads", "gpu_benchmark"}))
    if e.gpu_benchmark is not None and not Path(e.gpu_benchmark).is_file():
        raise InputError(f"pqc.energy.gpu_benchmark = {e.gpu_benchmark!r} does not exist: point it at the JSON that "
                         "benchmarks/gpu_sim.py wrote on a GPU machine, or set it to null (assumed speed-up)")
    gpu, label = gpu_seconds_model(e.gpu_benchmark, e.gpu_speedup)
    report = energy_report(circuits, e.qubits, repeats=e.repeats, cpu_threads=e.cpu_threads, fit_from=e.fit_from,
                           model=model, gpu=gpu, gpu_label=label)
    inputs = [e.gpu_benchmark] if e.gpu_benchmark is not None else []   # its sha256 in the manifest
    m = build_manifest("pqc_energy", {"circuits": circuits.model_dump(), "pqc.energy": e.model_dump()}, inputs)
    report["lineage"] = lineage_block(m, circuit_hash="one main module per width, built from params (not trained)",
                                      data_hash="n/a (timing only: no data)")
    write_json(args.out, report)
    plot_energy(report, args.plot)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON (metrics/pqc/energy.json)")
    parser.add_argument("--plot", type=Path, required=True, help="PNG (metrics/pqc/energy.png)")
    run_stage(main, parser)
