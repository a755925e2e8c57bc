"""Evaluation metrics for binary lead scores.

Pure functions of ``(y_true, p)``: no I/O, no MLflow. Every function accepts any 1-D
array-like of labels in {0, 1} and of scores (probabilities for the calibration metrics,
any real-valued ranking score for the ranking metrics).

Conventions shared by all functions
-----------------------------------
* **Ranking order.** Rows are ranked by *descending* score with a *stable* sort, so tied
  scores keep their input order (earlier row first). This makes ``lift_top10``,
  ``capture_top10`` and :func:`gain_curve` deterministic under ties.
* **Top fraction.** The top ``top_frac`` of ``n`` rows is the first
  ``k = ceil(top_frac * n)`` rows of that order (at least 1 row when ``n > 0``).
* **Calibration bins.** ``strategy="quantile"`` (the default) uses equal-frequency bins:
  the edges are the ``0, 1/n_bins, ..., 1`` quantiles of ``p``; a value equal to an interior
  edge falls in the lower bin; tied predictions always share a bin, so when there are many
  ties some edges coincide and fewer, unequal bins result. Empty bins are dropped.
  ``strategy="uniform"`` uses ``n_bins`` equal-width bins on [0, 1]. These are the
  conventions of :func:`sklearn.calibration.calibration_curve`.
* **Degenerate input.** Empty input, or labels of one class only, never raise: metrics that
  are undefined for that input are ``nan``. Inputs of different lengths, labels outside
  {0, 1} or non-finite scores are caller bugs and raise :class:`ValueError`.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

__all__ = [
    "LOG_LOSS_EPS",
    "METRIC_KEYS",
    "evaluate_scores",
    "expected_calibration_error",
    "gain_curve",
    "reliability_curve",
    "top_k",
]

LOG_LOSS_EPS = 1e-7
"""Probabilities are clipped to ``[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]`` for the log loss."""

METRIC_KEYS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "lift_top10",
    "capture_top10",
    "ks",
    "positives",
    "rows",
    "base_rate",
)
"""The keys of :func:`evaluate_scores`, in order."""

BinStrategy = Literal["quantile", "uniform"]


def _check(y_true: object, p: object) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y, p)`` as 1-D ``float64`` arrays after validating them."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and p have different lengths: {y.size} != {s.size}")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must contain only 0 and 1")
    if not np.isfinite(s).all():
        raise ValueError("p contains NaN or infinite values")
    return y, s


def top_k(n: int, top_frac: float) -> int:
    """Number of rows in the top ``top_frac`` of ``n`` rows.

    Parameters
    ----------
    n : int
        Number of rows.
    top_frac : float
        Fraction in (0, 1].

    Returns
    -------
    int
        ``ceil(top_frac * n)`` (with a tolerance for floating-point error, so that
        ``0.1 * 30`` gives 3), at least 1 when ``n > 0``, at most ``n``.
    """
    if not 0.0 < top_frac <= 1.0:
        raise ValueError(f"top_frac must be in (0, 1], got {top_frac}")
    if n <= 0:
        return 0
    return min(n, max(1, math.ceil(top_frac * n - 1e-9)))


def _rank_order(p: np.ndarray) -> np.ndarray:
    """Indices sorting ``p`` by descending score, ties in input order."""
    return np.argsort(-p, kind="stable")


def _bin_ids(p: np.ndarray, n_bins: int, strategy: BinStrategy) -> np.ndarray:
    """Bin index of every prediction (see the module docstring for the rule)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    return np.searchsorted(edges[1:-1], p, side="left")


def reliability_curve(
    y_true: np.ndarray,
    p: np.ndarray,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability (calibration) curve: mean prediction against observed rate per bin.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels in {0, 1}.
    p : array-like of shape (n,)
        Predicted probabilities.
    n_bins : int, default 10
        Number of bins before empty ones are dropped.
    strategy : {"quantile", "uniform"}, default "quantile"
        Equal-frequency or equal-width bins (see the module docstring).

    Returns
    -------
    mean_pred : ndarray
        Mean predicted probability in each non-empty bin, increasing.
    frac_pos : ndarray
        Fraction of positives in each non-empty bin.
    counts : ndarray of int64
        Number of rows in each non-empty bin (sums to ``n``).
        All three arrays are empty when the input is empty.
    """
    y, s = _check(y_true, p)
    if y.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), np.empty(0, dtype=np.int64)
    ids = _bin_ids(s, n_bins, strategy)
    counts = np.bincount(ids, minlength=n_bins)
    sum_p = np.bincount(ids, weights=s, minlength=n_bins)
    sum_y = np.bincount(ids, weights=y, minlength=n_bins)
    keep = counts > 0
    c = counts[keep]
    return sum_p[keep] / c, sum_y[keep] / c, c.astype(np.int64)


def expected_calibration_error(
    y_true: np.ndarray,
    p: np.ndarray,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
) -> float:
    """Expected calibration error (ECE).

    ``ECE = sum_b (n_b / n) * |mean(p in b) - mean(y in b)|`` over the non-empty bins ``b``
    of :func:`reliability_curve`: the bin-size-weighted mean absolute gap between predicted
    and observed rate. With the default equal-frequency bins every bin holds about
    ``n / n_bins`` rows (ties permitting).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels in {0, 1}.
    p : array-like of shape (n,)
        Predicted probabilities.
    n_bins : int, default 10
        Number of bins.
    strategy : {"quantile", "uniform"}, default "quantile"
        Equal-frequency or equal-width bins.

    Returns
    -------
    float
        ECE in [0, 1]; ``nan`` for empty input.
    """
    mean_pred, frac_pos, counts = reliability_curve(y_true, p, n_bins, strategy)
    if counts.size == 0:
        return math.nan
    return float(np.sum(counts * np.abs(mean_pred - frac_pos)) / counts.sum())


def gain_curve(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gain curve.

    Rows are ranked by descending score (stable; ties in input order) and, after each row,
    the share of all leads contacted so far is paired with the share of all positives
    found so far.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels in {0, 1}.
    p : array-like of shape (n,)
        Scores; only their order matters.

    Returns
    -------
    share_of_leads : ndarray of shape (n + 1,)
        ``0, 1/n, ..., 1``.
    share_of_positives : ndarray of shape (n + 1,)
        Starts at 0 and ends at 1; all ``nan`` when there are no positives.
        Both arrays are ``[0.]`` for empty input (``share_of_positives`` then ``[nan]``).
    """
    y, s = _check(y_true, p)
    n = y.size
    share_leads = np.arange(n + 1, dtype=np.float64) / max(n, 1)
    n_pos = y.sum()
    if n_pos == 0:
        return share_leads, np.full(n + 1, np.nan)
    cum = np.concatenate(([0.0], np.cumsum(y[_rank_order(s)])))
    return share_leads, cum / n_pos


def evaluate_scores(
    y_true: np.ndarray,
    p: np.ndarray,
    top_frac: float = 0.1,
    n_bins: int = 10,
) -> dict[str, float]:
    """All evaluation metrics of DESIGN.md for one set of scores.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels in {0, 1}.
    p : array-like of shape (n,)
        Predicted probabilities (the calibration metrics assume probabilities; the
        ranking metrics use only the order).
    top_frac : float, default 0.1
        Fraction of leads for ``lift_top10`` / ``capture_top10`` (the key names stay the
        same whatever the fraction).
    n_bins : int, default 10
        Number of equal-frequency bins for the ECE.

    Returns
    -------
    dict[str, float]
        Keys exactly :data:`METRIC_KEYS`:

        ``roc_auc``
            Area under the ROC curve (ties count one half). ``nan`` unless both classes.
        ``pr_auc``
            Average precision (step-wise area under the precision–recall curve, as
            :func:`sklearn.metrics.average_precision_score`). ``nan`` unless both classes.
        ``log_loss``
            Mean negative log-likelihood with ``p`` clipped to
            ``[1e-7, 1 - 1e-7]``. ``nan`` if empty.
        ``brier``
            Mean squared error of ``p`` against ``y``. ``nan`` if empty.
        ``ece``
            :func:`expected_calibration_error` with ``n_bins`` quantile bins. ``nan`` if
            empty.
        ``lift_top10``
            Positive rate among the top ``ceil(top_frac * n)`` rows (descending score,
            stable) divided by the base rate. ``nan`` if empty or no positives.
        ``capture_top10``
            Share of all positives that are in those top rows. ``nan`` if empty or no
            positives.
        ``ks``
            Kolmogorov–Smirnov statistic ``max |TPR - FPR|`` over all thresholds (tied
            scores move together). ``nan`` unless both classes.
        ``positives``, ``rows``
            Counts, as floats.
        ``base_rate``
            ``positives / rows``; ``nan`` if empty.
    """
    y, s = _check(y_true, p)
    n = y.size
    n_pos = float(y.sum())
    out: dict[str, float] = dict.fromkeys(METRIC_KEYS, math.nan)
    out["positives"] = n_pos
    out["rows"] = float(n)
    if n == 0:
        return out
    base_rate = n_pos / n
    out["base_rate"] = base_rate

    pc = np.clip(s, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    out["log_loss"] = float(-np.mean(y * np.log(pc) + (1.0 - y) * np.log1p(-pc)))
    out["brier"] = float(np.mean((s - y) ** 2))
    out["ece"] = expected_calibration_error(y, s, n_bins=n_bins)

    if n_pos > 0:
        k = top_k(n, top_frac)
        top_pos = float(y[_rank_order(s)[:k]].sum())
        out["lift_top10"] = (top_pos / k) / base_rate
        out["capture_top10"] = top_pos / n_pos

    if 0 < n_pos < n:
        out["roc_auc"] = float(roc_auc_score(y, s))
        out["pr_auc"] = float(average_precision_score(y, s))
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        out["ks"] = float(np.max(np.abs(tpr - fpr)))
    return out


def auc_difference_se(
    y_true: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    groups: np.ndarray,
    n_resamples: int = 100,
    seed: int = 0,
) -> float:
    """Bootstrap standard error of ``AUC(a) - AUC(b)`` on the same rows.

    Resamples whole groups (a lead's snapshots together: they share the lead's outcome), so
    the error is that of the test period's sample of leads, not of its correlated rows.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels in {0, 1}.
    a, b : array-like of shape (n,)
        Two sets of scores of the same rows (for example the oracle and the model).
    groups : array-like of shape (n,)
        Group of each row (the lead).
    n_resamples : int, default 100
        Bootstrap resamples; resamples with a single class are skipped.
    seed : int, default 0
        Seed of the resampling.

    Returns
    -------
    float
        The standard deviation of the difference over the resamples (NaN with fewer than two).
    """
    y, pa = _check(y_true, a)
    _, pb = _check(y_true, b)
    g = np.asarray(groups)
    if len(g) != len(y):
        raise ValueError(f"groups has {len(g)} values for {len(y)} rows")
    _, code = np.unique(g, return_inverse=True)
    order = np.argsort(code, kind="stable")
    starts = np.searchsorted(code[order], np.arange(code.max() + 1 if len(code) else 0))
    sizes = np.diff(np.append(starts, len(order)))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_resamples):
        pick = rng.integers(0, len(sizes), len(sizes))
        rows = order[np.repeat(starts[pick], sizes[pick]) + _ranges(sizes[pick])]
        yy = y[rows]
        if yy.min() == yy.max():
            continue
        diffs.append(roc_auc_score(yy, pa[rows]) - roc_auc_score(yy, pb[rows]))
    return float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s) for s in sizes])`` without the loop."""
    total = int(sizes.sum())
    offsets = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total) - offsets
