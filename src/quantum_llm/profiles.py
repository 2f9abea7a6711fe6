"""Params profiles: flat ``dotted.key: value`` overrides applied with ``dvc exp run -S``.

``quantum-llm exp --profile paper`` reads ``profiles/paper.yaml`` (or a given file), checks every
key against params.yaml and every resulting value against the params schema
(:func:`quantum_llm.config.validate_all`) before anything runs, and then runs
``dvc exp run -S key=value ... [extra arguments]``. A bad key or value is one line naming it.
"""

from __future__ import annotations

import copy
import difflib
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .config import PARAMS_FILE, ParamsError, read_params, validate_all

PROFILES_DIR = Path("profiles")


def profile_path(name: str) -> Path:
    """``paper`` -> profiles/paper.yaml; a path to a YAML file is taken as it is."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml"):
        return p
    return PROFILES_DIR / f"{name}.yaml"


def read_profile(path: Path) -> dict[str, Any]:
    if not path.is_file():
        known = sorted(f.stem for f in PROFILES_DIR.glob("*.yaml")) if PROFILES_DIR.is_dir() else []
        raise ParamsError(f"{path}: profile not found (known profiles: {', '.join(known) or 'none'}; "
                          "run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict) or any(not isinstance(k, str) or isinstance(v, dict) for k, v in raw.items()):
        raise ParamsError(f"{path}: a profile is a flat mapping of dotted params keys to values "
                          "(e.g. `qisa.train.max_iters: 1840`)")
    return raw


def _leaves(d: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        out += _leaves(v, key + ".") if isinstance(v, dict) else [key]
    return out


def apply_overrides(params: dict[str, Any], overrides: dict[str, Any], source: Path) -> dict[str, Any]:
    """A copy of ``params`` with the overrides set; a key that params.yaml lacks is an error."""
    out = copy.deepcopy(params)
    for key, value in overrides.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or last not in node or isinstance(node[last], dict):
            close = difflib.get_close_matches(key, _leaves(params), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ParamsError(f"{source}: {key} is not a params key in {PARAMS_FILE}{hint}")
        node[last] = value
    return out


def validate_profile(overrides: dict[str, Any], source: Path, params_file: str | Path = PARAMS_FILE) -> None:
    """Check the overridden params against the schema without touching params.yaml."""
    merged = apply_overrides(read_params(params_file), overrides, source)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(merged, sort_keys=False))
        try:
            validate_all(path)
        except ParamsError as e:
            raise ParamsError(str(e).replace(str(path), f"{source} (applied to {params_file})")) from None


def exp_command(overrides: dict[str, Any], extra: list[str]) -> list[str]:
    """``dvc exp run -S key=value ...`` (values as JSON, which DVC reads as YAML) plus ``extra``."""
    sets = [a for k, v in overrides.items() for a in ("-S", f"{k}={json.dumps(v)}")]
    return ["dvc", "exp", "run", *sets, *extra]
