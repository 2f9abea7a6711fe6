"""benchmarks/peers.py: the PennyLane translations compute what ours computes (skipped without
the optional `bench` extra)."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("pennylane")
pytest.importorskip("pennylane_lightning")

from quantum_llm.quantum import pqc_encoder, pqc_main, qpa_ansatz  # noqa: E402


def _peers():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"
    spec = importlib.util.spec_from_file_location("peers_bench", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("make,batch,readout", [(lambda: qpa_ansatz(3, 2), 1, "probs"),
                                                (lambda: pqc_encoder(1, 3), 2, "z"),
                                                (lambda: pqc_main(3, 4, 2, 1, 2, 1), 2, "z")])
def test_peer_translations_agree_with_ours(make, batch, readout):
    """check_agreement raises on any loss or gradient difference above 1e-6; a corrupted input
    (one weight moved for the peer only) must make it raise, so the check can fail."""
    peers = _peers()
    case = peers.Case("t", make(), batch, readout)
    engines, x = peers.engines(case, skip_default_from=20), peers.inputs(case)
    peers.check_agreement(case, engines, x)
    lightning = engines["lightning adjoint"]

    def corrupted(x, kind):
        y = dict(x, weights=x["weights"] + 0.1)
        return lightning(y, kind)
    corrupted.readout = lightning.readout
    with pytest.raises(AssertionError, match="disagrees"):
        peers.check_agreement(case, {"ours": engines["ours"], "bad": corrupted}, x)
