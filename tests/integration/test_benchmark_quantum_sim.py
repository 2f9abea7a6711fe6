"""The simulator benchmark runs end to end on small cases: table, targets column, memory child."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "quantum_sim.py"


def test_benchmark_prints_a_row_per_case_with_memory_and_targets():
    # B = 64 at N = 12 is a 1 MiB batch state: over --mem-min-mib, so the memory child runs; B = 1 is not
    out = subprocess.run([sys.executable, str(BENCH), "--qubits", "12", "--batch", "1", "64", "--repeats", "1",
                          "--circuits", "qpa", "pqc_main", "--mem-min-mib", "0.5"],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(("qpa ", "pqc_main "))]
    assert [(r[0], r[1], r[2]) for r in rows] == [("qpa", "12", "1"), ("qpa", "12", "64"),
                                                  ("pqc_main", "12", "1"), ("pqc_main", "12", "64")]
    for r in rows:
        qsim_s, torch_s, ratio, bwd_fwd = map(float, r[4:8])
        assert qsim_s > 0 and torch_s > 0 and bwd_fwd > 0
        # the ratio is printed to 2 decimals, the times to 4: allow for their rounding
        assert abs(ratio - torch_s / qsim_s) <= 0.0051 + ratio * 5.1e-5 * (1 / qsim_s + 1 / torch_s)
        assert (r[8] == "-") == (r[2] == "1")
        if r[2] == "64":
            assert float(r[8]) > 0      # peak resident growth over the states, from the child
        assert r[9] in ("met", "MISSED")
