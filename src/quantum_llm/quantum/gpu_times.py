"""GPU simulation times for the energy model, from a measurement when there is one.

``benchmarks/gpu_sim.py`` writes a JSON of measured statevector simulation times on a GPU
(with the device name and date). :func:`gpu_times` turns it into seconds per gate per
amplitude, ``a(N) = t / (gates * 2**N)`` at batch 1, for the fastest GPU simulator measured at
each N (torch_cuda, qsim_gpu or qsim_custatevec). Between measured widths ``a`` is
interpolated in log space; below the smallest it is the smallest width's value, above the
largest the largest width's (a memory-bound simulator's time per gate and amplitude is flat at
large N). Without a benchmark file, or with one that measured no GPU column, the energy model
keeps its assumed speed-up over the CPU timing, and the label says that it is an assumption.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..stage import InputError

GPU_COLUMNS = ("torch_cuda", "qsim_gpu", "qsim_custatevec")


@dataclass(frozen=True)
class GpuTimes:
    """Measured seconds per gate per amplitude by width N on one GPU (batch 1)."""

    device: str
    date: str
    per_gate_amplitude: dict[int, float]     # N -> a(N)
    simulator: dict[int, str]                # N -> the GPU column that was fastest there
    board_watts: float | None = None         # from the benchmark's device table, if the name is known
    source: str = ""
    label: str = field(init=False)

    def __post_init__(self):
        ns = sorted(self.per_gate_amplitude)
        sims = ", ".join(sorted(set(self.simulator.values())))
        object.__setattr__(self, "label", f"measured: {sims} on {self.device} ({self.date[:10]}), "
                                          f"N = {ns[0]}..{ns[-1]} from {self.source}")

    def seconds_per_gate_amplitude(self, n: int) -> float:
        """a(N): log-linear between measured widths, clamped to the end values outside them."""
        ns = sorted(self.per_gate_amplitude)
        if n <= ns[0]:
            return self.per_gate_amplitude[ns[0]]
        if n >= ns[-1]:
            return self.per_gate_amplitude[ns[-1]]
        hi = next(m for m in ns if m >= n)
        lo = max(m for m in ns if m <= n)
        if hi == lo:
            return self.per_gate_amplitude[lo]
        f = (n - lo) / (hi - lo)
        la, lb = math.log(self.per_gate_amplitude[lo]), math.log(self.per_gate_amplitude[hi])
        return math.exp(la + f * (lb - la))

    def seconds(self, n: int, gates: int) -> float:
        """Predicted seconds of one statevector simulation of ``gates`` gates on ``n`` qubits."""
        return self.seconds_per_gate_amplitude(n) * gates * 2.0**n


def gpu_times(path: str | Path | None) -> GpuTimes | None:
    """The GPU times of a ``benchmarks/gpu_sim.py`` JSON; None when ``path`` is None or missing,
    or when the file measured no GPU simulator (a CPU-only run). A malformed file is an
    :class:`InputError` naming it."""
    if path is None or not Path(path).is_file():
        return None
    try:
        data = json.loads(Path(path).read_text())
        rows = [r for r in data["rows"] if r["simulator"] in GPU_COLUMNS and r["status"] == "ok" and r["batch"] == 1]
        best: dict[int, tuple[float, str]] = {}
        for r in rows:
            a = r["seconds"] / (r["gates"] * 2.0 ** r["qubits"])
            if r["qubits"] not in best or a < best[r["qubits"]][0]:
                best[r["qubits"]] = (a, r["simulator"])
        if not best:
            return None
        if not data.get("gpu") or not data["gpu"].get("name"):
            raise KeyError("gpu.name")
        return GpuTimes(device=data["gpu"]["name"], date=data["date"],
                        per_gate_amplitude={n: a for n, (a, _) in best.items()},
                        simulator={n: s for n, (_, s) in best.items()},
                        board_watts=data.get("gpu_board_watts"), source=Path(path).as_posix())
    except (json.JSONDecodeError, KeyError, TypeError, ZeroDivisionError) as e:
        raise InputError(f"{path}: not a benchmarks/gpu_sim.py result ({type(e).__name__}: {e}); "
                         "rerun `python benchmarks/gpu_sim.py --out ...` on the GPU machine") from None


def gpu_seconds_model(path: str | Path | None, assumed_speedup: float) -> tuple[GpuTimes | None, str]:
    """(measured times or None, label) for the energy model: the label says ``measured: ...``
    with the device and date, or that the GPU speed is the assumed ``assumed_speedup`` x over the
    CPU timing (not measured)."""
    times = gpu_times(path)
    if times is not None:
        return times, times.label
    return None, (f"assumed: {assumed_speedup:g}x the CPU simulator's speed (no GPU measurement"
                  f"{'' if path is None else f' in {Path(path).as_posix()}'})")
