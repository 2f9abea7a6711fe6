"""Classical heads on the same frozen embeddings and splits (scikit-learn), with parameter counts.

Heads and fixed hyperparameters (no search; the validation split only selects MLP epochs):
  ``logreg``      LogisticRegression(C=lr_c, lbfgs);
  ``mlp<w>``      MLPClassifier(hidden=(w,), relu, adam), trained one epoch at a time for up to
                  ``mlp_epochs`` epochs; the epoch with the best validation accuracy is kept
                  (ties -> earliest): early stopping on our validation split, not sklearn's own;
  ``svc_c<C>``    SVC(C, rbf kernel, gamma="scale").
Parameter counts (from the fitted estimators):
  logreg: coef_.size + intercept_.size = 384 + 1;
  mlp: sum of coefs_ and intercepts_ sizes = 384 w + w + w + 1 (one logistic output unit);
  svc: the numbers the decision function stores: n_SV * 384 (support vectors) + n_SV (dual
       coefficients) + 1 (intercept) -- it grows with the data, unlike the other heads.
LogisticRegression and SVC are deterministic: their seeds give identical results (std 0).
"""

from __future__ import annotations

import copy
import logging
import warnings

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


def fit_mlp(width: int, train: Split, val: Split, *, epochs: int, seed: int) -> tuple[MLPClassifier, int]:
    """One epoch per partial_fit-style call (warm_start, max_iter=1); keep the best validation epoch."""
    mlp = MLPClassifier(hidden_layer_sizes=(width,), max_iter=1, warm_start=True, random_state=seed,
                        learning_rate_init=1e-3, batch_size=32)
    best, best_acc, best_epoch = None, -1.0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 is deliberate
        for epoch in range(1, epochs + 1):
            mlp.fit(train.x, train.y)
            acc = mlp.score(val.x, val.y)
            if acc > best_acc:
                best, best_acc, best_epoch = copy.deepcopy(mlp), acc, epoch
    return best, best_epoch


def classical_heads(train: Split, val: Split, test: Split, *, seeds: list[int], mlp_widths: list[int],
                    svc_c: list[float], lr_c: float, mlp_epochs: int) -> list[dict]:
    """One row per head: name, params, per-seed test/val accuracy in percent."""
    makers = {"logreg": lambda s: LogisticRegression(C=lr_c, max_iter=5000, random_state=s)}
    for c in svc_c:
        makers[f"svc_c{c:g}"] = lambda s, c=c: SVC(C=c, kernel="rbf", gamma="scale", random_state=s)
    rows = []
    for name, make in makers.items():
        runs = []
        for s in seeds:
            est = make(s).fit(train.x, train.y)
            runs.append({"seed": s, "params": param_count(est), "val_acc": 100 * est.score(val.x, val.y),
                         "test_acc": 100 * est.score(test.x, test.y)})
        rows.append({"head": name, "runs": runs})
    for w in mlp_widths:
        runs = []
        for s in seeds:
            est, epoch = fit_mlp(w, train, val, epochs=mlp_epochs, seed=s)
            runs.append({"seed": s, "params": param_count(est), "epoch": epoch, "val_acc": 100 * est.score(val.x, val.y),
                         "test_acc": 100 * est.score(test.x, test.y)})
        rows.append({"head": f"mlp{w}", "runs": runs})
    for r in rows:
        log.info("%s: test %s", r["head"], [round(x["test_acc"], 2) for x in r["runs"]])
    return rows
