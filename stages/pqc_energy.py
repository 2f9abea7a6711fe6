"""Stage pqc_energy: qsim statevector time of the PQC main module vs qubits on this machine, the
2**N fit, and the simulator-vs-QPU energy cross-over under the stated model (pqc.energy)."""

import argparse
from pathlib import Path

from quantum_llm.config import load_section
from quantum_llm.io import write_json
from quantum_llm.lineage import build_manifest, lineage_block
from quantum_llm.pqc.energy import EnergyModel, energy_report
from quantum_llm.report.plots import energy as plot_energy
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    circuits, e = load_section("circuits"), load_section("pqc").energy
    model = EnergyModel(**e.model_dump(exclude={"qubits", "repeats", "fit_from", "cpu_threads"}))
    report = energy_report(circuits, e.qubits, repeats=e.repeats, cpu_threads=e.cpu_threads, fit_from=e.fit_from,
                           model=model)
    m = build_manifest("pqc_energy", {"circuits": circuits.model_dump(), "pqc.energy": e.model_dump()}, [])
    report["lineage"] = lineage_block(m, circuit_hash="one main module per width, built from params (not trained)",
                                      data_hash="n/a (timing only: no data)")
    write_json(args.out, report)
    plot_energy(report, args.plot)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON (metrics/pqc/energy.json)")
    parser.add_argument("--plot", type=Path, required=True, help="PNG (metrics/pqc/energy.png)")
    run_stage(main, parser)
