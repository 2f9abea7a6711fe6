"""The runtime device: where torch models, batches and the torch simulator live.

Set with the environment variable ``QUANTUM_LLM_DEVICE``: ``auto`` (the default: the first
CUDA device when torch sees one, else the CPU), ``cpu``, ``cuda`` or ``cuda:<index>``. It is
deliberately not a param: the device must not change DVC's params hash (a CPU and a CUDA run
of the same params are the same experiment; their numbers agree within the tolerances the
GPU tests state). Each manifest records the device a stage ran on (:func:`device_record`).

A bad value, or a CUDA device that is absent, raises :class:`~quantum_llm.config.ParamsError`
with one line naming the problem and the fix (stages exit 2 on it).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

import torch

from .config import ParamsError

ENV = "QUANTUM_LLM_DEVICE"
_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def parse_device(value: str | None, *, cuda_count: int | None = None) -> torch.device:
    """``auto | cpu | cuda | cuda:<i>`` -> a torch.device that exists on this machine.

    ``cuda_count`` (the number of visible CUDA devices) defaults to ``torch.cuda.device_count()``.
    """
    raw = "auto" if value is None or not value.strip() else value.strip().lower()
    if not _PATTERN.match(raw):
        raise ParamsError(f"{ENV}={value!r} is invalid: use auto, cpu, cuda or cuda:<index> (e.g. cuda:0)")
    count = torch.cuda.device_count() if cuda_count is None else cuda_count
    if raw == "auto":
        return torch.device("cuda", 0) if count > 0 else torch.device("cpu")
    if raw == "cpu":
        return torch.device("cpu")
    index = int(raw.split(":")[1]) if ":" in raw else 0
    if count == 0:
        raise ParamsError(f"{ENV}={value} but torch {torch.__version__} sees no CUDA device "
                          f"(CUDA build: {torch.version.cuda or 'no, a CPU-only torch'}): "
                          f"set {ENV}=cpu, or install a CUDA build of torch (README: On a GPU)")
    if index >= count:
        raise ParamsError(f"{ENV}={value} but only {count} CUDA device(s) are visible (cuda:0..cuda:{count - 1}): "
                          f"pick one of those or set {ENV}=auto")
    return torch.device("cuda", index)


def resolve_device() -> torch.device:
    """The device ``QUANTUM_LLM_DEVICE`` names on this machine (``auto`` when unset)."""
    return parse_device(os.environ.get(ENV))


def to_numpy(t: torch.Tensor):
    """A tensor from any device as a NumPy array (detached, copied to the host)."""
    return t.detach().cpu().numpy()


def synchronize(device: torch.device | str) -> None:
    """Wait for queued CUDA kernels (so that wall-clock timings measure the work); no-op on CPU."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn: Callable[[], Any], device: torch.device | str) -> tuple[Any, float]:
    """(fn(), seconds) with the device synchronised before and after the call."""
    synchronize(device)
    t0 = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - t0


def device_record(device: torch.device | None = None) -> dict[str, Any]:
    """What a manifest records about the device: type, index, name, torch and CUDA versions.

    ``device`` defaults to :func:`resolve_device`; with an invalid setting the record says so
    (``error``) instead of raising, since recording must not fail a stage that never used torch.
    """
    rec: dict[str, Any] = {"setting": os.environ.get(ENV, "auto"), "torch": torch.__version__,
                           "cuda": torch.version.cuda}
    try:
        dev = resolve_device() if device is None else torch.device(device)
    except ParamsError as e:
        return {**rec, "error": str(e)}
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return {**rec, "type": "cuda", "index": index, "name": props.name,
                "memory_gib": round(props.total_memory / 2**30, 1), "capability": f"{props.major}.{props.minor}"}
    import platform
    return {**rec, "type": "cpu", "index": None, "name": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads()}
