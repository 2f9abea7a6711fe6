"""A small GPT-style character LM whose self-attention is chosen by name.

- ``csa``: standard causal softmax attention (scaled dot product, causal mask).
- ``qisa``: quantum-inspired self-attention, version 3 of Kuznetsov et al. (arXiv 2603.03318)
  with the correct causal product: Gaussian-kernel scores a_ts = exp(-||q_t - k_s||^2), causal
  mask, softmax over s, output y_t = sum_s A_ts v_s; values v_i = Re(u^T O_i u), u = W_v x
  (zero-padded to 2**n), O_i fixed Pauli strings drawn from a seeded RNG.
- ``qisa_paper``: THE PUBLISHED, LEAKY BEHAVIOUR: identical to ``qisa`` but the output is
  A^T v, so position t mixes values at positions s >= t and sees its own prediction target.
  Kept only to measure how much of the paper's claimed gain the leak explains.

Pre-LayerNorm blocks, ReLU MLP 4x, learned positions, dropout; the layout follows nanoGPT.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import fused
from .pauli import PauliValueMap, n_qubits_for, sample_pauli_strings

ATTENTIONS = ("csa", "qisa", "qisa_paper")
LEAKY = {"qisa_paper"}  # variants known to break causality (by construction)
# QISA's attention takes the op-lean "wide" layout up to this many tokens per call and the
# multiply-add-lean "narrow" one above (measured, docs/qisa.md "Speed")
WIDE_MAX_TOKENS = 256


@dataclass
class GPTConfig:
    """Model shape and attention variant. ``pauli_strings[layer][head]`` lists the head's h
    strings; drawn from ``pauli_seed`` when empty, then stored here so a checkpoint restores them."""

    vocab_size: int = 65
    block_size: int = 16  # context length in characters
    n_layer: int = 6
    n_head: int = 1
    n_embd: int = 16
    dropout: float = 0.2
    attention: str = "qisa"  # csa | qisa | qisa_paper
    pauli_seed: int = 0
    pauli_strings: list[list[list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {self.attention!r} (allowed: {', '.join(ATTENTIONS)})")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd = {self.n_embd} is not divisible by n_head = {self.n_head}")
        if self.attention != "csa" and not self.pauli_strings:
            self.pauli_strings = draw_pauli_strings(self)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


def draw_pauli_strings(cfg: GPTConfig) -> list[list[list[str]]]:
    """h strings on n = ceil(log2 n_embd) qubits per head and layer, from one seeded generator."""
    rng = np.random.default_rng(cfg.pauli_seed)
    n = n_qubits_for(cfg.n_embd)
    return [[sample_pauli_strings(cfg.head_size, n, rng) for _ in range(cfg.n_head)] for _ in range(cfg.n_layer)]


def _augment_routing(C: int, nh: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant part of QISA's fused table: products [q^2, k^2, q, k] (4C) -> per head
    q_aug = [2q, -|q|^2, -1] and k_aug = [k, 1, |k|^2], all q_aug blocks first; and its bias."""
    hs, w = C // nh, C // nh + 2
    route, bias = torch.zeros(4 * C, 2 * nh * w), torch.zeros(2 * nh * w)
    for i in range(C):
        h, j = divmod(i, hs)
        qa, ka = h * w, (nh + h) * w                  # first column of head h's q_aug, k_aug
        route[i, qa + hs] = -1.0                      # q_i^2 -> -|q|^2
        route[C + i, ka + hs + 1] = 1.0               # k_i^2 -> |k|^2
        route[2 * C + i, qa + j] = 2.0                # q_i   -> 2 q
        route[3 * C + i, ka + j] = 1.0                # k_i   -> k
    for h in range(nh):
        bias[h * w + hs + 1], bias[(nh + h) * w + hs] = -1.0, 1.0
    return route, bias


class CausalSelfAttention(nn.Module):
    """CSA: standard multi-head causal softmax attention (the classical baseline)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # (B, T, n_embd)
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return self.resid_dropout(y) if self.training else y  # as QISA: no module call at inference


class QISAttention(nn.Module):
    """QISA version 3: Gaussian-kernel scores on classical q, k; Pauli-form values.

    ``transpose_attention=True`` reproduces the published code's A^T @ v, which leaks the
    future (``qisa_paper``); the default is the causal A @ v.
    """

    def __init__(self, cfg: GPTConfig, layer: int, transpose_attention: bool = False):
        super().__init__()
        self.n_head, self.hs, self.n_embd = cfg.n_head, cfg.head_size, cfg.n_embd
        self.transpose_attention = transpose_attention
        self.c_qk = nn.Linear(cfg.n_embd, 2 * cfg.n_embd)  # q = W_q x + b_q, k = W_k x + b_k
        self.w_v = nn.Linear(cfg.n_embd, cfg.n_head * cfg.n_embd, bias=False)  # u = W_v x, d x d per head
        self.values = nn.ModuleList(PauliValueMap(s, cfg.n_embd) for s in cfg.pauli_strings[layer])
        # All heads' index pairs as rows of W_v (head h owns rows h*d .. h*d+d-1) and one
        # block-diagonal coefficient table, so the values cost one fused linear + mul + matmul.
        offs = [h * cfg.n_embd for h in range(cfg.n_head)]
        self.register_buffer("left", torch.cat([m.left + o for m, o in zip(self.values, offs, strict=True)]), persistent=False)
        self.register_buffer("right", torch.cat([m.right + o for m, o in zip(self.values, offs, strict=True)]), persistent=False)
        self.register_buffer("table", torch.block_diag(*[m.table for m in self.values]), persistent=False)  # (P, C)
        self.register_buffer("zero_bias", torch.zeros(2 * self.left.numel()), persistent=False)
        self.register_buffer("head_of_pair", F.one_hot(self.left // cfg.n_embd, cfg.n_head).to(self.table.dtype),
                             persistent=False)  # (P, nh): which head each index pair belongs to
        route, route_bias = _augment_routing(cfg.n_embd, cfg.n_head)
        self.register_buffer("route", route, persistent=False)            # (4C, 2 nh (hs + 2))
        self.register_buffer("route_bias", route_bias, persistent=False)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.register_buffer("future", ~torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool)),
                             persistent=False)  # (T, T), True above the diagonal: s > t
        self._fused: tuple | None = None
        self.use_kernel = True   # the fused C kernel at inference where it applies (fused.py); False: PyTorch ops
        self._watched = (self.c_qk.weight, self.c_qk.bias, self.w_v.weight, self.c_proj.weight, self.c_proj.bias)

    def _versions(self) -> tuple:
        """Changes whenever a parameter the fused weights read is updated in place (optimiser
        steps, load_state_dict) or moved to new storage (``.to()``)."""
        ps = self._watched   # a plain tuple: no Module.__getattr__ per call (parameters keep their objects)
        return (ps[0]._version, ps[1]._version, ps[2]._version, ps[3]._version, ps[4]._version,
                ps[0].data_ptr(), ps[2].data_ptr(), ps[3].data_ptr())

    def fused_weights(self, bias_in_values: bool) -> tuple[tuple[torch.Tensor, ...], ...]:
        """The attention's learned maps as one linear map and one table, in three layouts
        (``wide``, ``narrow``, ``kernel``; see :meth:`forward` for which is used when).

        * ``weight`` (2M, C), ``bias``, M = 4C + P: x -> ([q, k, q, k, u[left]],
          [q, k, 1, 1, u[right]]). Since u = W_v x is linear, u[left] = W_v[left] x: gathering
          rows of W_v once replaces indexing every token's u. The one elementwise product then
          holds q_i^2, k_i^2, q_i, k_i and the values' pair products.
        * ``table`` (M, 2 nh (hs + 2) + W), ``table_bias``: the products -> per head
          q_aug = [2q, -|q|^2, -1] and k_aug = [k, 1, |k|^2] (so q_aug . k_aug = -||q - k||^2, one
          batched product), then the values. The values' columns are the Pauli coefficient table times W_proj^T: c_proj is
          linear and the attention mixes values linearly, so c_proj(A @ (p @ table0)) =
          A @ (p @ (table0 @ W_proj^T)) + b_proj, and the bias may go onto the values when every
          row of A sums to 1 (``bias_in_values``). With several heads, c_proj(concat_h A_h v_h) =
          sum_h A_h (v_h W_proj[:, head h]^T): each head gets its own C columns (W = nh * C).
        * ``narrow``: x -> (q, k, u[left], u[right]), (2C + 2P, C), and the values' columns
          only; the norms are then summed from q and k directly (fewer multiply-adds per token).
        * ``kernel`` (no gradient, bias in the values: causal, one head; else None): x -> (q, k, u), (3C, C), the projection
          CSA also makes, and the values' columns; the C kernel (``fused.py``) forms the pair
          products of u itself.

        Cached while the parameters are unchanged and no gradient is needed (inference).
        """
        grad = torch.is_grad_enabled()
        key = (bias_in_values, *self._versions())  # the bias placement depends on the mode
        if not grad and self._fused is not None and self._fused[0] == key:
            return self._fused[1]
        C, nh = self.n_embd, self.n_head
        values = self.table @ self.c_proj.weight.transpose(0, 1)          # (P, C)
        if nh > 1:
            values = (values[:, None, :] * self.head_of_pair[:, :, None]).reshape(values.shape[0], -1)
        n_route = self.route.shape[1]
        table = torch.cat([torch.cat([self.route, self.route.new_zeros(self.route.shape[0], values.shape[1])], 1),
                           torch.cat([values.new_zeros(values.shape[0], n_route), values], 1)])
        values_bias = self.c_proj.bias if bias_in_values else values.new_zeros(values.shape[1])
        qk_w, qk_b, wv = self.c_qk.weight, self.c_qk.bias, self.w_v.weight
        zero = self.zero_bias[: self.left.numel()]
        ones = qk_b.new_ones(2 * C)
        wide = (torch.cat([qk_w, qk_w, wv[self.left], qk_w, torch.zeros_like(qk_w), wv[self.right]]),
                torch.cat([qk_b, qk_b, zero, qk_b, ones, zero]), table, torch.cat([self.route_bias, values_bias]))
        narrow = (torch.cat([qk_w, wv[self.left], wv[self.right]]), torch.cat([qk_b, zero, zero]), values,
                  values_bias)
        kernel = None if grad or not bias_in_values else (   # no autograd through C; causal, one head
            torch.cat([qk_w, wv]), torch.cat([qk_b, qk_b.new_zeros(wv.shape[0])]), values.contiguous(),
            values_bias.contiguous())
        out = (wide, narrow, kernel)
        if not grad:
            self._fused = (key, out)
        return out

    def _scores_wide(self, x, weight, bias, table, table_bias) -> tuple[torch.Tensor, torch.Tensor]:
        """-||q_t - k_s||^2 (B*nh, T, T) and the values (B*nh, T, C), in the fewest ops."""
        B, T, C = x.shape
        nh, hs = self.n_head, self.hs
        # addmm on the flattened tokens: what F.linear does, minus its 3-D wrapping (~1.5 us per call)
        ua, ub = torch.addmm(bias, x.reshape(B * T, C), weight.t()).chunk(2, -1)  # 2 x (B*T, M)
        z = torch.addmm(table_bias, ua * ub, table)                       # (B*T, 2 nh (hs+2) + W)
        A = nh * (hs + 2)
        if nh == 1:  # (B, T, .) views, no head axis to move
            q_aug, k_aug, v = z.view(B, T, -1).split([A, A, C], -1)
        else:
            q_aug, k_aug = z[:, :2 * A].reshape(B, T, 2, nh, hs + 2).permute(2, 0, 3, 1, 4).reshape(
                2, B * nh, T, hs + 2)
            v = z[:, 2 * A:].reshape(B, T, nh, C).transpose(1, 2).reshape(B * nh, T, C)
        return torch.bmm(q_aug, k_aug.transpose(-2, -1)), v

    def _scores_narrow(self, x, weight, bias, table, table_bias) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`_scores_wide`, with fewer multiply-adds per token (norms from q and k)."""
        B, T, C = x.shape
        nh, hs, P = self.n_head, self.hs, self.left.numel()
        qk, ua, ub = torch.addmm(bias, x.reshape(B * T, C), weight.t()).split([2 * C, P, P], -1)
        v = torch.addmm(table_bias, ua * ub, table)                  # (B*T, W)
        if nh == 1:  # q, k: views of the projection (no copy); both norms from one square-sum
            q, k = qk[:, :C].view(B, T, C), qk[:, C:].view(B, T, C)
            qq, kk = qk.square().view(B, T, 2, C).sum(-1).unbind(-1)  # (B, T) each
        else:
            q, k = qk.reshape(B, T, 2, nh, hs).permute(2, 0, 3, 1, 4).reshape(2, B * nh, T, hs)
            qq, kk = torch.stack([q, k]).square().sum(-1)            # (B*nh, T) each
            v = v.view(B, T, nh, C).transpose(1, 2).reshape(B * nh, T, C)
        # -||q_t - k_s||^2 = 2 q_t.k_s - |q_t|^2 - |k_s|^2, one batched matmul
        neg = (qq[:, :, None] + kk[:, None, :]).baddbmm_(q, k.transpose(-2, -1), beta=-1, alpha=2)  # in place
        return neg, v.view(B * nh, T, C)

    @staticmethod
    def _kernel_fits(x: torch.Tensor) -> bool:
        """What the C kernel takes: float32 on the CPU, outside CPU autocast (whose projection would
        be bfloat16); one head and causal: see ``bias_in_values``."""
        return x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # (B, T, n_embd)
        nh = self.n_head
        drop_attn = self.training and self.attn_dropout.p > 0
        # the output bias goes onto the values when every row of the mixing matrix sums to 1
        # (causal A without dropout, one head); otherwise it is added after the product
        bias_in_values = not (self.transpose_attention or drop_attn or nh > 1)
        wide, narrow, kernel = self.fused_weights(bias_in_values)
        if kernel is not None and self.use_kernel and bias_in_values and not self.training and self._kernel_fits(x) \
                and fused.kernel() is not None:
            # inference: one projection, then everything else in one C call (fused.py)
            weight, bias, table, table_bias = kernel
            # (3C, B*T): rows q, k, u (transposed: a block of tokens of one feature is contiguous)
            qkuT = torch.addmm(bias[:, None], weight, x.reshape(B * T, C).t())
            return fused.causal_attention(qkuT, B, T, C, self.left, self.right, table, table_bias).view(B, T, C)
        if B * T <= WIDE_MAX_TOKENS:
            neg_dist2, v = self._scores_wide(x, *wide)
        else:
            neg_dist2, v = self._scores_narrow(x, *narrow)
        future = self.future if T == self.future.shape[0] else self.future[:T, :T]
        if torch.is_grad_enabled():
            scores = neg_dist2.exp().masked_fill(future, float("-inf"))  # a_ts, causal mask
        else:  # inference: the same in place
            scores = neg_dist2.exp_().masked_fill_(future, float("-inf"))
        att = torch.softmax(scores, dim=-1)  # A, rows sum to 1 over s <= t
        if drop_attn:
            att = self.attn_dropout(att)
        if self.transpose_attention:
            att = att.transpose(-2, -1)  # PUBLISHED DEFECT: y_t = sum_{s >= t} A_st v_s sees the future
        y = torch.bmm(att, v)  # (B*nh, T, C): already projected by c_proj
        if nh > 1:
            y = y.view(B, nh, T, C).sum(1)  # the heads' shares of c_proj(concat_h A_h v_h)
        if not bias_in_values:
            y = y + self.c_proj.bias
        return self.resid_dropout(y) if self.training else y  # (B, T, n_embd); no module call at inference


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.relu(self.c_fc(x))))


def make_attention(cfg: GPTConfig, layer: int) -> nn.Module:
    if cfg.attention == "csa":
        return CausalSelfAttention(cfg)
    return QISAttention(cfg, layer, transpose_attention=cfg.attention == "qisa_paper")


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = make_attention(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CharGPT(nn.Module):
    """Character-level GPT: token + learned position embeddings, blocks, final LayerNorm, head."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2 scaled init of residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx: (B, T) character ids -> logits (B, T, vocab)."""
        return self.lm_head(self.ln_f(self.hidden(self.embed(idx))))

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        pos = torch.arange(T, device=idx.device)
        return self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, n_embd)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """Greedy free-running generation: (B, T0) -> (B, T0 + max_new_tokens), context cropped to block_size."""
        for _ in range(max_new_tokens):
            logits = self(idx[:, -self.config.block_size:])[:, -1]  # (B, vocab)
            idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
        return idx


def save_checkpoint(model: CharGPT, path) -> None:
    """nanoGPT style: the config (with its Pauli strings) travels with the weights."""
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()}, path)


def load_checkpoint(path) -> CharGPT:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = CharGPT(GPTConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
