"""QISA's fused inference kernel (``fused_attention.c``), built and loaded by :mod:`quantum_llm.cbuild`.

PyTorch has no fused kernel for a Gaussian-kernel softmax (CSA's SDPA is one for the dot
product), so at inference QISA's attention after its one input projection runs as one C
function per layer: pair products and value table, scores, both exponentials, the causal mask,
the softmax and the mixing, per sequence in the cache (docs/qisa.md, "Speed"). It computes the
same function as the PyTorch ops in ``model.py`` (to ~1e-7 relative, tested) and is used only
where those ops would run without autograd: CPU, float32, one head, the causal ``qisa`` variant.
Without a C compiler, or with ``QUANTUM_LLM_KERNELS=0``, the PyTorch ops run instead.
"""

from __future__ import annotations

import ctypes
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from .. import cbuild

SOURCE = Path(__file__).with_name("fused_attention.c")
# below this many sequences per call one thread does it (a thread pool's hand-off costs more)
MIN_SEQUENCES_PER_THREAD = 32


@functools.cache
def kernel():
    """The loaded C function, or None (the reason logged once) where it is unavailable."""
    lib = cbuild.load(SOURCE, "QISA attention at inference (else the PyTorch ops)")
    if lib is None:
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
    P = left.numel()
    for name, t, dtype in (("qkuT", qkuT, torch.float32), ("table", table, torch.float32),
                           ("table_bias", table_bias, torch.float32), ("left", left, torch.int64),
                           ("right", right, torch.int64)):
        if t.dtype != dtype or t.device.type != "cpu":     # the C code reads raw memory: refuse, never guess
            raise TypeError(f"QISA fused kernel: {name} must be {dtype} on the CPU, got {t.dtype} on {t.device}")
    if qkuT.shape != (3 * C, B * T) or table.shape != (P, W) or table_bias.numel() != W or right.numel() != P:
        raise ValueError(f"QISA fused kernel: inconsistent shapes qkuT {tuple(qkuT.shape)}, table "
                         f"{tuple(table.shape)}, table_bias {tuple(table_bias.shape)}, {P} left / {right.numel()} "
                         f"right indices for B = {B}, T = {T}, C = {C}")
    if B * T == 0:
        return qkuT.new_empty(0, W)
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
