"""Benchmark: the torch simulator against qsim on the QPA ansatz and the PQC main module.

    python benchmarks/quantum_sim.py --qubits 4 8 12 16 20 --batch 1 64 --repeats 5

For each circuit, N and batch B it prints, measured in this one run:

* ``qsim s``: qsimcirq (``cpu_threads`` threads) simulating the B parameter sets one after
  another (its Python overhead is paid per call);
* ``torch s``: one batched forward of :class:`TorchCircuit` (float32, no grad);
* ``torch/qsim``: their ratio (target: <= 1 at N <= 16 for B = 64, <= 2 at N = 20);
* ``bwd/fwd``: backward time over the forward time with autograd on (target <= 3);
* ``peak/states``: peak extra memory of forward + backward over the bytes of the batch's
  state vectors (target <= 8).

Timings are the minimum over ``--repeats`` (qsim at N >= 18: one repeat, it is slow and
steady). Memory method: tracemalloc does not see torch's CPU allocations, so each case
with a batch state of at least ``--mem-min-mib`` runs in a fresh subprocess that builds the
circuit and inputs, reads its resident set (``VmRSS``), resets the kernel's peak-RSS mark
(writing 5 to ``/proc/self/clear_refs``), runs forward + backward once and reports
``VmHWM - VmRSS_before``: the peak of everything the pass had resident at once (states,
scratch, gradients, the loss' inputs), whatever allocator torch used. Before that the child
runs one forward + backward of the same circuit at N = 8, B = 2 (< 1 MiB of buffers): the
first use of the library in a process (GEMM kernels, the OpenMP thread pool) costs 10-25 MiB
of resident memory once, which is not memory per state; without the warm-up it showed as
~2-3 extra "states" at N = 20, B = 1 (4 MiB states). The child also runs with
``MALLOC_MMAP_THRESHOLD_=131072`` (glibc's default initial threshold, made fixed; an existing
setting is kept): by default glibc raises the threshold after the first large free, later
buffers of that size then come from the heap and freed ones stay cached there, so the same case
(qpa, N = 20, B = 1) read 5.1-13 states from run to run; with the fixed threshold it reads
5.2-5.4 every time, the peak of what the simulator had live.
Smaller cases print ``-`` (page-level noise dominates below a few MiB).

Threads: torch and qsim both use ``--threads`` OpenMP threads (each wheel ships its own
libgomp). The OpenMP wait policy is left as the environment sets it, and printed in the header:
unset, libgomp's default (workers spin briefly after each parallel region, then sleep) is what
a user gets and what the pipeline runs with. ``OMP_WAIT_POLICY=PASSIVE`` (workers sleep at
once) made both simulators 2-2.5x slower at N = 16, B = 64 on the 2-core machine, because
every one of the thousands of short GEMMs pays a thread wake-up; it only helps when other
processes compete for the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def build(name: str, n: int):
    from quantum_llm.config import CircuitsParams
    from quantum_llm.quantum import pqc_main, qpa_ansatz
    p = CircuitsParams()
    if name == "qpa":
        return qpa_ansatz(n, p.qpa_layers, p.qpa_connectivity)
    return pqc_main(n, p.encoders * p.encoder_readout, p.reuploads, p.main_depth, p.main_range, p.main_readout)


def torch_case(spec, B: int, threads: int, seed: int = 0, window: int = 5):
    import torch

    from quantum_llm.quantum import TorchCircuit
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(seed)
    tc = TorchCircuit.from_spec(spec, max_window=window)
    w = (torch.rand(len(spec.weight_symbols), generator=g) * 6 - 3).requires_grad_()
    x = torch.rand(B, len(spec.data_symbols), generator=g) * 6 - 3 if spec.data_symbols else None
    n = len(spec.qubits)
    readout = [spec.qubits.index(q) for q in spec.readout]
    if spec.name == "qpa":
        coef = torch.rand(2**n, generator=g)

        def loss():
            return tc.probabilities(weights=w, batch_size=B) @ coef
    else:
        def loss():
            return tc.expectation_z(weights=w, data=x, qubits=readout, batch_size=B)
    return tc, w, loss


def time_torch(spec, B, threads, repeats, window):
    import torch
    tc, w, loss = torch_case(spec, B, threads, window=window)
    fwd, fwd_g, bwd = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        with torch.no_grad():
            loss()
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = loss().sum()
        fwd_g.append(time.perf_counter() - t)
        t = time.perf_counter()
        out.backward()
        bwd.append(time.perf_counter() - t)
        w.grad = None
    return min(fwd), min(bwd) / min(fwd_g), tc


def time_qsim(spec, B, threads, repeats):
    import cirq
    import qsimcirq
    rng = np.random.default_rng(0)
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=threads))
    values = rng.uniform(-3, 3, (B, len(spec.symbols)))
    resolvers = [cirq.ParamResolver(dict(zip(spec.symbols, v, strict=False))) for v in values]
    sim.simulate(spec.circuit, resolvers[0], qubit_order=spec.qubits)  # warm-up: load, translate
    best = float("inf")
    for _ in range(repeats if len(spec.qubits) < 18 else 1):
        t = time.perf_counter()
        for r in resolvers:
            sim.simulate(spec.circuit, r, qubit_order=spec.qubits)
        best = min(best, time.perf_counter() - t)
    return best


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


WARMUP_N, WARMUP_B = 8, 2
MMAP_THRESHOLD = 128 * 1024   # glibc's default initial value, made fixed


def memory_child(name: str, n: int, B: int, threads: int, window: int) -> None:
    """Run in a subprocess: print JSON with the peak-RSS growth of one forward + backward.

    First one forward + backward of the same circuit at N = 8, B = 2: it loads the GEMM
    kernels and starts the OpenMP pool (10-25 MiB resident, paid once per process, not per
    state) but allocates < 1 MiB of torch buffers, so it cannot pre-pay the measured pass.
    """
    _, w0, loss0 = torch_case(build(name, WARMUP_N), WARMUP_B, threads, window=window)
    loss0().sum().backward()
    spec = build(name, n)
    tc, w, loss = torch_case(spec, B, threads, window=window)
    before = _status_kib("VmRSS") * 1024
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
    loss().sum().backward()
    after = _status_kib("VmHWM") * 1024
    state_bytes = B * 2**n * (4 if tc.is_real else 8)
    print(json.dumps({"peak": after - before, "states": state_bytes}))


def measure_memory(name, n, B, threads, window) -> float:
    cmd = [sys.executable, __file__, "--_child", name, str(n), str(B), "--threads", str(threads), "--window", str(window)]
    # a fixed glibc mmap threshold: every large buffer is mapped on allocation and unmapped on
    # free, so VmHWM is the peak of what was live, not of what glibc's dynamic threshold kept
    # cached in the heap after a free (that made the same case read 5-13 states run to run)
    env = dict(os.environ)
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"memory measurement for {name} N={n} B={B} failed (rc={proc.returncode}):\n"
                           f"{proc.stderr.strip()[-2000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return r["peak"] / r["states"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qubits", type=int, nargs="+", default=[4, 8, 12, 16, 20])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--circuits", nargs="+", default=["qpa", "pqc_main"], choices=["qpa", "pqc_main"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--window", type=int, default=5, help="torch simulator max fused block width (qubits)")
    ap.add_argument("--mem-min-mib", type=float, default=4.0)
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        memory_child(args._child[0], int(args._child[1]), int(args._child[2]), args.threads, args.window)
        return
    head = f"{'circuit':9} {'N':>3} {'B':>3} {'blocks':>6} {'qsim s':>9} {'torch s':>9} {'torch/qsim':>10} " \
           f"{'bwd/fwd':>7} {'peak/states':>11}  targets"
    print(f"window={args.window} threads={args.threads} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset (libgomp default)')} repeats={args.repeats} "
          f"(memory: fresh process, warm-up pass at N={WARMUP_N}, B={WARMUP_B}, MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD})")
    print(head)
    print("-" * len(head))
    for name in args.circuits:
        for n in args.qubits:
            spec = build(name, n)
            for B in args.batch:
                t_torch, ratio_bwd, tc = time_torch(spec, B, args.threads, args.repeats, args.window)
                t_qsim = time_qsim(spec, B, args.threads, args.repeats)
                state_mib = B * 2**n * (4 if tc.is_real else 8) / 2**20
                mem = measure_memory(name, n, B, args.threads, args.window) if state_mib >= args.mem_min_mib else None
                ratio = t_torch / t_qsim
                ok = [ratio_bwd <= 3, mem is None or mem <= 8]
                if B >= 64:
                    ok.append(ratio <= (1 if n <= 16 else 2))
                blocks = sum(type(op).__name__ == "_Block" for op in tc.program.ops)
                print(f"{name:9} {n:>3} {B:>3} {blocks:>6} {t_qsim:>9.4f} {t_torch:>9.4f} {ratio:>10.2f} "
                      f"{ratio_bwd:>7.2f} {'-' if mem is None else f'{mem:.2f}':>11}  {'met' if all(ok) else 'MISSED'}",
                      flush=True)


if __name__ == "__main__":
    main()
