"""When what the model learned does not hold on the validation period, say so and say why.

Early stopping judges every boosting round on the validation period, the stretch of time
just before the test period. If the relation between a column and the outcome changed
from the training period to the validation period (a calling campaign switched from
landlines to mobiles, a new product changed who buys), the rounds that learned the old
relation make validation worse, early stopping keeps almost nothing, and the model ranks
leads barely better than chance, with no error anywhere.

:func:`validation_warning` turns that into a loud message: the model's validation AUC and,
for the features whose relation to the outcome fell most, that feature's AUC on the
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
MIN_SHRINKAGE = 0.5  # rounds kept × learning rate below this: a nearly constant model (10 rounds at 0.05)
BINS = 20  # training-quantile bins for a numeric feature
SHOWN = 3  # features named in the warning
MIN_CHANGE = 0.05  # a feature's AUC drop from training to validation worth naming (and 2 SE)


def positive_rates(key: np.ndarray, y: np.ndarray, fit: np.ndarray, min_count: int) -> np.ndarray:
    """Each row's positive rate of its key among the ``fit`` rows.

    Keys with fewer than ``min_count`` fit rows, and keys the fit rows do not have, share
    the rate of those rare keys pooled (the overall rate if there are none).
    """
    stats = pd.Series(y[fit]).groupby(key[fit]).agg(["sum", "count"])
    rare = stats["count"] < min_count
    pooled = stats[rare].sum()
    other = float(pooled["sum"] / pooled["count"]) if pooled["count"] > 0 else float(y[fit].mean())
    rate = (stats["sum"] / stats["count"]).where(~rare, other)
    return pd.Series(key).map(rate).fillna(other).to_numpy()


def auc_with_se(y: np.ndarray, score: np.ndarray, rows_per_group: float = 1.0) -> tuple[float, float]:
    """AUC and its standard error (Hanley and McNeil, 1982).

    ``rows_per_group``: rows come in groups that share their label and most features (the
    snapshots of one lead); the counts are divided by it, so the error is that of as many
    independent rows as there are groups.
    """
    pos, neg = float(y.sum()) / rows_per_group, float(len(y) - y.sum()) / rows_per_group
    if y.sum() == 0 or y.sum() == len(y):
        return 0.5, float("inf")
    a = float(roc_auc_score(y, score))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + max(pos - 1, 0) * (q1 - a * a) + max(neg - 1, 0) * (q2 - a * a)) / max(pos * neg, 1e-12)
    return a, float(np.sqrt(max(var, 0.0)))


def period_aucs(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    categorical: set[int],
    min_count: int,
) -> list[tuple[int, float, float, float]]:
    """``(feature, AUC on training, AUC on validation, standard error of their difference)``.

    Each feature alone, scored by its training positive rate per value or per
    training-quantile bin (rare values or bins pooled, missing values their own group);
    ``train`` and ``valid`` are boolean masks of labelled rows, ``groups`` the lead of each
    row. The training AUC is cross-fitted: each half of the training leads is scored by the
    rates of the other half, so a column without signal scores about 0.5 there too rather
    than what its bins overfit, and a lead's snapshots never score each other.
    """
    rows = np.flatnonzero(train | valid)
    X, y, groups, train, valid = X[rows], y[rows], groups[rows], train[rows], valid[rows]
    _, lead = np.unique(groups, return_inverse=True)
    half = (np.random.default_rng(0).random(lead.max() + 1) < 0.5)[lead] & train
    other = train & ~half
    per_lead = [max(m.sum() / max(len(np.unique(lead[m])), 1), 1.0) for m in (train, valid)]
    out = []
    for j in range(X.shape[1]):
        x = X[:, j]
        if j in categorical:
            key = np.where(np.isnan(x), -1.0, x)
        else:
            finite = x[train][np.isfinite(x[train])]
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1])) if len(finite) else np.array([])
            key = np.where(np.isnan(x), -1.0, np.searchsorted(edges, x, side="right").astype(float))
        crossed = np.where(half, positive_rates(key, y, other, min_count), positive_rates(key, y, half, min_count))
        whole = positive_rates(key, y, train, min_count)
        t, t_se = auc_with_se(y[train], crossed[train], per_lead[0])
        v, v_se = auc_with_se(y[valid], whole[valid], per_lead[1])
        out.append((j, t, v, float(np.hypot(t_se, v_se))))
    return out


def validation_warning(
    name: str,
    valid_auc: float,
    rounds: int,
    max_rounds: int,
    learning_rate: float,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    labels: list[str],
    categorical: set[int],
    min_count: int,
) -> str | None:
    """The warning for target ``name``, or None when the model held on validation.

    It did not when its validation AUC is below ``WEAK_VALIDATION_AUC``, or when early
    stopping kept so few rounds that, at ``learning_rate``, the trees add up to less than
    ``MIN_SHRINKAGE`` (fewer than 10 rounds at the default 0.05; not when all
    ``max_rounds`` were kept). ``train`` is the rows the booster was trained on, ``valid``
    the validation rows, ``groups`` the lead of each row.
    """
    weak = valid_auc < WEAK_VALIDATION_AUC
    few = rounds * learning_rate < MIN_SHRINKAGE and rounds < max_rounds
    if not (weak or few):
        return None
    aucs = period_aucs(X, y, groups, train, valid, categorical, min_count)
    # Named: a drop of at least MIN_CHANGE and twice its standard error (not sampling noise).
    changed = sorted((a for a in aucs if a[1] - a[2] > max(MIN_CHANGE, 2 * a[3])), key=lambda a: a[2] - a[1])[:SHOWN]
    kept = f"early stopping kept {rounds} of up to {max_rounds} boosting rounds at learning rate {learning_rate:g}"
    if weak:
        text = (
            f"{name}: the model ranks the validation period barely better than chance (validation "
            f"AUC {valid_auc:.3f}; {kept}): what it learned on the training period does not hold there."
        )
    else:
        text = (
            f"{name}: {kept}, so the model is close to a constant (validation AUC "
            f"{valid_auc:.3f}): the rounds after those made the validation period worse."
        )
    if changed:
        listed = ", ".join(f"{labels[j]} (AUC {t:.2f} on training, {v:.2f} on validation)" for j, t, v, _ in changed)
        text += f" The features whose relation to the outcome fell most from training to validation: {listed}."
    return text + (
        " Check that the split's periods are comparable (split.by, split.validation_fraction, "
        "split.test_fraction) or leave such columns out (data.drop)."
    )
