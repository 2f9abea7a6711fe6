"""Training every QPA row (LoRA baselines, QPA, its ablations and the classical control) on
the adapted ``lm_head`` of a frozen base model, over one learning-rate grid, in one pass.

Rows (:func:`rows`): ``lora_r<k>`` trains PEFT-initialised lora_A / lora_B (A Kaiming-uniform,
B = 0, as PEFT does) at rank k; ``qpa_paper`` is the published generator (circuit + mapping
model, no gate: it starts far from the base); ``qpa_gated`` adds a learnable scalar gate on the
generated lora_B starting at 0 (this project's deviation: it starts exactly at the base);
``control_gated`` replaces the circuit by a learnable probability vector of the same size, with
the same gate and the same mapping-model initialisation as QPA at the same seed; ``qpa_frozen``
is ``qpa_gated`` with the circuit angles frozen (does the circuit matter?).

Cached base logits (exact): with only ``lm_head`` adapted and the backbone frozen, the adapted
logits of a token with final hidden state h are ``h W^T + s (drop(h) A^T) B^T``. The base part
``h W^T`` (the 49152 x 576 product, most of a step's cost) does not depend on the trained
parameters, so it is computed once per batch and shared by every run of the grid; each run adds
only its rank-r delta. This is the same function PEFT's LoRA forward computes (checked against
PEFT in the tests); it is written out here because PEFT's layer always recomputes the base product.

Every run sees the same batches (drawn from the seed), is validated every ``eval_every`` steps
on whole held-out lines, and keeps its best-validation checkpoint; the learning rate of a row
is the grid value with the lowest best-validation loss (validation only; test is never read here).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from ..device import parse_device, resolve_device, synchronize
from .generator import GeneratorSpec, LoraTarget, QPAGenerator

log = logging.getLogger(__name__)
REFERENCE = "lora_r4"


@dataclass(frozen=True)
class Row:
    name: str
    method: str              # lora | qpa | control
    rank: int
    gate: bool = False
    freeze_angles: bool = False
    kind: str = ""           # baseline | paper-faithful | deviation | control | ablation
    label: str = ""


# the qpa.* params that training reads (declared for train_qpa and qpa_qubits in dvc.yaml; manifests
# record exactly these, so their params hash moves only with what changes a trained run)
TRAIN_KEYS = ("rank", "lora_ranks", "scaling", "dropout", "activation", "steps", "batch_tokens", "lrs", "eval_every")


def rows(rank: int, lora_ranks: list[int]) -> tuple[Row, ...]:
    """Every row of the QPA table, in table order."""
    lora = tuple(Row(f"lora_r{k}", "lora", k, kind="baseline", label=f"PEFT LoRA, rank {k}") for k in lora_ranks)
    return lora + (
        Row("qpa_paper", "qpa", rank, kind="paper-faithful", label="QPA as published (no gate)"),
        Row("qpa_gated", "qpa", rank, gate=True, kind="deviation",
            label="QPA started at the base (learnable gate on lora_B, starts at 0; our deviation)"),
        Row("control_gated", "control", rank, gate=True, kind="control",
            label="classical control (learnable probabilities instead of the circuit), same gate and mapping init"),
        Row("qpa_frozen", "qpa", rank, gate=True, freeze_angles=True, kind="ablation",
            label="gated QPA with the circuit angles frozen at their initial values"),
    )


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_tokens: int
    lrs: tuple[float, ...]
    seed: int
    scaling: float           # LoRA alpha / r, the same for every rank (official: alpha = 2r)
    dropout: float
    n_qubits: int
    layers: int
    connectivity: str = "chain"
    activation: str = "none"
    eval_every: int = 10
    eval_chunk: int = 1024   # validation tokens per base-logit chunk


def lowrank_ce_forward(base: torch.Tensor, xa: torch.Tensor, b: torch.Tensor, y: torch.Tensor, s: float,
                       scratch: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of ``base + s * xa @ b^T`` and the softmax (T, V) its backward needs.
    ``scratch``: None, or two (T, V) buffers for the logits and the log-probabilities, reused from
    step to step (see train_scratch); the second becomes the returned softmax."""
    zbuf, pbuf = (None, None) if scratch is None else scratch
    z = torch.log_softmax(torch.addmm(base, xa, b.T, alpha=s, out=zbuf), 1, out=pbuf)   # adapted log-probabilities
    loss = -z.gather(1, y[:, None]).mean()
    return loss, z.exp_()                                  # softmax, in place


def lowrank_ce_backward(p: torch.Tensor, xa: torch.Tensor, b: torch.Tensor, y: torch.Tensor, s: float, grad,
                        need_xa: bool = True, need_b: bool = True, keep_p: bool = False,
                        gb_out: torch.Tensor | None = None):
    """(g, d loss / d xa, d loss / d b) from :func:`lowrank_ce_forward`'s softmax ``p``, g = T * d loss /
    d logits written into ``p`` itself unless ``keep_p``; ``gb_out``: where to write d loss / d b
    (V, r) (default: a new tensor)."""
    g = p.clone() if keep_p else p
    g[torch.arange(len(y), device=y.device), y] -= 1       # T * d loss / d logits
    c = grad / len(y)
    # the scalar factors go on the small (T, r) / (V, r) results, not on the (T, V) matrix. Both
    # products are taken with the (T, V) matrix as the right-hand operand, (b^T g^T)^T and
    # (xa^T g)^T: MKL sweeps it row by row there, where g^T @ xa and g @ b took 5.5x and 3.2x
    # longer on this machine (1 thread: 12.1 and 5.4 ms against 2.2 and 1.7 ms at T = 128, V = 49,152)
    gxa = (b.T @ g.T).T.mul_(c * s) if need_xa else None
    gb = torch.mul((xa.T @ g).T, c * s, out=b.new_empty(b.shape) if gb_out is None else gb_out) if need_b else None
    return g, gxa, gb


class LowRankCE(torch.autograd.Function):
    """Mean cross-entropy of ``base + s * xa @ b^T`` (base: cached base logits, constant) with
    gradients for ``xa`` (T, r) and ``b`` (V, r). Exact; written by hand because autograd's
    version allocates and sweeps the (T, V) logits about twice as often (the V-sized passes are
    the whole cost of a step): here one addmm, one log-softmax, an in-place exp kept for the
    backward, and two rank-r products (:func:`lowrank_ce_forward`, :func:`lowrank_ce_backward`,
    which a generator run's step also calls directly)."""

    @staticmethod
    def forward(ctx, base, xa, b, y, s, scratch=None):
        loss, p = lowrank_ce_forward(base, xa, b, y, s, scratch)
        ctx.save_for_backward(p, xa, b, y)
        ctx.s = s
        return loss

    @staticmethod
    def backward(ctx, grad):
        p, xa, b, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        g, gxa, gb = lowrank_ce_backward(p, xa, b, y, ctx.s, grad, need[1], need[2], keep_p=need[0])
        return (g * (grad / len(y)) if need[0] else None), gxa, gb, None, None, None


_scratch = threading.local()


@contextmanager
def _scratch_released():
    """Frees this thread's :func:`train_scratch` buffers on exit (a pool's threads free theirs
    when the pool shuts down)."""
    try:
        yield
    finally:
        _scratch.held = None


def train_scratch(shape: tuple[int, int], dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """This thread's two (T, V) buffers for :class:`LowRankCE` in a training step. A fresh 25 MB
    matrix per step is a fresh mapping from the OS (glibc maps blocks this large anew), whose
    page faults cost a 2-core machine 5-15 ms a step, more than a QPA generator's whole work, and
    varied with what else the step had allocated; reusing two buffers gives the same numbers,
    bit for bit. Valid while each loss is backpropagated before the next one is computed on the
    same thread, as a training step does (the runs of a pool each step on one thread)."""
    key = (tuple(shape), dtype, str(device))
    held = getattr(_scratch, "held", None)
    if held is None or held[0] != key:
        _scratch.held = held = (key, torch.empty(shape, dtype=dtype, device=device),
                                torch.empty(shape, dtype=dtype, device=device))
    return held[1], held[2]


@dataclass
class Split:
    """Cached final hidden states (T, d), next-token targets (T,) and the line of each target (T,)."""

    h: torch.Tensor
    y: torch.Tensor
    line_of: torch.Tensor

    @classmethod
    def from_features(cls, f: dict[str, torch.Tensor]) -> Split:
        return cls(f["h"], f["y"], f["line_of"])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.h.to(device), self.y.to(device), self.line_of.to(device))


@contextmanager
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def small_ops(device: torch.device):
    """Where the generator's many tiny ops run: one CPU thread (see :meth:`Run.step`); on a CUDA
    device the host's thread count does not matter, so nothing changes there."""
    return one_thread() if device.type == "cpu" else contextlib.nullcontext()


def flatten_parameters(params: list[nn.Parameter]) -> nn.Parameter:
    """Moves ``params`` into one flat buffer and their gradients into another, as views, and
    returns the flat buffer as a parameter whose ``.grad`` is the flat gradient: an optimizer over
    it updates every parameter in one call per operation. Autograd accumulates each parameter's
    gradient in place into its view (never set the gradients to None: zero the flat one); module
    code keeps working on the parameters themselves. (The flat-parameter layout of PyTorch's FSDP
    and DDP's gradient buckets, for one run's few small tensors.)"""
    ref = params[0]
    if any(p.dtype != ref.dtype or p.device != ref.device for p in params):
        raise ValueError("flatten_parameters: the parameters must share one dtype and device")
    flat = torch.empty(sum(p.numel() for p in params), dtype=ref.dtype, device=ref.device)
    grad = torch.zeros_like(flat)
    i = 0
    for p in params:
        k = p.numel()
        flat[i: i + k].copy_(p.detach().reshape(-1))
        p.data = flat[i: i + k].view_as(p)
        p.grad = grad[i: i + k].view_as(p)
        i += k
    out = nn.Parameter(flat)
    out.grad = grad
    return out


def _param_count(params) -> int:
    return sum(p.numel() for p in params)


class Run:
    """One (row, learning rate): its parameters, optimizer, schedule and best checkpoint."""

    def __init__(self, row: Row, lr: float, cfg: TrainConfig, weight: torch.Tensor):
        self.row, self.lr, self.cfg = row, lr, cfg
        self.device = weight.device
        d_out, d_in = weight.shape
        self.w_norm = weight.norm().item()
        # the same seed for every row: the LoRA rows share A's init per rank; QPA, its ablations
        # and the control share the mapping model (and QPA's rows the circuit angles). Everything
        # is initialised on the CPU from the CPU generators, then moved: every device starts from
        # the same numbers, and the dropout masks are drawn on the CPU too (see xa)
        torch.manual_seed(cfg.seed)
        self.rng = torch.Generator().manual_seed(cfg.seed + 2)
        self.generator: QPAGenerator | None = None
        if row.method == "lora":
            a = torch.empty(row.rank, d_in)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))   # PEFT's lora_A init ("default")
            self.lora = nn.ParameterDict({"A": nn.Parameter(a), "B": nn.Parameter(torch.zeros(d_out, row.rank))})
            owner: nn.Module = self.lora
        else:
            spec = GeneratorSpec(cfg.n_qubits, cfg.layers, row.rank, (LoraTarget("lm_head", d_in, d_out),),
                                 cfg.activation, cfg.connectivity)
            self.generator = QPAGenerator(spec, "circuit" if row.method == "qpa" else "learned", gate=row.gate)
            if row.freeze_angles:
                self.generator.probs.theta.requires_grad_(False)
            owner = self.generator
        owner.to(self.device)
        self.params = [p for p in owner.parameters() if p.requires_grad]
        # the optimizer sees one flat tensor (see flatten_parameters): one update and one zeroing per
        # step instead of one per parameter tensor (the generator has 18); AdamW is element-wise
        self.flat = flatten_parameters(self.params)
        self.opt = torch.optim.AdamW([self.flat], lr=lr, weight_decay=0.0, foreach=True)
        # linear decay to 0 over the run, as in the official code
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: max(0.0, 1 - s / cfg.steps))
        self.owner = owner
        self.source_init = self._source().clone()
        self.history: list[dict] = []
        self.best: tuple[float, int, dict] | None = None   # (val loss, step, state dict)

    @property
    def trainable(self) -> int:
        return _param_count(self.params)

    def _source(self) -> torch.Tensor:
        if self.generator is None:
            return torch.zeros(0, device=self.device)
        return torch.cat([p.detach().flatten() for p in self.generator.probs.parameters()])

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A (r, d_in), B (d_out, r)); B includes the gate."""
        if self.generator is None:
            return self.lora["A"], self.lora["B"]
        return self.generator.factors()["lm_head"]

    def xa(self, h: torch.Tensor, a: torch.Tensor, train: bool) -> torch.Tensor:
        """LoRA's input side: dropout(h) @ A^T, (T, r)."""
        return self.dropped(h, train) @ a.T

    def dropped(self, h: torch.Tensor, train: bool) -> torch.Tensor:
        """dropout(h) (training) or h. The dropout masks come from the run's own generator (seeded
        by the seed alone), so a run does not depend on which other runs share the pass, and every
        row of a seed sees the same masks. The generator is a CPU one on every device: the mask is
        drawn on the CPU and copied, so a CUDA run sees the CPU run's masks."""
        p = self.cfg.dropout
        if train and p > 0:
            mask = torch.empty(h.shape, dtype=h.dtype).bernoulli_(1 - p, generator=self.rng)
            h = h * mask.to(h.device) / (1 - p)
        return h

    def loss(self, h: torch.Tensor, base: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
             gate: torch.Tensor | None = None) -> torch.Tensor:
        """Training loss (dropout on) from cached base logits: mean CE of base + s (g drop(h) A^T) B^T,
        g the gate (None: none); the same function as with the gate on B (see
        :meth:`QPAGenerator.training_chunk`)."""
        xa = self.xa(h, a, True)
        return LowRankCE.apply(base, xa if gate is None else gate * xa, b, y, self.cfg.scaling,
                               train_scratch(base.shape, base.dtype, base.device))

    def step(self, h: torch.Tensor, base: torch.Tensor, y: torch.Tensor) -> float:
        self.owner.train()
        if any(p.grad is None for p in self.params):   # e.g. a zero_grad() that set them to None
            raise RuntimeError("Run.step: a parameter's gradient was set to None, which detaches it from the run's "
                               "flat gradient buffer; zero run.flat.grad instead of calling zero_grad()")
        self.flat.grad.zero_()      # (not set to None: the parameters' gradients are views of it)
        if self.generator is None:
            loss = self.loss(h, base, y, *self.factors())
            loss.backward()
            with small_ops(self.device):   # the optimizer's small element-wise updates, too
                self.opt.step()
        else:
            loss = self._generator_step(h, base, y)
        self.sched.step()
        return loss.item()

    def _generator_step(self, h: torch.Tensor, base: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """A generator run's update, backpropagated in two phases (exact by the chain rule): the
        vocabulary-sized loss on all threads, by hand, writing d loss / d A and d loss / d B straight
        into the run's (n_b, n_mlp) gradient buffer for the generated chunk (no per-step copy of the
        ~200k values, no fresh buffers); then the generator's many tiny ops on one thread, where
        they run several times faster (OpenMP waits; measured ~10x on a loaded 2-core machine).
        The same function as :meth:`loss` through autograd (tested); the gate multiplies LoRA's
        r-wide input side (see :meth:`QPAGenerator.training_chunk`)."""
        gen = self.generator
        with small_ops(self.device):
            chunk, gate = gen.training_chunk()
        a, b = gen.factor_views(chunk.detach())["lm_head"]
        if getattr(self, "_chunk_grad", None) is None or self._chunk_grad.shape != chunk.shape:
            self._chunk_grad = torch.zeros_like(chunk)     # entries past m stay 0 (unused chunk values)
        ga, gb = gen.factor_views(self._chunk_grad)["lm_head"]
        hd = self.dropped(h, True)
        xa = hd @ a.T
        xg = xa if gate is None else gate.detach() * xa
        s = self.cfg.scaling
        loss, p = lowrank_ce_forward(base, xg, b, y, s, train_scratch(base.shape, base.dtype, base.device))
        _, gxg, _ = lowrank_ce_backward(p, xg, b, y, s, 1.0, gb_out=gb)
        torch.mm((gxg if gate is None else gxg * gate.detach()).T, hd, out=ga)
        with small_ops(self.device):
            if gate is None:
                chunk.backward(self._chunk_grad)
            else:
                torch.autograd.backward([chunk, gate], [self._chunk_grad, (gxg * xa).sum()])
            self.opt.step()
        return loss

    @torch.no_grad()
    def eval_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.owner.eval()
        return self.factors()

    @torch.no_grad()
    def nll(self, h: torch.Tensor, base: torch.Tensor, y: torch.Tensor, factors=None,
            out: torch.Tensor | None = None) -> torch.Tensor:
        """Per-token negative log-likelihood (T,), no dropout (``out``: see :func:`adapted_nll`)."""
        self.owner.eval()
        if factors is None:
            with small_ops(self.device):
                factors = self.factors()
        return adapted_nll(h, base, y, *factors, self.cfg.scaling, out=out)

    def checkpoint(self, val: float, step: int) -> None:
        if self.best is None or val < self.best[0]:
            self.best = (val, step, copy.deepcopy(self.owner.state_dict()))

    def restore_best(self) -> None:
        self.owner.load_state_dict(self.best[2])

    @torch.no_grad()
    def diagnostics(self) -> dict:
        """||delta W|| / ||W|| (Frobenius), the largest change of a source parameter (circuit angle
        or control logit) and the numerical rank of the generated (n_b, n_mlp) chunk matrix."""
        with small_ops(self.device):
            return self._diagnostics()

    def _diagnostics(self) -> dict:
        a, b = self.factors()
        # ||B A||_F without forming the (d_out, d_in) product: sqrt(trace((A A^T)(B^T B)))
        dw = self.cfg.scaling * math.sqrt(max(0.0, torch.trace((a @ a.T) @ (b.T @ b)).item()))
        out = {"dw_rel": dw / self.w_norm}
        if self.generator is not None:
            out["source_max_abs_change"] = (self._source() - self.source_init).abs().max().item()
            out["chunk_rank"] = int(torch.linalg.matrix_rank(self.generator.chunk_matrix(self.generator.probs())))
            if self.generator.gate is not None:
                out["gate"] = self.generator.gate.item()
        return out


@dataclass
class RowResult:
    row: Row
    lr: float                          # chosen on validation
    run: Run                           # the chosen run, restored to its best-validation checkpoint
    by_lr: dict[float, dict] = field(default_factory=dict)   # lr -> {best_val_loss, best_step, curve, ...}


@torch.no_grad()
def adapted_nll(h: torch.Tensor, base: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                scaling: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token NLL (T,) of the adapted output layer from cached base logits, no dropout.

    ``out``: an optional (T, V) scratch buffer for the adapted logits (overwritten). The
    log-sum-exp is computed in place in it, with the same operations in the same order as
    ``torch.logsumexp`` (max shift, exp, sum, log, add the max), so the result is bit-for-bit
    the same; reusing one buffer for every run and chunk avoids allocating (and page-faulting)
    a fresh (T, V) matrix several times per run, which cost about half of a validation pass."""
    z = torch.addmm(base, h @ a.T, b.T, alpha=scaling, out=out)
    target = z.gather(1, y[:, None]).squeeze(1)
    m = z.amax(1)
    lse = z.sub_(m[:, None]).exp_().sum(1).log_().add_(m)
    return lse.sub_(target)


@torch.no_grad()
def base_logits(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return h @ weight.T


@torch.no_grad()
def evaluate_runs(runs: list[Run], weight: torch.Tensor, split: Split, chunk: int) -> list[float]:
    """Mean validation loss of every run; each chunk's base logits computed once for all runs."""
    sums = [0.0] * len(runs)
    with small_ops(weight.device):
        factors = [r.eval_factors() for r in runs]
    buf = torch.empty(min(chunk, len(split.y)), weight.shape[0], dtype=weight.dtype, device=weight.device)
    for i in range(0, len(split.y), chunk):
        h, y = split.h[i: i + chunk], split.y[i: i + chunk]
        base = base_logits(h, weight)
        for k, r in enumerate(runs):
            sums[k] += r.nll(h, base, y, factors[k], out=buf[: len(y)]).sum().item()
    return [s / len(split.y) for s in sums]


def _record(runs: list[Run], losses: list[float], step: int, on_log) -> None:
    for r, v in zip(runs, losses, strict=True):
        r.history.append({"step": step, "val_loss": v})
        r.checkpoint(v, step)
    if on_log:
        on_log(step, runs, losses)


class GridStepper:
    """Steps every run of the grid on one batch and returns each run's step time (s).

    On the CPU with ``w = torch.get_num_threads() > 1`` (and more than one run), the runs step
    ``w`` at a time, each on one thread (inter-op parallelism: a thread pool, torch's intra-op
    threads set to 1 meanwhile). The vocabulary-sized products of a step scale to two threads
    but a generator's many tiny ops do not: stepped one run at a time on two threads, a QPA
    run's generator left the second core idle for its 3-4 ms (benchmarks/qpa_speed.py). Runs
    share nothing they write (own parameters, optimizer, dropout generator; the batch and its
    base logits are only read), and every run's arithmetic is the one-thread arithmetic, so
    the results equal a one-thread sequential pass bit for bit (tested). On a CUDA device or with
    one thread: one run after the other, as before. The step times it returns are wall times of
    runs that shared the cores."""

    def __init__(self, device: torch.device, n_runs: int):
        self.device = device
        threads = torch.get_num_threads() if device.type == "cpu" else 1
        self.workers = max(min(threads, n_runs), 1)     # runs stepping side by side
        # a pool whenever the CPU has more than one thread, even for a one-run grid: every run then
        # steps with the one-thread arithmetic, whatever the size of the grid it trains in. Each
        # pool thread sets its own OpenMP and MKL thread counts to 1 before its first op
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="qpa-run", initializer=torch.set_num_threads,
                                       initargs=(1,)) if threads > 1 else None

    def __enter__(self) -> GridStepper:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def _timed(self, run: Run, h: torch.Tensor, base: torch.Tensor, y: torch.Tensor) -> float:
        synchronize(self.device)   # CUDA kernels run asynchronously: time each run's own work
        t0 = time.perf_counter()
        run.step(h, base, y)       # ends with loss.item(), which waits for the device
        return time.perf_counter() - t0

    def step(self, runs: list[Run], h: torch.Tensor, base: torch.Tensor, y: torch.Tensor) -> list[float]:
        if self.pool is None:
            return [self._timed(r, h, base, y) for r in runs]
        with one_thread():         # the pool's threads run torch ops on one thread each
            return list(self.pool.map(lambda r: self._timed(r, h, base, y), runs))


def train_rows(weight: torch.Tensor, train: Split, val: Split, row_list: tuple[Row, ...] | list[Row],
               cfg: TrainConfig, on_log: Callable | None = None,
               device: torch.device | str | None = None) -> dict[str, RowResult]:
    """Train every (row, lr) on the same batches; return each row at its chosen lr and best checkpoint.

    ``device`` (default: :func:`~quantum_llm.device.resolve_device`, i.e. QUANTUM_LLM_DEVICE) holds
    the output weight, the cached features, the batches and every run's parameters; the returned
    runs live there (move to the CPU before saving). The batch indices, like the initial values
    and the dropout masks, come from CPU generators seeded by the seed, so every device trains on
    the same batches; on the CPU the results are those of a run without the argument."""
    device = resolve_device() if device is None else parse_device(str(device))
    weight, train, val = weight.to(device), train.to(device), val.to(device)
    runs = [Run(row, lr, cfg, weight) for row in row_list for lr in cfg.lrs]
    start = {id(r): r.diagnostics() for r in runs}
    _record(runs, evaluate_runs(runs, weight, val, cfg.eval_chunk), 0, on_log)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    step_time = {id(r): 0.0 for r in runs}
    with GridStepper(device, len(runs)) as stepper, _scratch_released():
        for step in tqdm(range(1, cfg.steps + 1), desc="train qpa rows", unit="step"):
            idx = torch.randint(0, len(train.y), (cfg.batch_tokens,), generator=g).to(device)
            h, y = train.h[idx], train.y[idx]
            base = base_logits(h, weight)          # once per batch, shared by every run
            for r, dt in zip(runs, stepper.step(runs, h, base, y), strict=True):
                step_time[id(r)] += dt
            if step % cfg.eval_every == 0 or step == cfg.steps:
                _record(runs, evaluate_runs(runs, weight, val, cfg.eval_chunk), step, on_log)
    out = {}
    for row in row_list:
        mine = [r for r in runs if r.row == row]
        by_lr = {}
        for r in mine:
            r.restore_best()
            by_lr[r.lr] = {"best_val_loss": r.best[0], "best_step": r.best[1], "initial_val_loss": r.history[0]["val_loss"],
                           "curve": r.history, "start": start[id(r)], "end": r.diagnostics(),
                           "step_time_s": step_time[id(r)] / cfg.steps}
        chosen = min(mine, key=lambda r: (r.best[0], r.lr))
        log.info("%s: lr %g chosen (best val loss %.4f at step %d)", row.name, chosen.lr, chosen.best[0], chosen.best[1])
        out[row.name] = RowResult(row, chosen.lr, chosen, by_lr)
    return out
