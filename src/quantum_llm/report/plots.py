"""The report's figures.

The stages already draw their own plots next to their metrics (QPA perplexity vs shots and vs
qubits, PQC-head accuracy vs qubits and vs noise, the energy cross-over): the report copies those
files, so each figure has one source. Only the QISA training curves have no stage plot (DVC draws
them from the curve files interactively), so they are drawn here from the same JSON.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io import pyplot, save_png

plt = pyplot()

SIZE = (6.0, 3.8)
DPI = 110
# PNG metadata: no software version, so the image bytes depend only on the data.
META = {"Software": None}


def _save(fig, out: Path) -> None:
    fig.tight_layout()
    save_png(fig, out, dpi=DPI, metadata=META)


def qisa_curves(curves: dict[str, list[list[dict]]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=SIZE)
    for i, (variant, runs) in enumerate(sorted(curves.items())):
        steps = [p["step"] for p in runs[0]]
        n = min(len(r) for r in runs)
        vals = np.array([[p["val_loss"] for p in r[:n]] for r in runs])
        ax.plot(steps[:n], vals.mean(0), color=f"C{i}", label=variant)
        ax.fill_between(steps[:n], vals.min(0), vals.max(0), color=f"C{i}", alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (nats / char)")
    ax.set_title("QISA vs CSA: training curves")
    ax.legend(fontsize=8)
    _save(fig, out)


def copy(source: Path, out: Path) -> None:
    shutil.copyfile(source, out)


DRAW: dict[str, Callable[[Any, Path], None]] = {"copy": copy, "qisa_curves": qisa_curves}
