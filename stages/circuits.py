"""Stage circuits: every circuit definition as Cirq JSON, a text diagram and a canonical hash."""

import argparse

from quantum_llm.config import ParamsError, load_section, load_shared
from quantum_llm.data.encoders import embedding_dim
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.pqc.grid import search_archs
from quantum_llm.quantum import pipeline_circuits, write_circuit
from quantum_llm.quantum.circuits import encoder_qubits
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    shared, p, pqc, sst2 = load_shared(), load_section("circuits"), load_section("pqc"), load_section("data.sst2")
    # the PQC encoder's width follows the SST-2 body's embedding dimension (384 -> 9 qubits, 768 -> 10)
    dim = embedding_dim(sst2.encoder)
    enc_qubits = encoder_qubits(dim)
    try:
        specs = pipeline_circuits(shared.qubits, p, enc_qubits)
        # the PQC heads' search grid: every architecture it trains, under pqc_search/<tag>/
        for tag, a in search_archs(p, pqc.search, pqc.variants).items():
            for name, spec in pipeline_circuits(shared.qubits, p.model_copy(update=a), enc_qubits).items():
                if name.startswith("pqc_"):
                    specs[f"pqc_search/{tag}/{name}"] = spec
    except ValueError as e:  # cross-field limits, e.g. main_readout > qubits
        raise ParamsError(f"params.yaml: circuits: {e}. Fix it in params.yaml.") from None
    with atomic_dir(args.out) as tmp:
        for name in specs:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        hashes = {name: write_circuit(tmp, name, spec.circuit) for name, spec in specs.items()}
        write_json(tmp / "hashes.json", hashes)
        write_manifest(tmp, "circuits", {"qubits": shared.qubits, "circuits": p.model_dump(),
                                         "pqc.search": pqc.search.model_dump(), "pqc.variants": pqc.variants,
                                         "data.sst2.encoder": sst2.encoder}, [],
                       extra={"circuit_hashes": hashes, "embedding_dim": dim, "pqc_encoder_qubits": enc_qubits})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (models/circuits)")
    run_stage(main, parser)
