"""Training of the LoRA baseline, QPA and the classical control on the same PEFT LoRA layers,
the same data, steps, batch, learning rate, schedule and seed.

``method``: ``lora`` trains PEFT's own lora_A/lora_B (PEFT init: A Kaiming-uniform, B = 0);
``qpa`` trains the circuit angles theta and the mapping model (gradients through the torch
simulator); ``control`` trains a learnable probability vector and the same mapping model.

Two paths, the same data split, batch order, loss and methods:

- ``lm_head`` only (the default, :func:`train`): the backbone is frozen and its output never
  changes, so every step runs on cached final hidden states through :class:`HeadOnly`.
- any other ``target_modules`` (e.g. ``q_proj, v_proj``, with or without ``lm_head``;
  :func:`train_full`): full backprop. Each step runs the whole PEFT-wrapped model forward and
  backward on the training lines that hold the step's sampled targets (each line truncated after
  its last sampled position, ``micro_lines`` lines per forward, gradients accumulated); QPA and
  the control substitute the generated factors of every adapted module at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from .adapter import HeadOnly, lora_config, lora_targets, substitution, trained_factors, wrap
from .generator import GeneratorSpec, QPAGenerator

log = logging.getLogger(__name__)
METHODS = ("lora", "qpa", "control")


@dataclass(frozen=True)
class TrainConfig:
    method: str
    steps: int
    batch_tokens: int
    lr: float
    seed: int
    rank: int
    alpha: float
    dropout: float
    n_qubits: int
    layers: int
    connectivity: str = "chain"
    activation: str = "none"
    val_fraction: float = 0.1
    eval_every: int = 10
    target_modules: tuple[str, ...] = ("lm_head",)
    micro_lines: int = 8      # full-backprop path: lines per forward/backward (gradient accumulation)

    @property
    def head_only(self) -> bool:
        return tuple(self.target_modules) == ("lm_head",)


@dataclass
class TokenData:
    """The training lines behind the cached targets (see :func:`features.train_features`):
    target k is ``lines[line_of[k], pos_of[k] + 1]``, predicted at position ``pos_of[k]``."""

    lines: torch.Tensor      # (L, P) right-padded token ids
    line_len: torch.Tensor   # (L,)
    line_of: torch.Tensor    # (T,)
    pos_of: torch.Tensor     # (T,)
    y: torch.Tensor          # (T,)

    @classmethod
    def from_features(cls, f: dict[str, torch.Tensor]) -> TokenData:
        return cls(f["lines"], f["line_len"], f["line_of"], f["pos_of"], f["y"])

    def batches(self, idx: torch.Tensor, micro_lines: int):
        """Targets ``idx`` grouped by line: (ids (B, W), mask (B, W), row (n,), pos (n,), y (n,))."""
        line, pos = self.line_of[idx], self.pos_of[idx]
        uniq = torch.unique(line)
        for c in range(0, len(uniq), micro_lines):
            chunk = uniq[c: c + micro_lines]
            sel = torch.isin(line, chunk)
            p = pos[sel]
            width = int(p.max()) + 1
            mask = (torch.arange(width) < self.line_len[chunk, None]).long()
            yield self.lines[chunk, :width], mask, torch.searchsorted(chunk, line[sel]), p, self.y[idx[sel]]


class _Selected(nn.Module):
    """Logits of a PEFT-wrapped causal LM at chosen positions only (never the full (B, T, V))."""

    def __init__(self, peft_model: nn.Module):
        super().__init__()
        self.peft = peft_model

    def forward(self, ids, mask, row, pos):
        lm = self.peft.base_model.model          # the causal LM, LoRA layers injected
        h = lm.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        return lm.get_output_embeddings()(h[row, pos])


@dataclass
class Outcome:
    peft_model: torch.nn.Module
    generator: QPAGenerator | None
    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    history: list[dict] = field(default_factory=list)
    trainable: int = 0
    source_change: float | None = None   # max |final - initial| of theta (QPA) / the logits (control)


class Trainer:
    """One method: on the lm_head over cached features (``weight`` given; see
    :mod:`quantum_llm.qpa.features`), or on ``cfg.target_modules`` of a whole causal LM
    (``model`` given; full backprop)."""

    def __init__(self, weight: torch.Tensor | None, cfg: TrainConfig, model: nn.Module | None = None):
        if cfg.method not in METHODS:
            raise ValueError(f"method {cfg.method!r}: allowed {METHODS}")
        if model is None and not cfg.head_only:
            raise ValueError(f"target_modules {list(cfg.target_modules)} need the whole model (full backprop)")
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.full = model is not None
        if model is None:
            self.peft = wrap(HeadOnly(weight), lora_config(cfg.rank, cfg.alpha, cfg.dropout, ["lm_head"]))
        else:
            self.peft = wrap(model, lora_config(cfg.rank, cfg.alpha, cfg.dropout, list(cfg.target_modules)))
            self.selected = _Selected(self.peft)
        self.generator = None
        if cfg.method != "lora":
            spec = GeneratorSpec(cfg.n_qubits, cfg.layers, cfg.rank, lora_targets(self.peft),
                                 cfg.activation, cfg.connectivity)
            self.generator = QPAGenerator(spec, source="circuit" if cfg.method == "qpa" else "learned")
            for p in self.peft.parameters():
                p.requires_grad_(False)
        self.source_init = None if self.generator is None else \
            torch.cat([p.detach().flatten() for p in self.generator.probs.parameters()]).clone()
        owner = self.generator if self.generator is not None else self.peft
        self.params = [p for p in owner.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=0.0)
        # linear decay to 0 over the run, as in the official code
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: max(0.0, 1 - s / cfg.steps))

    @property
    def trainable(self) -> int:
        return sum(p.numel() for p in self.params)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.generator is None:
            return self.peft(h)
        return functional_call(self.peft, substitution(self.generator.factors()), (h,))

    def step(self, h: torch.Tensor, y: torch.Tensor) -> float:
        self.peft.train()
        loss = F.cross_entropy(self.logits(h), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return loss.item()

    @torch.no_grad()
    def loss(self, h: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> float:
        self.peft.eval()
        total = sum(F.cross_entropy(self.logits(h[i: i + chunk]), y[i: i + chunk], reduction="sum").item()
                    for i in range(0, len(y), chunk))
        return total / len(y)

    # ---- full-backprop path: token batches through the whole model
    def _substitution(self) -> dict[str, torch.Tensor] | None:
        if self.generator is None:
            return None
        return {f"peft.{k}": v for k, v in substitution(self.generator.factors()).items()}

    def _selected_logits(self, subs, ids, mask, row, pos) -> torch.Tensor:
        if subs is None:
            return self.selected(ids, mask, row, pos)
        return functional_call(self.selected, subs, (ids, mask, row, pos))

    def step_tokens(self, data: TokenData, idx: torch.Tensor) -> float:
        """One optimizer step on targets ``idx`` (mean cross-entropy, gradients accumulated over lines)."""
        self.peft.train()
        self.opt.zero_grad(set_to_none=True)
        subs = self._substitution()   # generated once per step; its graph is shared by every micro-batch
        total = 0.0
        for ids, mask, row, pos, y in data.batches(idx, self.cfg.micro_lines):
            loss = F.cross_entropy(self._selected_logits(subs, ids, mask, row, pos), y, reduction="sum") / len(idx)
            loss.backward(retain_graph=subs is not None)
            total += loss.item()
        self.opt.step()
        self.sched.step()
        return total

    @torch.no_grad()
    def loss_tokens(self, data: TokenData, idx: torch.Tensor) -> float:
        self.peft.eval()
        subs = self._substitution()
        total = sum(F.cross_entropy(self._selected_logits(subs, ids, mask, row, pos), y, reduction="sum").item()
                    for ids, mask, row, pos, y in data.batches(idx, self.cfg.micro_lines))
        return total / len(idx)

    def factors(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        if self.generator is None:
            return trained_factors(self.peft)
        with torch.no_grad():
            return {k: (a.detach().clone(), b.detach().clone()) for k, (a, b) in self.generator.factors().items()}


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (train, validation) split of the n cached training targets."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(n * val_fraction))
    return perm[n_val:], perm[:n_val]


def split_features(h: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int):
    """Seeded train/validation split of the cached training targets."""
    tr, va = split_indices(len(y), val_fraction, seed)
    return (h[tr], y[tr]), (h[va], y[va])


def train(weight: torch.Tensor, h: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
          on_log: Callable[[dict], None] | None = None) -> Outcome:
    """lm_head only, on cached final hidden states."""
    # the data split and batch order depend on the seed only, never on the method
    (htr, ytr), (hva, yva) = split_features(h, y, cfg.val_fraction, cfg.seed)
    trainer = Trainer(weight, cfg)
    return _loop(trainer, cfg, len(ytr), lambda idx: trainer.step(htr[idx], ytr[idx]),
                 lambda: trainer.loss(hva, yva), on_log)


def train_full(model: nn.Module, data: TokenData, cfg: TrainConfig,
               on_log: Callable[[dict], None] | None = None) -> Outcome:
    """Any ``cfg.target_modules``, full backprop through ``model`` (a causal LM, modified in place:
    PEFT injects its LoRA layers). Same targets, split and batch order as :func:`train`."""
    tr, va = split_indices(len(data.y), cfg.val_fraction, cfg.seed)
    trainer = Trainer(None, cfg, model=model)
    return _loop(trainer, cfg, len(tr), lambda idx: trainer.step_tokens(data, tr[idx]),
                 lambda: trainer.loss_tokens(data, va), on_log)


def _loop(trainer: Trainer, cfg: TrainConfig, n_train: int, step_fn, val_fn,
          on_log: Callable[[dict], None] | None) -> Outcome:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    history = []
    record = {"step": 0, "val_loss": val_fn()}
    history.append(record)
    if on_log:
        on_log(record)
    for step in tqdm(range(1, cfg.steps + 1), desc=f"train {cfg.method}", unit="step"):
        idx = torch.randint(0, n_train, (cfg.batch_tokens,), generator=g)
        t0 = time.perf_counter()
        train_loss = step_fn(idx)
        record = {"step": step, "train_loss": train_loss, "step_time_s": time.perf_counter() - t0}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["val_loss"] = val_fn()
        history.append(record)
        if on_log:
            on_log(record)
    log.info("%s: val loss %.4f -> %.4f, %d trainable", cfg.method, history[0]["val_loss"],
             history[-1]["val_loss"], trainer.trainable)
    change = None
    if trainer.generator is not None:
        now = torch.cat([p.detach().flatten() for p in trainer.generator.probs.parameters()])
        change = (now - trainer.source_init).abs().max().item()
    return Outcome(trainer.peft, trainer.generator, trainer.factors(), history, trainer.trainable, change)
