"""Training of the LoRA baseline, QPA and the classical control on the same PEFT LoRA layers,
the same data, steps, batch, learning rate, schedule and seed.

``method``: ``lora`` trains PEFT's own lora_A/lora_B (PEFT init: A Kaiming-uniform, B = 0);
``qpa`` trains the circuit angles theta and the mapping model (gradients through the torch
simulator); ``control`` trains a learnable probability vector and the same mapping model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
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


@dataclass
class Outcome:
    peft_model: torch.nn.Module
    generator: QPAGenerator | None
    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    history: list[dict] = field(default_factory=list)
    trainable: int = 0


class Trainer:
    """One method on the lm_head, over cached features (see :mod:`quantum_llm.qpa.features`)."""

    def __init__(self, weight: torch.Tensor, cfg: TrainConfig):
        if cfg.method not in METHODS:
            raise ValueError(f"method {cfg.method!r}: allowed {METHODS}")
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.peft = wrap(HeadOnly(weight), lora_config(cfg.rank, cfg.alpha, cfg.dropout, ["lm_head"]))
        self.generator = None
        if cfg.method != "lora":
            spec = GeneratorSpec(cfg.n_qubits, cfg.layers, cfg.rank, lora_targets(self.peft),
                                 cfg.activation, cfg.connectivity)
            self.generator = QPAGenerator(spec, source="circuit" if cfg.method == "qpa" else "learned")
            for p in self.peft.parameters():
                p.requires_grad_(False)
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

    def factors(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        if self.generator is None:
            return trained_factors(self.peft)
        with torch.no_grad():
            return {k: (a.detach().clone(), b.detach().clone()) for k, (a, b) in self.generator.factors().items()}


def split_features(h: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int):
    """Seeded train/validation split of the cached training targets."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    n_val = max(1, int(len(y) * val_fraction))
    va, tr = perm[:n_val], perm[n_val:]
    return (h[tr], y[tr]), (h[va], y[va])


def train(weight: torch.Tensor, h: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
          on_log: Callable[[dict], None] | None = None) -> Outcome:
    # the data split and batch order depend on the seed only, never on the method
    (htr, ytr), (hva, yva) = split_features(h, y, cfg.val_fraction, cfg.seed)
    trainer = Trainer(weight, cfg)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    history = []
    record = {"step": 0, "val_loss": trainer.loss(hva, yva)}
    history.append(record)
    if on_log:
        on_log(record)
    for step in tqdm(range(1, cfg.steps + 1), desc=f"train {cfg.method}", unit="step"):
        idx = torch.randint(0, len(ytr), (cfg.batch_tokens,), generator=g)
        t0 = time.perf_counter()
        train_loss = trainer.step(htr[idx], ytr[idx])
        record = {"step": step, "train_loss": train_loss, "step_time_s": time.perf_counter() - t0}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["val_loss"] = trainer.loss(hva, yva)
        history.append(record)
        if on_log:
            on_log(record)
    log.info("%s: val loss %.4f -> %.4f, %d trainable", cfg.method, history[0]["val_loss"],
             history[-1]["val_loss"], trainer.trainable)
    return Outcome(trainer.peft, trainer.generator, trainer.factors(), history, trainer.trainable)
