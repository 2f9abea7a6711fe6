"""The declared search grids of the PQC heads (light: no torch import, used by the circuits stage).

Quantum variants (first module -> main module -> linear layer, docs/pqc_head.md):
  ``faithful``      amplitude-encoded encoder circuit(s) (the paper's head);
  ``pca_front``     fixed PCA-k front end (our deviation), k = E * Q_c;
  ``linear_front``  trained Linear(d -> k) + tanh front end (what third-party reproductions ran).
Grid per variant: ``lr`` x ``reupload_blocks``, and for ``faithful`` also the encoder's
``encoder_ansatz`` x ``encoder_layers`` x ``encoders`` (the other variants have no encoder circuit;
their k follows ``circuits.encoders`` so the size-matched classical heads see the same k inputs).
"""

from __future__ import annotations

import itertools

VARIANTS = {"faithful": "amplitude", "pca_front": "pca", "linear_front": "linear"}
ARCH_KEYS = ("encoder_ansatz", "encoder_layers", "encoders", "reupload_blocks")
ENCODER_KEYS = ("encoder_ansatz", "encoder_layers", "encoders")


def quantum_grid(search, variant: str) -> list[dict]:
    """Grid points (dicts of the searched keys) in declaration order."""
    keys = ["lr", "reupload_blocks"] + (list(ENCODER_KEYS) if variant == "faithful" else [])
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(getattr(search, k) for k in keys))]


def arch(circuits, point: dict) -> dict:
    """The circuit-shaping keys of a grid point, the rest from the circuits section."""
    return {k: point.get(k, getattr(circuits, k)) for k in ARCH_KEYS}


def arch_tag(a: dict) -> str:
    """Folder name of a grid architecture's circuits, e.g. ``chain-L2-E1-shared``."""
    return f"{a['encoder_ansatz']}-L{a['encoder_layers']}-E{a['encoders']}-{a['reupload_blocks']}"


def search_archs(circuits, search, variants: list[str]) -> dict[str, dict]:
    """Every architecture the search trains, by tag (the circuits stage writes each one)."""
    out = {}
    for v in variants:
        for point in quantum_grid(search, v):
            a = arch(circuits, point)
            out[arch_tag(a)] = a
    return out
