"""The PQC head (docs/pqc_head.md, the paper's Fig. 1-3): first module -> main module -> linear layer.

First module (``front``), k = E * Q_c outputs:
* ``amplitude`` (the faithful head): encoder e = 1..E ("classical device", exact simulation): the
  d-dimensional embedding, L2-normalised and zero-padded to 2**n amplitudes, is the initial state
  of n = ceil(log2 d) qubits (384 -> 512 amplitudes on 9 qubits; mpnet's 768 -> 1024 on 10);
  sPQC_e (its own angles; ``encoder_ansatz`` chain or long_range) acts; <Z> on the first Q_c
  qubits is read out. Outputs z in [-1, 1]^k.
* ``pca`` (a classical front end, our deviation): the first k PCA components of the training
  embeddings, each divided by its largest |value| on the training split (fitted, not trained).
* ``linear`` (a classical front end as third-party reproductions ran it): a trained
  Linear(d -> k) followed by tanh (inputs in [-1, 1] like <Z>); its d k + k parameters count.
* Main module ("QPU"): Q qubits; R re-uploading blocks RY(scale_j * z_j) on qubit j mod Q (scale_j
  starts at input_scale, trained when trainable_scale) then
  PQC1 (the same angles in every block, or separate ones: ``reupload_blocks``); PQC2; <Z> on the
  first Q_m qubits.
* A linear layer gives the class logits, on the Q_m main outputs (``head_input`` main) or on
  [k first-module outputs, Q_m main outputs] (encoder_and_main). Trained end to end (adjoint
  gradients through both circuits, see quantum.torch_sim).

Ablations (the same training, one part removed):
  ``no_encoder``  front ``pca`` (the encoder replaced by the fixed PCA reduction);
  ``no_reupload`` R = 1;
  ``range1``      C = 1 (nearest-neighbour ring only, no long-range connections).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..quantum.circuits import EMBEDDING_DIM, CircuitSpec, encoder_qubits, pqc_encoder, pqc_main
from ..quantum.serialize import circuit_hash, read_circuit
from ..quantum.torch_sim import TorchCircuit
from ..stage import InputError
from .data import pca_reduction

ABLATIONS = ("no_encoder", "no_reupload", "range1")
FRONTS = ("amplitude", "pca", "linear")


@dataclass(frozen=True)
class HeadConfig:
    """Everything needed to rebuild a head's circuits and layers (stored beside its weights)."""

    qubits: int
    encoder_layers: int
    encoder_readout: int
    encoders: int
    main_depth: int
    main_range: int
    reuploads: int
    main_readout: int
    encoder_ansatz: str = "chain"
    encoder_range: int = 2
    reupload_blocks: str = "shared"
    head_input: str = "main"
    front: str = "amplitude"
    input_scale: float = 1.0
    trainable_scale: bool = True
    init_range: float = math.pi
    ablation: str | None = None
    circuit_hashes: dict = field(default_factory=dict)
    embedding_dim: int = EMBEDDING_DIM   # d of the body's sentence embeddings (set from the data)

    @classmethod
    def from_params(cls, qubits: int, circuits, input_scale: float = 1.0, ablation: str | None = None,
                    trainable_scale: bool = True, init_range: float = math.pi, front: str = "amplitude",
                    embedding_dim: int = EMBEDDING_DIM) -> HeadConfig:
        if ablation is not None and ablation not in ABLATIONS:
            raise ValueError(f"ablation {ablation!r} is unknown (allowed: {', '.join(ABLATIONS)})")
        if front not in FRONTS:
            raise ValueError(f"front {front!r} is unknown (allowed: {', '.join(FRONTS)})")
        cfg = cls(qubits=qubits, encoder_layers=circuits.encoder_layers, encoder_readout=circuits.encoder_readout,
                  encoders=circuits.encoders, main_depth=circuits.main_depth, main_range=circuits.main_range,
                  reuploads=circuits.reuploads, main_readout=circuits.main_readout,
                  encoder_ansatz=circuits.encoder_ansatz, encoder_range=circuits.encoder_range,
                  reupload_blocks=circuits.reupload_blocks, head_input=circuits.head_input, front=front,
                  input_scale=input_scale, trainable_scale=trainable_scale, init_range=init_range, ablation=ablation,
                  embedding_dim=embedding_dim)
        if ablation == "no_encoder":
            cfg = replace(cfg, front="pca")
        elif ablation == "no_reupload":
            cfg = replace(cfg, reuploads=1)
        elif ablation == "range1":
            cfg = replace(cfg, main_range=1)
        return cfg

    @property
    def use_encoder(self) -> bool:
        return self.front == "amplitude"

    @property
    def enc_qubits(self) -> int:
        """Width of the amplitude-encoded encoder: ceil(log2 embedding_dim)."""
        return encoder_qubits(self.embedding_dim)

    @property
    def head_in(self) -> int:
        """Inputs of the final linear layer."""
        return self.main_readout + (self.n_inputs if self.head_input == "encoder_and_main" else 0)

    @property
    def n_inputs(self) -> int:
        """Inputs of the main module: E * Q_c."""
        return self.encoders * self.encoder_readout

    def to_dict(self) -> dict:
        return asdict(self)


def build_specs(cfg: HeadConfig) -> tuple[CircuitSpec | None, CircuitSpec]:
    """(encoder spec or None for no_encoder, main-module spec) with the circuits module's builders."""
    enc = pqc_encoder(cfg.encoder_layers, cfg.encoder_readout, cfg.encoder_ansatz, cfg.encoder_range, cfg.enc_qubits) \
        if cfg.use_encoder else None
    main = pqc_main(cfg.qubits, cfg.n_inputs, cfg.reuploads, cfg.main_depth, cfg.main_range, cfg.main_readout,
                    cfg.reupload_blocks == "separate")
    return enc, main


def spec_hashes(enc: CircuitSpec | None, main: CircuitSpec) -> dict[str, str]:
    out = {"pqc_main": circuit_hash(main.circuit)}
    if enc is not None:
        out["pqc_encoder"] = circuit_hash(enc.circuit)
    return out


def check_circuit_files(folder: str | Path, enc: CircuitSpec | None, main: CircuitSpec) -> dict[str, str]:
    """The circuits stage's files must hold exactly the circuits the head is built from; returns their hashes."""
    folder = Path(folder)
    out = {}
    for name, spec in (("pqc_encoder", enc), ("pqc_main", main)):
        if spec is None:
            continue
        path = folder / f"{name}.json"
        if not path.is_file():
            raise InputError(f"{path} not found (run `dvc repro circuits`)")
        h = circuit_hash(read_circuit(path))
        if h != circuit_hash(spec.circuit):
            raise InputError(f"{path} does not match params.yaml (qubits / circuits section changed?): "
                             "run `dvc repro circuits`")
        out[name] = h
    return out


class PQCHead(torch.nn.Module):
    """Encoder module(s) -> main module -> linear layer; float64 throughout (exact simulation)."""

    def __init__(self, cfg: HeadConfig, *, x_train: np.ndarray | None = None, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        self.encoder_spec, self.main_spec = build_specs(cfg)
        gen = torch.Generator().manual_seed(seed)

        def angles(n: int) -> torch.nn.Parameter:
            return torch.nn.Parameter((torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * cfg.init_range)

        if cfg.use_encoder:
            self.encoder = TorchCircuit.from_spec(self.encoder_spec, dtype=torch.float64)
            self.encoder_readout = [self.encoder_spec.qubits.index(q) for q in self.encoder_spec.readout]
            # E encoders share the sPQC definition; each has its own angles: (E, P_enc)
            self.encoder_weights = torch.nn.Parameter(torch.stack(
                [angles(len(self.encoder_spec.weight_symbols)) for _ in range(cfg.encoders)]))
        elif cfg.front == "linear":
            d = cfg.embedding_dim
            self.front_linear = torch.nn.Linear(d, cfg.n_inputs, dtype=torch.float64)
            with torch.no_grad():
                bound = 1 / math.sqrt(d)
                self.front_linear.weight.copy_((torch.rand(cfg.n_inputs, d, generator=gen,
                                                           dtype=torch.float64) * 2 - 1) * bound)
                self.front_linear.bias.zero_()
        else:
            if x_train is None:
                raise ValueError("the pca front end needs x_train to fit its PCA reduction")
            mean, comps, scale = pca_reduction(np.asarray(x_train, np.float64), cfg.n_inputs)
            self.register_buffer("pca_mean", torch.as_tensor(mean))
            self.register_buffer("pca_components", torch.as_tensor(comps))
            self.register_buffer("pca_scale", torch.as_tensor(scale))
        # angle of input j = scale_j * z_j; scale_j starts at input_scale and is trained when trainable_scale
        self.input_scale = torch.nn.Parameter(torch.full((cfg.n_inputs,), float(cfg.input_scale), dtype=torch.float64),
                                              requires_grad=cfg.trainable_scale)
        self.main = TorchCircuit.from_spec(self.main_spec, dtype=torch.float64)
        self.main_readout = [self.main_spec.qubits.index(q) for q in self.main_spec.readout]
        self.main_weights = angles(len(self.main_spec.weight_symbols))           # PQC1 then PQC2
        self.linear = torch.nn.Linear(cfg.head_in, 2, dtype=torch.float64)
        with torch.no_grad():  # reproducible init independent of the global torch seed
            bound = 1 / math.sqrt(cfg.head_in)
            self.linear.weight.copy_((torch.rand(2, cfg.head_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
            self.linear.bias.zero_()

    # ---------------------------------------------------------------- modules
    def encoder_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) embeddings -> (B, E * Q_c) first-module outputs in [-1, 1]."""
        x = x.to(torch.float64)
        if self.cfg.front == "linear":
            return torch.tanh(self.front_linear(x))
        if self.cfg.front == "pca":
            return ((x - self.pca_mean) @ self.pca_components / self.pca_scale).clamp(-1, 1)
        if x.shape[1] != self.cfg.embedding_dim:
            raise InputError(f"embeddings have {x.shape[1]} dimensions, this head was built for {self.cfg.embedding_dim}")
        psi = torch.nn.functional.pad(x, (0, 2**self.cfg.enc_qubits - x.shape[1]))
        psi = psi / psi.norm(dim=1, keepdim=True)                                   # (B, 2**n)
        outs = [self.encoder.expectation_z(weights=w, initial_state=psi, qubits=self.encoder_readout)
                for w in self.encoder_weights]                                       # E x (B, Q_c)
        return torch.cat(outs, -1)

    def main_angles(self, x: torch.Tensor) -> torch.Tensor:
        """(B, E * Q_c) angles of the main module's RY encoding."""
        return self.input_scale * self.encoder_outputs(x)

    def main_z(self, angles: torch.Tensor) -> torch.Tensor:
        """(B, Q_m) <Z> of the main module's readout qubits."""
        return self.main.expectation_z(weights=self.main_weights, data=angles, qubits=self.main_readout)

    def head_features(self, z_front: torch.Tensor, z_main: torch.Tensor) -> torch.Tensor:
        """Input of the final linear layer: [z_main] or [z_front, z_main] (``head_input``)."""
        return torch.cat([z_front, z_main], -1) if self.cfg.head_input == "encoder_and_main" else z_main

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, 2) logits."""
        z = self.encoder_outputs(x)
        return self.linear(self.head_features(z, self.main_z(self.input_scale * z)))

    # ---------------------------------------------------------------- export for other simulators
    def main_param_rows(self, angles: np.ndarray) -> np.ndarray:
        """(B, P) parameter rows in ``main_spec.symbols`` order (data first, then weights)."""
        w = self.main_weights.detach().cpu().numpy()
        return np.concatenate([np.asarray(angles, np.float64), np.broadcast_to(w, (len(angles), len(w)))], 1)

    def logits_from_z(self, z: np.ndarray, z_front: np.ndarray | None = None) -> np.ndarray:
        """Logits from the main module's <Z> (and the first module's outputs for encoder_and_main)."""
        with torch.no_grad():
            zm = torch.as_tensor(np.asarray(z, np.float64))
            zf = torch.as_tensor(np.asarray(z_front, np.float64)) if z_front is not None else zm[:, :0]
            return self.linear(self.head_features(zf, zm)).numpy()

    def num_params(self) -> int:
        """Trained parameters, counted from the tensors."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def param_breakdown(self) -> dict[str, int]:
        return {name: p.numel() for name, p in self.named_parameters()}


def _ranges(conn_range: int, n: int) -> int:
    return sum(1 for c in range(1, conn_range + 1) if c % n)


def expected_params(cfg: HeadConfig) -> int:
    """The count formula (docs/pqc_head.md), k = E * Q_c:
    front [amplitude: E * L_enc * n (chain) or E * L_enc * (C_enc' * n + n) (long_range), n the
    encoder qubits (9 for d = 384); linear: d k + k; pca: 0] + [k angle scales when trainable_scale]
    + (B + 1) * D * (C' * Q + Q) with B = 1 (shared PQC1) or R (separate)
    + 2 * (Q_m [+ k with head_input encoder_and_main]) + 2;
    C' = ranges c in 1..C with c mod Q != 0 (C_enc' likewise mod n)."""
    if cfg.front == "amplitude":
        n = cfg.enc_qubits
        per_layer = n if cfg.encoder_ansatz == "chain" else (_ranges(cfg.encoder_range, n) + 1) * n
        front = cfg.encoders * cfg.encoder_layers * per_layer
    else:
        front = (cfg.embedding_dim + 1) * cfg.n_inputs if cfg.front == "linear" else 0
    scales = cfg.n_inputs if cfg.trainable_scale else 0
    blocks = (cfg.reuploads if cfg.reupload_blocks == "separate" else 1) + 1
    main = blocks * cfg.main_depth * (_ranges(cfg.main_range, cfg.qubits) * cfg.qubits + cfg.qubits)
    return front + scales + main + 2 * cfg.head_in + 2


def save_head(model: PQCHead, folder: str | Path) -> None:
    import json
    folder = Path(folder)
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(model.cfg.to_dict(), indent=2, sort_keys=True) + "\n")


def load_head(folder: str | Path) -> PQCHead:
    import json
    folder = Path(folder)
    if not (folder / "model.pt").is_file() or not (folder / "config.json").is_file():
        raise InputError(f"{folder}: model.pt / config.json not found (run the train_pqc stage)")
    cfg = HeadConfig(**json.loads((folder / "config.json").read_text()))
    state = torch.load(folder / "model.pt", weights_only=True)
    x_dummy = None
    if cfg.front == "pca":  # the PCA buffers come from the state dict; shape them with a stand-in
        x_dummy = np.random.default_rng(0).normal(size=(cfg.n_inputs + 1, cfg.embedding_dim))
    model = PQCHead(cfg, x_train=x_dummy)
    model.load_state_dict(state)
    return model
