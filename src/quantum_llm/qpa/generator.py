"""QPA's quantum parameter generator (docs/qpa.md): a QNN plus a mapping model that together
generate every LoRA parameter of the adapted modules.

    theta --QNN--> p (2**N probabilities) --transform--> x --[s_i, x_i] mapping model-->
    N_b chunks of n_mlp values --> concatenate, truncate to m, centre --> LoRA A/B factors

The probability source is pluggable: :class:`CircuitProbabilities` (the QPA ansatz on the
differentiable torch simulator; what trains) or :class:`LearnedProbabilities` (the classical
control the paper lacks: a learnable softmax vector of the same size, same transform and
mapping model). ``generate_from_probs`` lets the ``generate`` stage feed probabilities from
qsim (exact or sampled) into the same mapping model.

``gate=True`` (this project's deviation, not in the paper): a learnable scalar g, starting at 0,
multiplies every generated lora_B, so the adapted model starts exactly at the base model (the
paper's generator starts far from it) and still trains (d loss / d g is not zero at g = 0).
The mapping model is built before the probability source, so QPA and the classical control
built after the same ``torch.manual_seed`` start from the same mapping model.
"""

from __future__ import annotations

import ctypes
import functools
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .. import cbuild
from ..quantum.circuits import qpa_ansatz
from ..quantum.torch_sim import TorchCircuit

# Transform constants of the official code: x = (beta * tanh(gamma * 2**(N-1) * p)) ** alpha
GAMMA, BETA, ALPHA = 0.1, 0.60, 0.15
MLP_WIDTHS = (32, 64, 128, 128, 64, 32, 32)
ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class LoraTarget:
    """One adapted module in PEFT's layout: A is (r, d_in), B is (d_out, r)."""

    name: str
    d_in: int
    d_out: int


@dataclass(frozen=True)
class GeneratorSpec:
    n_qubits: int
    layers: int
    rank: int
    targets: tuple[LoraTarget, ...]
    activation: str = "none"
    connectivity: str = "chain"

    @property
    def m(self) -> int:
        """Total LoRA parameters: sum over modules of r * (d_in + d_out)."""
        return sum(self.rank * (t.d_in + t.d_out) for t in self.targets)

    @property
    def n_mlp(self) -> int:
        """Values emitted per basis state, derived from N: ceil(m / 2**N)."""
        return math.ceil(self.m / 2**self.n_qubits)

    @property
    def n_b(self) -> int:
        """Basis states used: ceil(m / n_mlp) <= 2**N."""
        return math.ceil(self.m / self.n_mlp)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = [asdict(t) for t in self.targets]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorSpec:
        return cls(**{**d, "targets": tuple(LoraTarget(**t) for t in d["targets"])})


def transform(p: torch.Tensor, n_qubits: int, n_b: int) -> torch.Tensor:
    """Official transform of the probabilities, centred, first n_b kept. p: (2**N,) -> (n_b,)."""
    return Transform.apply(p, n_qubits, n_b)


class Transform(torch.autograd.Function):
    """x = (BETA tanh(GAMMA 2**(N-1) p))**ALPHA, centred, first n_b kept, with a hand-written
    backward: one autograd node instead of about ten, which in a QPA step cost more than their
    arithmetic (tested against autograd through the formula). t**0.15 has an infinite derivative
    at t = 0: the value there is exactly 0, and the power is evaluated on t clamped at 1e-30, whose
    gradient is zero below the clamp (as autograd's through ``clamp_min``)."""

    @staticmethod
    def forward(ctx, p: torch.Tensor, n_qubits: int, n_b: int) -> torch.Tensor:
        scale = GAMMA * 2 ** (n_qubits - 1)
        u = torch.tanh(scale * p)
        t = BETA * u
        tc = t.clamp_min(1e-30)
        x = torch.where(t > 0, tc**ALPHA, 0.0)
        ctx.save_for_backward(u, t, tc)
        ctx.scale, ctx.n_b = scale, n_b
        return (x - x.mean())[:n_b]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        u, t, tc = ctx.saved_tensors
        gx = g.new_zeros(u.shape)
        gx[: ctx.n_b] = g
        gx -= gx.mean()                                     # the centring
        gt = torch.where(t >= 1e-30, ALPHA * tc ** (ALPHA - 1) * gx, 0.0)
        return gt * (BETA * ctx.scale) * (1 - u * u), None, None


def bitstrings(n_qubits: int, n_b: int) -> torch.Tensor:
    """The fixed ordered list of N-bit codes of i = 0..n_b-1 as +-1 values (qubit 0 = MSB). (n_b, N)"""
    i = torch.arange(n_b).unsqueeze(1)
    bits = (i >> torch.arange(n_qubits - 1, -1, -1)) & 1
    return (1 - 2 * bits).float()


class MappingModel(nn.Module):
    """(N+1) -> 32 -> 64 -> 128 -> 128 -> 64 -> 32 -> 32 -> n_mlp; activation ``none`` = the paper."""

    def __init__(self, n_qubits: int, n_mlp: int, activation: str = "none"):
        super().__init__()
        widths = (n_qubits + 1, *MLP_WIDTHS)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(MLP_WIDTHS[-1], n_mlp)
        # the layers that compute something (activation "none" is the identity: skipped, same numbers)
        self._steps = [m for m in (*self.body, self.head) if not isinstance(m, nn.Identity)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (n_b, N+1) -> (n_b, n_mlp)
        return self.head(self.features(z))

    def features(self, z: torch.Tensor) -> torch.Tensor:  # (n_b, N+1) -> (n_b, 32), the head's input
        for m in self._steps[:-1]:
            z = m(z)
        return z


class CircuitProbabilities(nn.Module):
    """The QPA ansatz on the torch simulator; theta (L*N,) starts uniform in [0, 2*pi)."""

    def __init__(self, spec: GeneratorSpec):
        super().__init__()
        self.circuit_spec = qpa_ansatz(spec.n_qubits, spec.layers, spec.connectivity)
        self.sim = TorchCircuit(self.circuit_spec.circuit, self.circuit_spec.weight_symbols,
                                qubits=self.circuit_spec.qubits)
        self.theta = nn.Parameter(torch.rand(len(self.circuit_spec.weight_symbols)) * 2 * math.pi)
        self._frozen: tuple[tuple, torch.Tensor] | None = None

    def forward(self) -> torch.Tensor:  # (2**N,)
        if self.theta.requires_grad:
            return self.sim.probabilities(self.theta)[0]
        # frozen angles (the qpa_frozen ablation): the same probabilities every step, simulated once
        # per value of theta (its version counter moves with every in-place change, e.g. a restore)
        key = (self.theta._version, self.theta.data_ptr(), self.theta.device, self.theta.dtype)
        if self._frozen is None or self._frozen[0] != key:
            with torch.no_grad():
                self._frozen = (key, self.sim.probabilities(self.theta)[0])
        return self._frozen[1]


class LearnedProbabilities(nn.Module):
    """Classical control: p = softmax(w), w (2**N,) learnable, starting at the uniform distribution."""

    def __init__(self, spec: GeneratorSpec):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(2**spec.n_qubits))

    def forward(self) -> torch.Tensor:
        return torch.softmax(self.logits, 0)


class QPAGenerator(nn.Module):
    """Generates the flat LoRA parameter vector (m,) and slices it into PEFT-shaped factors."""

    def __init__(self, spec: GeneratorSpec, source: str = "circuit", gate: bool = False):
        super().__init__()
        self.spec = spec
        self.source_kind = source
        # mapping first: the same seed gives QPA and the control the same mapping model
        self.mapping = MappingModel(spec.n_qubits, spec.n_mlp, spec.activation)
        self.probs = CircuitProbabilities(spec) if source == "circuit" else LearnedProbabilities(spec)
        self.gate = nn.Parameter(torch.zeros(())) if gate else None
        self.register_buffer("codes", bitstrings(spec.n_qubits, spec.n_b), persistent=False)
        # [codes, x, 1] with the x column left to fill: the composed map's input (ComposedMapping)
        self.register_buffer("codes_x_ones", torch.cat([self.codes, torch.zeros(spec.n_b, 1), torch.ones(spec.n_b, 1)], 1),
                             persistent=False)

    def chunk_matrix(self, p: torch.Tensor) -> torch.Tensor:
        """Probabilities (2**N,) -> the mapping model's (n_b, n_mlp) output, before flattening."""
        x = transform(p, self.spec.n_qubits, self.spec.n_b)                   # (n_b,)
        return self.mapping(torch.cat([self.codes, x.unsqueeze(1)], 1))

    def generate_from_probs(self, p: torch.Tensor) -> torch.Tensor:
        """Probabilities (2**N,) -> flat LoRA vector (m,)."""
        flat = self.chunk_matrix(p).flatten()[: self.spec.m]
        return flat - flat.mean()

    def forward(self) -> torch.Tensor:
        return self.generate_from_probs(self.probs())

    def factors(self, flat: torch.Tensor | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{module name: (A (r, d_in), B (d_out, r))} sliced in target order, A before B; with a
        gate, every B is multiplied by it. Without ``flat``: generated from the probability source
        by :meth:`training_chunk` (the same numbers to float rounding)."""
        if flat is None:
            chunk, gate = self.training_chunk()
            pieces = FactorSlices.apply(chunk, self._shapes())
            return {t.name: (pieces[2 * k], pieces[2 * k + 1] if gate is None else gate * pieces[2 * k + 1])
                    for k, t in enumerate(self.spec.targets)}
        return {k: (a, b if self.gate is None else self.gate * b) for k, (a, b) in self.factor_views(flat).items()}

    def _shapes(self) -> tuple[tuple[int, int], ...]:
        return tuple(s for t in self.spec.targets for s in ((self.spec.rank, t.d_in), (t.d_out, self.spec.rank)))

    def factor_views(self, values: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{module name: (A, B)} as views of ``values`` (the flat vector or the (n_b, n_mlp) chunk
        matrix: its first m values), without the gate."""
        flat, out, i = values.view(-1), {}, 0
        for t, (ra, ca), (rb, cb) in zip(self.spec.targets, self._shapes()[::2], self._shapes()[1::2], strict=True):
            out[t.name] = (flat[i: i + ra * ca].view(ra, ca), flat[i + ra * ca: i + ra * ca + rb * cb].view(rb, cb))
            i += ra * ca + rb * cb
        return out

    def training_chunk(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(:meth:`centred_chunk` of the probability source, gate): what a training step
        differentiates. The factors are views of the chunk (:meth:`factor_views`); the step applies
        the gate on LoRA's r-wide input side, where it costs nothing (``s (g x A^T) B^T =
        s (x A^T)(g B)^T``), rather than in a pass over the d_out x r values of B forward and two
        backward."""
        return self.centred_chunk(self.probs()), self.gate

    def centred_chunk(self, p: torch.Tensor) -> torch.Tensor:
        """``chunk_matrix(p)`` minus the mean of its first m values (the centring of
        :meth:`generate_from_probs`), the mean computed from the head's input and weights and
        subtracted from the head's bias: the head's one product writes the centred values, with
        no pass over the m values to average them and none to subtract the mean (nor their two
        backward passes). The same numbers to float rounding (tested).

        With activation ``none`` (the paper's mapping model) every layer is affine, so the eight
        layers compose into one affine map of the (N+1)-wide input (:class:`ComposedMapping`):
        about 7x fewer multiply-adds forward and backward at N = 7 than layer by layer on the
        n_b rows, and one autograd node instead of ~60."""
        spec = self.spec
        x = transform(p, spec.n_qubits, spec.n_b)
        steps = self.mapping._steps
        k = spec.m - (spec.n_b - 1) * spec.n_mlp          # values of the last row inside m (1..n_mlp)
        if all(isinstance(m, nn.Linear) for m in steps):
            params = [t for m in steps for t in (m.weight, m.bias)]
            return ComposedMapping.apply(x, self.codes_x_ones, k, spec.m, *params)
        z = self.mapping.features(torch.cat([self.codes, x.unsqueeze(1)], 1))   # (n_b, 32)
        w, bias = self.mapping.head.weight.T, self.mapping.head.bias            # (32, n_mlp), (n_mlp,)
        # sum over all n_b rows of z_i . w_j + b_j, less the last row's values past m
        total = z.sum(0) @ w.sum(1) + spec.n_b * bias.sum() - (z[-1] @ w[:, k:].sum(1) + bias[k:].sum())
        return torch.addmm(bias - total / spec.m, z, w)

    def n_trainable(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class FactorSlices(torch.autograd.Function):
    """chunk matrix (n_b, n_mlp) -> its first values cut into the factor ``shapes`` (A_1, B_1,
    A_2, ...), as views. Written by hand for the backward: autograd's fills a zero matrix of the
    chunk's size per slice and sums them (several passes over the ~200k values, a visible share
    of a QPA step); this one writes every slice's gradient into one buffer (tested against
    autograd's)."""

    @staticmethod
    def forward(ctx, chunk: torch.Tensor, shapes: tuple[tuple[int, int], ...]):
        flat, out, i = chunk.view(-1), [], 0
        for r, c in shapes:
            out.append(flat[i: i + r * c].view(r, c))
            i += r * c
        ctx.shapes, ctx.chunk_shape = shapes, chunk.shape
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):
        m = sum(r * c for r, c in ctx.shapes)
        g = grads[0].new_empty(ctx.chunk_shape.numel())
        g[m:] = 0            # the padding past m (unused chunk values): a zero gradient
        i = 0
        for (r, c), gk in zip(ctx.shapes, grads, strict=True):   # (autograd passes zeros for an unused output)
            g[i: i + r * c].view(r, c).copy_(gk)
            i += r * c
        return g.view(ctx.chunk_shape), None


SOURCE = Path(__file__).with_name("composed_mapping.c")


@functools.cache
def _mapping_kernel():
    lib = cbuild.load(SOURCE, "QPA's composed mapping model (else PyTorch ops)")
    if lib is None:
        return None
    i32, i64, ptr = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
    lib.qpa_mapping_forward.argtypes = [i32, ptr, ptr, ptr, i64, ptr, ptr, i64, i64, ptr, ptr, ptr, ptr, ptr]
    lib.qpa_mapping_forward.restype = None
    lib.qpa_mapping_backward.argtypes = [i32, ptr, ptr, ptr, ptr, ptr, ptr, i64, i64, i64, ptr, ptr, ptr, ptr, ptr]
    lib.qpa_mapping_backward.restype = None
    return lib


def _ptrs(ts) -> ctypes.Array:
    return (ctypes.c_void_p * len(ts))(*(t.data_ptr() for t in ts))


class ComposedMapping(torch.autograd.Function):
    """The centred chunk matrix of an all-affine mapping model (activation ``none``), with a
    hand-written backward.

    Forward: the layers y = x W_l^T + b_l compose into w = W_1^T W_2^T ... W_L^T (N+1, n_mlp) and
    a bias carried through (products from the input side: (N+1) x 32 -> ... -> (N+1) x n_mlp);
    with the bias as the last row, w_aug (N+2, n_mlp), the chunk is [codes, x, 1] @ w_aug, and
    the centring subtracts the mean of its first m values from that last row (the mean from the
    input's column sums and w_aug's row sums). Backward: the same chain rule by hand. On the CPU
    in float32 both run in C (``composed_mapping.c``, one call each way); elsewhere (float64,
    CUDA, no C compiler) as a dozen PyTorch products. Written by hand because through autograd
    these ~60 tiny ops and their nodes cost more than their arithmetic, on a cache the step's
    vocabulary-sized products have just emptied. Tested against autograd through the published
    order (layer by layer, centring after), both paths."""

    @staticmethod
    def forward(ctx, x, codes_x_ones, k: int, m: int, *params):
        Ws, bs = params[0::2], params[1::2]
        ctx.k, ctx.m, ctx.L = k, m, len(Ws)
        lib = _mapping_kernel() if all(t.device.type == "cpu" and t.dtype == torch.float32
                                       for t in (x, codes_x_ones, *params)) else None
        ctx.c = lib is not None
        if ctx.c:
            Ws, bs = [w.contiguous() for w in Ws], [b.contiguous() for b in bs]
            dims = torch.tensor([Ws[0].shape[1], *(w.shape[0] for w in Ws)], dtype=torch.int64)
            R, n, nb = int(dims[0]), int(dims[-1]), codes_x_ones.shape[0]
            chain = x.new_empty(sum(R * int(d) + int(d) for d in dims[1:]))
            wa, inp, xs = x.new_empty(R + 1, n), x.new_empty(nb, R + 1), x.new_empty(2)
            out = x.new_empty(nb, n)
            cxo, xc = codes_x_ones.contiguous(), x.contiguous()      # (held while C reads them)
            if cxo.shape != (nb, R + 1) or xc.numel() != nb:
                raise ValueError(f"ComposedMapping: inputs {tuple(cxo.shape)} and {xc.numel()} values do not match "
                                 f"{nb} rows of {R + 1} columns")
            lib.qpa_mapping_forward(len(Ws), dims.data_ptr(), _ptrs(Ws), _ptrs(bs), nb, cxo.data_ptr(), xc.data_ptr(),
                                    k, m, chain.data_ptr(), wa.data_ptr(), inp.data_ptr(), xs.data_ptr(), out.data_ptr())
            ctx.save_for_backward(dims, chain, wa, inp, xs, *Ws)
            return out
        ws, bvs = [Ws[0].T], [bs[0]]
        for W, b in zip(Ws[1:], bs[1:], strict=True):
            ws.append(ws[-1] @ W.T)
            bvs.append(torch.addmv(b, W, bvs[-1]))
        inp = codes_x_ones.clone()
        inp[:, -2] = x                                            # [codes, x, 1]
        colsum, last = inp.sum(0), inp[-1]
        wa = torch.cat([ws[-1], bvs[-1][None]])                  # (N+2, n_mlp)
        # the mean of the first m values: all n_b rows, less the last row's values past m
        total = colsum @ wa.sum(1) - last @ wa[:, k:].sum(1)
        x_sums = (wa[-2].sum(), wa[-2, k:].sum())                # d total / d x_i (all rows; the last one's tail)
        wa[-1] -= total / m
        ctx.save_for_backward(inp, wa, colsum, last, *Ws, *ws[:-1], *bvs[:-1])
        ctx.x_sums = x_sums
        return inp @ wa

    @staticmethod
    @torch.autograd.function.once_differentiable      # the hand-written backward builds no graph
    def backward(ctx, g):
        L, k, m = ctx.L, ctx.k, ctx.m
        if ctx.c:
            dims, chain, wa, inp, xs, *Ws = ctx.saved_tensors
            g = g.contiguous()
            R, n, nb = int(dims[0]), int(dims[-1]), inp.shape[0]
            gx = g.new_empty(nb)
            gW = [w.new_empty(w.shape) for w in Ws]
            gb = [w.new_empty(w.shape[0]) for w in Ws]
            maxd = int(dims.max())
            scratch = g.new_empty((R + 1) * n + 2 * R * maxd + 2 * maxd)
            _mapping_kernel().qpa_mapping_backward(L, dims.data_ptr(), _ptrs(Ws), chain.data_ptr(), wa.data_ptr(),
                                                   inp.data_ptr(), xs.data_ptr(), nb, k, m, g.data_ptr(),
                                                   gx.data_ptr(), _ptrs(gW), _ptrs(gb), scratch.data_ptr())
            return gx, None, None, None, *(t for pair in zip(gW, gb, strict=True) for t in pair)
        saved = ctx.saved_tensors
        inp, wa, colsum, last = saved[:4]
        Ws, ws, bvs = saved[4:4 + L], saved[4 + L:3 + 2 * L], saved[3 + 2 * L:]
        gwa = inp.T @ g                                           # (N+2, n_mlp)
        gx = torch.mv(g, wa[-2])
        # the centring: wa[-1] - total / m, total = colsum . rowsum(wa) - last . rowsum(wa[:, k:])
        gt = -gwa[-1].sum() / m
        gwa += gt * colsum[:, None]
        gwa[:, k:] -= gt * last[:, None]
        gx += gt * ctx.x_sums[0]
        gx[-1] -= gt * ctx.x_sums[1]
        gw, gb = gwa[:-1], gwa[-1]
        grads = [None] * (2 * L)
        for i in range(L - 1, 0, -1):                             # w_i = w_{i-1} W_i^T, b_i = W_i b_{i-1} + b_i
            grads[2 * i] = torch.addr(gw.T @ ws[i - 1], gb, bvs[i - 1])
            grads[2 * i + 1] = gb
            gw, gb = gw @ Ws[i], torch.mv(Ws[i].T, gb)
        grads[0], grads[1] = gw.T, gb                             # w_0 = W_0^T, b_0
        return gx, None, None, None, *grads
