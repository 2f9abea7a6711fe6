"""QISA's fused inference kernel (``fused_attention.c``): compiled on first use, loaded with ctypes.

PyTorch has no fused kernel for a Gaussian-kernel softmax (CSA's SDPA is one for the dot
product), so at inference QISA's attention after its one input projection runs as one C
function per layer: pair products and value table, scores, both exponentials, the causal mask,
the softmax and the mixing, per sequence in the cache (docs/qisa.md, "Speed"). It computes the
same function as the PyTorch ops in ``model.py`` (to ~1e-7 relative, tested) and is used only
where those ops would run without autograd: CPU, float32, one head, the causal ``qisa`` variant.

The shared library is built with the system's C compiler (``$CC``, else ``cc``, ``gcc`` or
``clang``; ``-O3 -march=native``) into ``$XDG_CACHE_HOME/quantum-llm/kernels`` (default
``~/.cache``), under a name that hashes the source, the compiler and the CPU, so a change of
any of them builds anew. No compiler, a failed build or ``QUANTUM_LLM_QISA_KERNEL=0`` leave the
PyTorch ops in place, with one log line saying why. Written with ctypes rather than a
torch C++ extension: the extension build compiles the torch headers (about a minute on two
cores), this file compiles in well under a second.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("fused_attention.c")
ENV_SWITCH = "QUANTUM_LLM_QISA_KERNEL"   # "0" turns the kernel off
FLAG_SETS = (["-O3", "-march=native"], ["-O3"])   # the second where the compiler rejects -march=native
# below this many sequences per call one thread does it (a thread pool's hand-off costs more)
MIN_SEQUENCES_PER_THREAD = 32


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or (cc if Path(cc).is_file() else None)
    return next((p for p in (shutil.which(c) for c in ("cc", "gcc", "clang")) if p), None)


def _cpu_id() -> str:
    """What -march=native compiles for: the CPU's model and feature flags (Linux), else its name."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "|".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "quantum-llm" / "kernels"


def _build(cc: str) -> Path:
    """Compile SOURCE (cached); raises RuntimeError with the compiler's message."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    errors = []
    for flags in FLAG_SETS:
        key = hashlib.sha256("\0".join([SOURCE.read_text(), cc, version, " ".join(flags), platform.machine(),
                                        _cpu_id()]).encode()).hexdigest()[:16]
        for folder in (_cache_dir(), Path(tempfile.gettempdir()) / f"quantum-llm-kernels-{os.getuid()}"):
            target = folder / f"fused_attention-{key}.so"
            if target.is_file():
                return target
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
                os.close(fd)
            except OSError as e:       # an unwritable cache: try the next folder
                errors.append(f"{folder}: {e}")
                continue
            try:
                r = subprocess.run([cc, *flags, "-shared", "-fPIC", "-o", tmp, str(SOURCE)],
                                   capture_output=True, text=True, timeout=120)
                if r.returncode == 0:
                    os.replace(tmp, target)     # atomic: a concurrent build writes the same bytes
                    return target
                errors.append(f"{' '.join(flags)}: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
                break                  # this flag set does not compile here: try the next one
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    raise RuntimeError("; ".join(errors))


@functools.cache
def kernel():
    """The loaded C function, or None (the reason logged once) where it is unavailable."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        log.info("QISA fused kernel off (%s=0): PyTorch ops", ENV_SWITCH)
        return None
    cc = _compiler()
    if cc is None:
        log.warning("QISA fused kernel unavailable: no C compiler found (set CC); using the PyTorch ops "
                    "(same results, slower inference)")
        return None
    try:
        lib = ctypes.CDLL(str(_build(cc)))
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log.warning("QISA fused kernel unavailable: building it with %s failed (%s); using the PyTorch ops "
                    "(same results, slower inference)", cc, e)
        return None
    f = lib.qisa_causal_attention
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    f.argtypes = [i64, i64, i64, i64, ptr, i64, ptr, ptr, i64, ptr, ptr, ptr]
    f.restype = ctypes.c_int
    return f


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="qisa-kernel")


def causal_attention(qkuT: torch.Tensor, B: int, T: int, C: int, left: torch.Tensor, right: torch.Tensor,
                     table: torch.Tensor, table_bias: torch.Tensor) -> torch.Tensor:
    """qkuT (3C, B*T): rows q, k, u, column n = token n -> (B*T, W) attention output (values:
    pair products of u times ``table`` (P, W) plus ``table_bias``). All float32 on the CPU,
    ``left``/``right`` int64. With several torch threads and enough sequences, the batch is
    split over a thread pool (ctypes releases the GIL during the call)."""
    f = kernel()
    W = table.shape[1]
    if qkuT.stride(1) != 1:
        qkuT = qkuT.contiguous()
    table, table_bias = table.contiguous(), table_bias.contiguous()
    left, right = left.contiguous(), right.contiguous()
    out = torch.empty(B * T, W, dtype=qkuT.dtype)
    args = (left.numel(), left.data_ptr(), right.data_ptr(), W, table.data_ptr(), table_bias.data_ptr())
    size = qkuT.element_size()

    def run(b0: int, b1: int) -> int:
        return f(b1 - b0, T, C, qkuT.stride(0), qkuT.data_ptr() + b0 * T * size, *args,
                 out.data_ptr() + b0 * T * W * size)

    threads = min(torch.get_num_threads(), B // MIN_SEQUENCES_PER_THREAD)
    if threads > 1:
        bounds = [B * i // threads for i in range(threads + 1)]
        codes = list(_pool(threads).map(run, bounds[:-1], bounds[1:]))
    else:
        codes = [run(0, B)]
    if any(codes):
        raise MemoryError("QISA fused kernel: could not allocate its workspace")
    return out
