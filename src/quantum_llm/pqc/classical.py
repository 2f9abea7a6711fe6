"""Classical heads on the same frozen embeddings and data seeds (scikit-learn), with parameter
counts; every head's grid is searched on the seed's validation split (best validation accuracy,
ties -> first in grid order); the test split only gives the reported accuracy.

Heads (grids from params ``pqc.classical``):
  ``majority``    the training split's majority class (chance line; no parameters);
  ``logreg``      LogisticRegression(C) on the d-dimensional embedding, C in ``logreg_c``;
  ``mlp``         MLPClassifier(hidden=(w,), relu, adam, lr), w in ``mlp_widths`` x lr in
                  ``mlp_lr``, trained one epoch at a time for up to ``mlp_epochs`` epochs, the
                  best validation epoch kept (early stopping on our validation split);
  ``svc``         SVC(rbf, C, gamma), C in ``svc_c`` x gamma in ``svc_gamma``;
  ``logreg_pca``  size-matched: LogisticRegression(C) on the same k PCA inputs as the quantum
                  ``pca_front`` head (the same reduction fitted on the seed's training split);
  ``mlp_pca``     size-matched: an MLP on those k inputs whose width makes its parameter count
                  about the quantum head's (w = round((P_q - 1) / (k + 2))), lr in ``mlp_lr``.
Parameter counts (from the fitted estimators): logreg coef_ + intercept_; MLP all weights and
biases (one logistic output unit); SVC n_SV * d (support vectors) + n_SV (dual coefficients) + 1.
"""

from __future__ import annotations

import copy
import itertools
import logging
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from .data import Split

log = logging.getLogger(__name__)


def param_count(est) -> int:
    if isinstance(est, LogisticRegression):
        return int(est.coef_.size + est.intercept_.size)
    if isinstance(est, MLPClassifier):
        return int(sum(c.size for c in est.coefs_) + sum(b.size for b in est.intercepts_))
    if isinstance(est, SVC):
        return int(est.support_vectors_.size + est.dual_coef_.size + est.intercept_.size)
    raise TypeError(f"no parameter count for {type(est).__name__}")


def fit_mlp(width: int, lr: float, train: Split, val: Split, *, epochs: int, seed: int) -> tuple[MLPClassifier, int]:
    """One epoch per call (warm_start, max_iter=1); keep the best validation epoch (ties -> earliest)."""
    mlp = MLPClassifier(hidden_layer_sizes=(width,), max_iter=1, warm_start=True, random_state=seed,
                        learning_rate_init=lr, batch_size=64)
    best, best_acc, best_epoch = None, -1.0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 is deliberate
        for epoch in range(1, epochs + 1):
            mlp.fit(train.x, train.y)
            acc = mlp.score(val.x, val.y)
            if acc > best_acc:
                best, best_acc, best_epoch = copy.deepcopy(mlp), acc, epoch
    return best, best_epoch


def majority(train: Split, test: Split) -> dict:
    cls = int(np.bincount(train.y, minlength=2).argmax())
    return {"params": 0, "val_acc": None, "test_acc": 100 * float((test.y == cls).mean()), "class": cls,
            "grid_size": 0}


def search(points: list[dict], fit: Callable[[dict], tuple[object, dict]], splits: dict[str, Split]) -> dict:
    """Fit every grid point, keep the best validation accuracy (ties -> first); test only for the selected one."""
    results, best = [], None
    for point in points:
        est, extra = fit(point)
        val = 100 * est.score(splits["validation"].x, splits["validation"].y)
        results.append({"point": point, "val_acc": val, **extra})
        if best is None or val > best[0]:
            best = (val, len(results) - 1, est)
    val, idx, est = best
    return {"params": param_count(est), "val_acc": val, "test_acc": 100 * est.score(splits["test"].x, splits["test"].y),
            "selected_point": points[idx], "grid_size": len(points), "grid": results}


def grid(**axes) -> list[dict]:
    keys = list(axes)
    return [dict(zip(keys, v, strict=True)) for v in itertools.product(*axes.values())]


def classical_heads(splits: dict[str, Split], pca_splits: dict[str, Split], *, seed: int, c, quantum_params: int) -> dict:
    """One record per head for one data seed; ``pca_splits`` hold the k PCA inputs of the pca_front head."""
    tr, va = splits["train"], splits["validation"]
    k = pca_splits["train"].x.shape[1]
    width = max(1, round((quantum_params - 1) / (k + 2)))
    out = {"majority": majority(tr, splits["test"])}
    out["logreg"] = search(grid(C=c.logreg_c), lambda q: (
        LogisticRegression(C=q["C"], max_iter=5000, random_state=seed).fit(tr.x, tr.y), {}), splits)
    out["mlp"] = search(grid(width=c.mlp_widths, lr=c.mlp_lr), lambda q: _mlp(q, tr, va, c.mlp_epochs, seed), splits)
    out["svc"] = search(grid(C=c.svc_c, gamma=c.svc_gamma), lambda q: (
        SVC(C=q["C"], kernel="rbf", gamma=q["gamma"], random_state=seed).fit(tr.x, tr.y), {}), splits)
    ptr, pva = pca_splits["train"], pca_splits["validation"]
    out["logreg_pca"] = search(grid(C=c.logreg_c), lambda q: (
        LogisticRegression(C=q["C"], max_iter=5000, random_state=seed).fit(ptr.x, ptr.y), {}), pca_splits)
    out["mlp_pca"] = search(grid(width=[width], lr=c.mlp_lr), lambda q: _mlp(q, ptr, pva, c.mlp_epochs, seed), pca_splits)
    out["mlp_pca"]["size_matched_to"] = quantum_params
    for name, r in out.items():
        log.info("seed %d %s: test %.2f (params %d)", seed, name, r["test_acc"], r["params"])
    return out


def _mlp(q: dict, tr: Split, va: Split, epochs: int, seed: int):
    est, epoch = fit_mlp(q["width"], q["lr"], tr, va, epochs=epochs, seed=seed)
    return est, {"epoch": epoch}
