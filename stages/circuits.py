"""Stage circuits: every circuit definition as Cirq JSON, a text diagram and a canonical hash."""

import argparse

from quantum_llm.config import ParamsError, load_section, load_shared
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.quantum import pipeline_circuits, write_circuit
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    shared, p = load_shared(), load_section("circuits")
    try:
        specs = pipeline_circuits(shared.qubits, p)
    except ValueError as e:  # cross-field limits, e.g. main_readout > qubits
        raise ParamsError(f"params.yaml: circuits: {e}. Fix it in params.yaml.") from None
    with atomic_dir(args.out) as tmp:
        hashes = {name: write_circuit(tmp, name, spec.circuit) for name, spec in specs.items()}
        write_json(tmp / "hashes.json", hashes)
        write_manifest(tmp, "circuits", {"qubits": shared.qubits, "circuits": p.model_dump()}, [],
                       extra={"circuit_hashes": hashes})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (models/circuits)")
    run_stage(main, parser)
