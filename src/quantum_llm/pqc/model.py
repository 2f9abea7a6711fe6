"""The PQC head (specs/pqc_head.md, Fig. 1-3): encoder module(s) -> main module -> linear layer.

* Encoder e = 1..E ("classical device", exact simulation): the embedding, L2-normalised and
  zero-padded to 512 amplitudes, is the initial state of 9 qubits; sPQC_e (its own angles) acts;
  <Z> on the first Q_c qubits is read out. Outputs z in [-1, 1]^(E * Q_c).
* Main module ("QPU"): Q qubits; R re-uploading blocks RY(scale_j * z_j) on qubit j mod Q (scale_j
  starts at input_scale, trained when trainable_scale) then
  PQC1 (the same angles in every block); PQC2; <Z> on the first Q_m qubits.
* A linear layer (Q_m -> 2) gives the class logits. Trained end to end (adjoint gradients through
  both circuits, see quantum.torch_sim).

Ablations (the same training, one part removed):
  ``no_encoder``  the encoder is replaced by a fixed classical reduction: the first E * Q_c PCA
                  components of the training embeddings, each divided by its largest |value| on
                  the training split (so inputs are in [-1, 1] like <Z>), no trained parameters;
  ``no_reupload`` R = 1;
  ``range1``      C = 1 (nearest-neighbour ring only, no long-range connections).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..quantum.circuits import ENCODER_QUBITS, CircuitSpec, pqc_encoder, pqc_main
from ..quantum.serialize import circuit_hash, read_circuit
from ..quantum.torch_sim import TorchCircuit
from ..stage import InputError

ABLATIONS = ("no_encoder", "no_reupload", "range1")


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
    input_scale: float = 1.0
    trainable_scale: bool = True
    init_range: float = math.pi
    ablation: str | None = None
    circuit_hashes: dict = field(default_factory=dict)

    @classmethod
    def from_params(cls, qubits: int, circuits, input_scale: float = 1.0, ablation: str | None = None,
                    trainable_scale: bool = True, init_range: float = math.pi) -> HeadConfig:
        if ablation is not None and ablation not in ABLATIONS:
            raise ValueError(f"ablation {ablation!r} is unknown (allowed: {', '.join(ABLATIONS)})")
        cfg = cls(qubits=qubits, encoder_layers=circuits.encoder_layers, encoder_readout=circuits.encoder_readout,
                  encoders=circuits.encoders, main_depth=circuits.main_depth, main_range=circuits.main_range,
                  reuploads=circuits.reuploads, main_readout=circuits.main_readout, input_scale=input_scale,
                  trainable_scale=trainable_scale, init_range=init_range, ablation=ablation)
        if ablation == "no_reupload":
            cfg = replace(cfg, reuploads=1)
        elif ablation == "range1":
            cfg = replace(cfg, main_range=1)
        return cfg

    @property
    def use_encoder(self) -> bool:
        return self.ablation != "no_encoder"

    @property
    def n_inputs(self) -> int:
        """Inputs of the main module: E * Q_c."""
        return self.encoders * self.encoder_readout

    def to_dict(self) -> dict:
        return asdict(self)


def build_specs(cfg: HeadConfig) -> tuple[CircuitSpec | None, CircuitSpec]:
    """(encoder spec or None for no_encoder, main-module spec) with the circuits module's builders."""
    enc = pqc_encoder(cfg.encoder_layers, cfg.encoder_readout) if cfg.use_encoder else None
    main = pqc_main(cfg.qubits, cfg.n_inputs, cfg.reuploads, cfg.main_depth, cfg.main_range, cfg.main_readout)
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


def pca_reduction(x_train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (384,), components (384, k), scale (k,)): z = (x - mean) @ components / scale, |z| <= 1 on train."""
    mean = x_train.mean(0)
    _u, _s, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    comps = vt[:k].T
    proj = (x_train - mean) @ comps
    scale = np.abs(proj).max(0)
    return mean, comps, np.where(scale > 0, scale, 1.0)


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
        else:
            if x_train is None:
                raise ValueError("the no_encoder ablation needs x_train to fit its PCA reduction")
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
        self.linear = torch.nn.Linear(cfg.main_readout, 2, dtype=torch.float64)
        with torch.no_grad():  # reproducible init independent of the global torch seed
            bound = 1 / math.sqrt(cfg.main_readout)
            self.linear.weight.copy_((torch.rand(2, cfg.main_readout, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
            self.linear.bias.zero_()

    # ---------------------------------------------------------------- modules
    def encoder_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 384) embeddings -> (B, E * Q_c) first-module outputs in [-1, 1]."""
        x = x.to(torch.float64)
        if not self.cfg.use_encoder:
            return ((x - self.pca_mean) @ self.pca_components / self.pca_scale).clamp(-1, 1)
        psi = torch.nn.functional.pad(x, (0, 2**ENCODER_QUBITS - x.shape[1]))
        psi = psi / psi.norm(dim=1, keepdim=True)                                   # (B, 512)
        outs = [self.encoder.expectation_z(weights=w, initial_state=psi, qubits=self.encoder_readout)
                for w in self.encoder_weights]                                       # E x (B, Q_c)
        return torch.cat(outs, -1)

    def main_angles(self, x: torch.Tensor) -> torch.Tensor:
        """(B, E * Q_c) angles of the main module's RY encoding."""
        return self.input_scale * self.encoder_outputs(x)

    def main_z(self, angles: torch.Tensor) -> torch.Tensor:
        """(B, Q_m) <Z> of the main module's readout qubits."""
        return self.main.expectation_z(weights=self.main_weights, data=angles, qubits=self.main_readout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 384) -> (B, 2) logits."""
        return self.linear(self.main_z(self.main_angles(x)))

    # ---------------------------------------------------------------- export for other simulators
    def main_param_rows(self, angles: np.ndarray) -> np.ndarray:
        """(B, P) parameter rows in ``main_spec.symbols`` order (data first, then weights)."""
        w = self.main_weights.detach().cpu().numpy()
        return np.concatenate([np.asarray(angles, np.float64), np.broadcast_to(w, (len(angles), len(w)))], 1)

    def logits_from_z(self, z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.linear(torch.as_tensor(np.asarray(z, np.float64))).numpy()

    def num_params(self) -> int:
        """Trained parameters, counted from the tensors."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def param_breakdown(self) -> dict[str, int]:
        return {name: p.numel() for name, p in self.named_parameters()}


def expected_params(cfg: HeadConfig) -> int:
    """The count formula (docs/pqc_head.md): E * L_enc * 9 + [E * Q_c] + 2 * D * (C' * Q + Q) + (2 * Q_m + 2),
    C' = ranges c in 1..C with c mod Q != 0; [E * Q_c] angle scales only when trainable_scale;
    no_encoder drops the first term."""
    ranges = sum(1 for c in range(1, cfg.main_range + 1) if c % cfg.qubits)
    enc = cfg.encoders * cfg.encoder_layers * ENCODER_QUBITS if cfg.use_encoder else 0
    scales = cfg.n_inputs if cfg.trainable_scale else 0
    return enc + scales + 2 * cfg.main_depth * (ranges * cfg.qubits + cfg.qubits) + 2 * cfg.main_readout + 2


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
    if not cfg.use_encoder:  # the PCA buffers come from the state dict; shape them with a stand-in
        x_dummy = np.random.default_rng(0).normal(size=(cfg.n_inputs + 1, 384))
    model = PQCHead(cfg, x_train=x_dummy)
    model.load_state_dict(state)
    return model
