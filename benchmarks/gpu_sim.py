"""Benchmark: statevector simulators on a GPU and on the CPU, side by side in one run.

    python benchmarks/gpu_sim.py --qubits 12 16 20 24 28 --batch 1 64 --out gpu_sim.json

Columns (each one is measured in this run, or says why it is unavailable):

* ``torch_cuda``: the torch simulator (:class:`TorchCircuit`, float32) on the CUDA device of
  ``QUANTUM_LLM_DEVICE`` (cuda:0 by default), one batched forward to probabilities, timed
  between ``torch.cuda.synchronize`` calls;
* ``qsim_gpu`` / ``qsim_custatevec``: qsimcirq with ``use_gpu`` and ``gpu_mode`` 0 (qsim's CUDA
  kernels) / 1 (cuStateVec); needs a GPU build (scripts/build_qsim_gpu.sh);
* ``qsim_cpu``: qsimcirq on ``--threads`` CPU threads;
* ``torch_cpu``: the torch simulator on the CPU (``--threads`` threads), the baseline of torch_cuda.

qsim runs the B parameter sets one after another and returns one expectation value per set
(``simulate_expectation_values`` of Z on the first qubit, so no 2**N state is copied back to
the host: the time is the simulation's). The circuit is the QPA ansatz (``circuits`` section
defaults: RY column + CNOT chain per layer), every batch row with its own random angles.

Bandwidth limit: a statevector simulator that applies gate after gate reads and writes the
whole state once per gate, so ``t_limit = gates * 2 * state_bytes * B / bandwidth`` and the
printed ``bw`` is ``t_limit / t``: 1.0 = at the memory-bandwidth limit. Fusing k gates into one
pass (qsim and the torch simulator both do) lets a simulator beat this model (bw > 1). State
bytes are what each simulator holds: qsim complex64 (8 B per amplitude); the torch simulator
runs real circuits such as this one in float32 (4 B). Bandwidth: a measured device-to-device
copy (``2 * bytes / t``; the host's is a NumPy copy), and the vendor peak from a table of
device names where known (both are recorded; ``bw`` uses the measured copy).

Time guard: a case whose time, extrapolated from the same column's previous N (x 2 per qubit,
x B), exceeds ``--budget-s`` is skipped and marked ``skip(time)``; one that does not fit in
``--memory-fraction`` of the device memory is ``skip(mem)``. Timings: minimum of ``--repeats``
after one warm-up. The JSON (``--out``) holds every measurement with the device name and date;
``quantum_llm.quantum.gpu_times`` reads it for the energy model.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from quantum_llm.io import write_json

COLUMNS = ("torch_cuda", "qsim_gpu", "qsim_custatevec", "qsim_cpu", "torch_cpu")
# vendor peak memory bandwidth (GB/s) and board power (W) by device-name fragment, most specific first
DEVICE_TABLE = [
    ("H200", 4800, 700), ("H100 SXM", 3350, 700), ("H100 PCIe", 2000, 350), ("H100 NVL", 3900, 400),
    ("H100", 3350, 700), ("GH200", 4000, 900), ("A100-SXM4-80GB", 2039, 400), ("A100 80GB PCIe", 1935, 300),
    ("A100", 1555, 400), ("L40S", 864, 350), ("L4", 300, 72), ("A10", 600, 150), ("V100", 900, 300),
    ("T4", 320, 70), ("RTX 4090", 1008, 450), ("RTX 3090", 936, 350),
]


def device_peak(name: str) -> tuple[float | None, float | None]:
    """(peak GB/s, board watts) for a device name from the table, or (None, None)."""
    for fragment, gbs, watts in DEVICE_TABLE:
        if fragment.lower() in name.lower():
            return float(gbs), float(watts)
    return None, None


def measured_bandwidth(device: str, mib: int = 256, repeats: int = 5) -> float:
    """Bytes per second of a copy on ``device`` (read + write counted), best of ``repeats``."""
    from quantum_llm.device import timed
    n = mib * 2**20 // 4
    if device == "cpu":
        src, dst = np.ones(n, np.float32), np.empty(n, np.float32)
        best = min(timed(lambda: np.copyto(dst, src), "cpu")[1] for _ in range(repeats))
    else:
        src = torch.ones(n, dtype=torch.float32, device=device)
        dst = torch.empty_like(src)
        dst.copy_(src)
        best = min(timed(lambda: dst.copy_(src), device)[1] for _ in range(repeats))
    return 2 * n * 4 / best


def qpa_circuit(n: int):
    from quantum_llm.config import CircuitsParams
    from quantum_llm.quantum import qpa_ansatz
    p = CircuitsParams()
    return qpa_ansatz(n, p.qpa_layers, p.qpa_connectivity)


def time_torch(spec, B: int, device: str, repeats: int) -> tuple[float, int]:
    """(seconds of one batched forward, bytes per amplitude)."""
    from quantum_llm.device import timed
    from quantum_llm.quantum import TorchCircuit
    tc = TorchCircuit.from_spec(spec)
    g = torch.Generator().manual_seed(0)
    params = (torch.rand(B, len(spec.symbols), generator=g) * 6 - 3).to(device)
    with torch.no_grad():
        tc.probabilities(params)  # warm-up (kernels, allocator)
        best = min(timed(lambda: tc.probabilities(params), device)[1] for _ in range(repeats))
    return best, (4 if tc.is_real else 8)


def time_qsim(spec, B: int, repeats: int, threads: int, use_gpu: bool, gpu_mode: int) -> tuple[float, int]:
    import cirq
    import qsimcirq
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=threads, use_gpu=use_gpu, gpu_mode=gpu_mode))
    rng = np.random.default_rng(0)
    resolvers = [cirq.ParamResolver(dict(zip(spec.symbols, map(float, row), strict=True)))
                 for row in rng.uniform(-3, 3, (B, len(spec.symbols)))]
    obs = [cirq.Z(spec.qubits[0])]
    sim.simulate_expectation_values(spec.circuit, obs, resolvers[0], qubit_order=spec.qubits)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sim.simulate_expectation_values_sweep(spec.circuit, obs, resolvers, qubit_order=spec.qubits)
        best = min(best, time.perf_counter() - t0)
    return best, 8


def availability(cuda: torch.device | None) -> dict[str, str | None]:
    """None for a column that can run here, else the reason it cannot."""
    import qsimcirq
    no_cuda = (f"no CUDA device (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}; "
               "QUANTUM_LLM_DEVICE must name a CUDA device)")
    no_build = f"qsimcirq {qsimcirq.__version__} has no {{}} (CPU-only build or no visible GPU: scripts/build_qsim_gpu.sh)"
    return {
        "torch_cuda": None if cuda is not None else no_cuda,
        "qsim_gpu": None if qsimcirq.qsim_gpu is not None else no_build.format("qsimcirq.qsim_gpu"),
        "qsim_custatevec": None if qsimcirq.qsim_custatevec is not None else no_build.format("qsimcirq.qsim_custatevec"),
        "qsim_cpu": None, "torch_cpu": None,
    }


def run_case(col: str, spec, B: int, args, cuda) -> tuple[float, int]:
    if col == "torch_cuda":
        return time_torch(spec, B, str(cuda), args.repeats)
    if col == "torch_cpu":
        return time_torch(spec, B, "cpu", args.repeats)
    return time_qsim(spec, B, args.repeats, args.threads, col != "qsim_cpu", 1 if col == "qsim_custatevec" else 0)


def _cuda_device() -> torch.device | None:
    from quantum_llm.config import ParamsError
    from quantum_llm.device import resolve_device
    try:
        dev = resolve_device()
    except ParamsError:
        return None
    return dev if dev.type == "cuda" else None


def measure(args) -> dict:
    from quantum_llm.device import device_record
    torch.set_num_threads(args.threads)
    cuda = _cuda_device()
    avail = availability(cuda)
    cols = [c for c in args.columns if avail[c] is None]
    gpu = device_record(cuda) if cuda is not None else None
    gpu_mem = torch.cuda.get_device_properties(cuda).total_memory if cuda is not None else None
    host_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    bw = {"cpu": measured_bandwidth("cpu")}
    if cuda is not None:
        bw["gpu"] = measured_bandwidth(str(cuda))
    peak_gbs, watts = device_peak(gpu["name"]) if gpu else (None, None)
    rows, last = [], {}
    for n in args.qubits:
        spec = qpa_circuit(n)
        gates = sum(1 for _ in spec.circuit.all_operations())
        for B in args.batch:
            for col in cols:
                on_gpu = col in ("torch_cuda", "qsim_gpu", "qsim_custatevec")
                row = {"simulator": col, "qubits": n, "batch": B, "gates": gates}
                state = 8 * 2**n * (B if col.startswith("torch") else 1)   # qsim holds one state at a time
                mem = gpu_mem if on_gpu else host_mem
                if state * 3 > args.memory_fraction * mem:   # the state, scratch and probabilities
                    rows.append({**row, "status": "skip(mem)"})
                    continue
                if col in last:
                    n0, b0, t0 = last[col]
                    if t0 * 2 ** (n - n0) * B / b0 > args.budget_s:
                        rows.append({**row, "status": "skip(time)"})
                        continue
                t, amp_bytes = run_case(col, spec, B, args, cuda)
                last[col] = (n, B, t)
                bandwidth = bw["gpu" if on_gpu else "cpu"]
                limit = gates * 2 * amp_bytes * 2**n * B / bandwidth
                rows.append({**row, "status": "ok", "seconds": t, "bytes_per_amplitude": amp_bytes,
                             "seconds_limit": limit, "bandwidth_fraction": limit / t})
                print(_row(rows[-1]), flush=True)
    return {
        "benchmark": "benchmarks/gpu_sim.py", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "circuit": "qpa_ansatz(N, circuits.qpa_layers, circuits.qpa_connectivity), random angles per batch row",
        "gpu": gpu, "gpu_peak_bandwidth_gbs": peak_gbs, "gpu_board_watts": watts,
        "host": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                 "load_average": list(os.getloadavg())},
        "measured_bandwidth_gbs": {k: v / 1e9 for k, v in bw.items()},
        "unavailable": {c: r for c, r in avail.items() if r is not None and c in args.columns},
        "repeats": args.repeats, "rows": rows,
    }


def _row(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['simulator']:16} {r['qubits']:>3} {r['batch']:>3} {r['status']:>11}"
    return (f"{r['simulator']:16} {r['qubits']:>3} {r['batch']:>3} {r['seconds']:11.4g} "
            f"{r['seconds_limit']:11.4g} {r['bandwidth_fraction']:6.2f}")


def print_table(result: dict) -> None:
    g = result["gpu"]
    print(f"GPU: {g['name'] if g else 'none'}  date: {result['date']}  host threads: {result['host']['threads']}  "
          f"load: {result['host']['load_average'][0]:.2f}")
    print("measured copy bandwidth (GB/s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["measured_bandwidth_gbs"].items())
          + (f"; vendor peak {result['gpu_peak_bandwidth_gbs']:.0f}" if result["gpu_peak_bandwidth_gbs"] else ""))
    for col, why in result["unavailable"].items():
        print(f"unavailable: {col}: {why}")
    cols = sorted({r["simulator"] for r in result["rows"]}, key=COLUMNS.index)
    print(f"\n{'N':>3} {'B':>3}  " + "  ".join(f"{c + ' s (bw)':>24}" for c in cols))
    cells = {(r["qubits"], r["batch"], r["simulator"]): r for r in result["rows"]}
    for n, b in sorted({(r["qubits"], r["batch"]) for r in result["rows"]}):
        out = []
        for c in cols:
            r = cells.get((n, b, c))
            out.append("-" if r is None else r["status"] if r["status"] != "ok"
                       else f"{r['seconds']:.4g} ({r['bandwidth_fraction']:.2f})")
        print(f"{n:>3} {b:>3}  " + "  ".join(f"{x:>24}" for x in out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qubits", type=int, nargs="+", default=[12, 16, 20, 24, 28])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--columns", nargs="+", default=list(COLUMNS), choices=COLUMNS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of qsim_cpu and torch_cpu")
    ap.add_argument("--budget-s", type=float, default=60.0, help="skip a case predicted to take longer (seconds)")
    ap.add_argument("--memory-fraction", type=float, default=0.5, help="of device / host memory a case may use")
    ap.add_argument("--out", type=Path, default=Path("gpu_sim.json"), help="JSON of the measurements")
    args = ap.parse_args()
    print(f"{'simulator':16} {'N':>3} {'B':>3} {'seconds':>11} {'limit s':>11} {'bw':>6}")
    result = measure(args)
    print()
    print_table(result)
    write_json(args.out, result)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
