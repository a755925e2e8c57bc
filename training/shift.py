"""When what the model learned does not hold on the validation period, say so and say why.

Early stopping judges every boosting round on the validation period, the stretch of time
just before the test period. If the relation between a column and the outcome changed
from the training period to the validation period (a calling campaign switched from
landlines to mobiles, a new product changed who buys), the rounds that learned the old
relation make validation worse, early stopping keeps almost nothing, and the model ranks
leads barely better than chance, with no error anywhere.

:func:`validation_warning` turns that into a loud message: the model's validation AUC and,
for the features whose relation to the outcome changed most, that feature's AUC on the
training period and on the validation period. Each feature is scored alone by the
positive rate of its value (categorical) or of its training-quantile bin (numeric) on the
training period (cross-fitted there), so the same scoring is read on both periods, and a
relation that turned round shows as an AUC below 0.5 on validation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

WEAK_VALIDATION_AUC = 0.55  # below this the model ranks validation barely better than chance
FEW_ROUNDS = 10  # early stopping keeping fewer rounds than this leaves a nearly constant model
BINS = 20  # training-quantile bins for a numeric feature
SHOWN = 3  # features named in the warning
MIN_CHANGE = 0.05  # a feature's AUC drop from training to validation worth naming (and 2 SE)


def _encode(key: np.ndarray, y: np.ndarray, fit: np.ndarray, min_count: int) -> np.ndarray:
    """Each row's positive rate of its key among the ``fit`` rows (rare keys pooled)."""
    stats = pd.Series(y[fit]).groupby(key[fit]).agg(["sum", "count"])
    rare = stats["count"] < min_count
    pooled = stats[rare].sum()
    prior = float(y[fit].mean())
    rate = stats["sum"] / stats["count"]
    rate[rare] = pooled["sum"] / pooled["count"] if pooled["count"] > 0 else prior
    return pd.Series(key).map(rate).fillna(prior).to_numpy()


def _auc(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """AUC and its standard error (Hanley and McNeil, 1982)."""
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if pos == 0 or neg == 0:
        return 0.5, float("inf")
    a = float(roc_auc_score(y, score))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (pos - 1) * (q1 - a * a) + (neg - 1) * (q2 - a * a)) / (pos * neg)
    return a, float(np.sqrt(max(var, 0.0)))


def period_aucs(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, valid: np.ndarray, categorical: set[int], min_count: int
) -> list[tuple[int, float, float, float]]:
    """``(feature, AUC on training, AUC on validation, standard error of their difference)``.

    Each feature alone, scored by its training positive rate per value or per bin (values
    or bins with fewer than ``min_count`` training rows pooled, missing values their own
    group); ``train`` and ``valid`` are boolean masks of labelled rows. The training AUC is
    cross-fitted (each half of the training rows scored by the rates of the other half), so
    a column without signal scores about 0.5 there too rather than what its bins overfit.
    """
    rows = np.flatnonzero(train)
    half = np.zeros(len(y), dtype=bool)
    half[rows[np.random.default_rng(0).permutation(len(rows))[: len(rows) // 2]]] = True
    other = train & ~half
    out = []
    for j in range(X.shape[1]):
        x = X[:, j]
        if j in categorical:
            key = np.where(np.isnan(x), -1.0, x)
        else:
            finite = x[train][np.isfinite(x[train])]
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1])) if len(finite) else np.array([])
            key = np.where(np.isnan(x), -1.0, np.searchsorted(edges, x, side="right").astype(float))
        crossed = np.where(half, _encode(key, y, other, min_count), _encode(key, y, half, min_count))
        whole = _encode(key, y, train, min_count)
        (t, t_se), (v, v_se) = _auc(y[train], crossed[train]), _auc(y[valid], whole[valid])
        out.append((j, t, v, float(np.hypot(t_se, v_se))))
    return out


def validation_warning(
    name: str,
    valid_auc: float,
    rounds: int,
    max_rounds: int,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    labels: list[str],
    categorical: set[int],
    min_count: int,
) -> str | None:
    """The warning for target ``name``, or None when the model held on validation.

    It did not when its validation AUC is below ``WEAK_VALIDATION_AUC`` or early stopping
    kept fewer than ``FEW_ROUNDS`` of the ``max_rounds`` boosting rounds.
    """
    if valid_auc >= WEAK_VALIDATION_AUC and (rounds >= FEW_ROUNDS or rounds >= max_rounds):
        return None
    aucs = period_aucs(X, y, train, valid, categorical, min_count)
    # Named: a drop of at least MIN_CHANGE and twice its standard error (not sampling noise).
    changed = sorted((a for a in aucs if a[1] - a[2] > max(MIN_CHANGE, 2 * a[3])), key=lambda a: a[2] - a[1])[:SHOWN]
    text = (
        f"{name}: the model learned almost nothing that holds on the validation period "
        f"(validation AUC {valid_auc:.3f}; early stopping kept {rounds} of up to {max_rounds} "
        "boosting rounds), so its scores carry little ranking."
    )
    if changed:
        listed = ", ".join(f"{labels[j]} (AUC {t:.2f} on training, {v:.2f} on validation)" for j, t, v, _ in changed)
        text += f" The features whose relation to the outcome changed most: {listed}."
    return text + (
        " Check that the split's periods are comparable (split.by, split.validation_fraction, "
        "split.test_fraction) or leave such columns out (data.drop)."
    )
