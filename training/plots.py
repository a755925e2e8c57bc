"""Evaluation figures logged with each training run.

Every function builds a :class:`matplotlib.figure.Figure` directly (not through
``pyplot``), so it neither selects nor changes a backend, needs no display, and does not
register the figure in pyplot's global list: it is rendered by Agg when saved
(``fig.savefig(path)`` or ``mlflow.log_figure(fig, "x.png")``). The caller owns the figure;
``plt.close(fig)`` is harmless and dropping the last reference frees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from training.metrics import expected_calibration_error, gain_curve, reliability_curve

__all__ = [
    "gain_figure",
    "importance_figure",
    "reasons_figure",
    "reliability_figure",
    "roc_pr_figure",
]

POSITIVE_COLOUR = "#1f77b4"
NEGATIVE_COLOUR = "#d62728"
_MAX_POINTS = 2000


def _thin(x: np.ndarray, y: np.ndarray, max_points: int = _MAX_POINTS) -> tuple[np.ndarray, ...]:
    """At most ``max_points`` evenly spaced points of a curve (keeping both ends)."""
    if x.size <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(np.int64))
    return x[idx], y[idx]


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


def _undefined(ax: Axes, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"{what} undefined\n(needs both classes)",
        ha="center",
        va="center",
        transform=ax.transAxes,
    )


def roc_pr_figure(y: np.ndarray, scores: Mapping[str, np.ndarray], title: str) -> Figure:
    """ROC and precision–recall curves side by side.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels in {0, 1}.
    scores : mapping of str to array-like of shape (n,)
        Scores per model, e.g. ``{"model": p, "scorecard": ..., "logistic": ...}``; the
        first entry is drawn thickest. AUC / average precision are in the legend.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: ROC (left), PR (right).
    """
    yy = np.asarray(y, dtype=np.float64).ravel()
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    ax_roc.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="random (0.500)")
    if _both_classes(yy):
        ax_pr.axhline(yy.mean(), ls="--", color="grey", lw=1, label=f"random ({yy.mean():.3f})")
        for i, (name, s) in enumerate(scores.items()):
            ss = np.asarray(s, dtype=np.float64).ravel()
            lw = 2.2 if i == 0 else 1.3
            fpr, tpr, _ = roc_curve(yy, ss)
            auc = float(np.trapezoid(tpr, fpr))
            ax_roc.plot(*_thin(fpr, tpr), lw=lw, label=f"{name} ({auc:.3f})")
            prec, rec, _ = precision_recall_curve(yy, ss)
            ap = float(average_precision_score(yy, ss))
            ax_pr.step(*_thin(rec, prec), where="post", lw=lw, label=f"{name} ({ap:.3f})")
    else:
        _undefined(ax_roc, "ROC")
        _undefined(ax_pr, "PR")
    ax_roc.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="ROC (AUC)",
    )
    ax_pr.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="Precision–recall (average precision)",
    )
    for ax in (ax_roc, ax_pr):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right" if ax is ax_roc else "upper right", fontsize="small")
    fig.suptitle(title)
    return fig


def reliability_figure(y: np.ndarray, p: np.ndarray, title: str, n_bins: int = 10) -> Figure:
    """Reliability diagram (equal-frequency bins) over a histogram of the predictions.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels in {0, 1}.
    p : array-like of shape (n,)
        Predicted probabilities.
    title : str
        Figure title.
    n_bins : int, default 10
        Quantile bins of the diagram (same bins as the ECE).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: reliability curve (top) and count histogram of ``p`` (bottom).
    """
    yy = np.asarray(y, dtype=np.float64).ravel()
    pp = np.asarray(p, dtype=np.float64).ravel()
    fig = Figure(figsize=(6, 7), layout="constrained")
    ax_rel, ax_hist = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    mean_pred, frac_pos, _counts = reliability_curve(yy, pp, n_bins=n_bins)
    ece = expected_calibration_error(yy, pp, n_bins=n_bins)
    hi = float(max(pp.max(initial=0.0), frac_pos.max(initial=0.0), 0.05)) * 1.05
    hi = min(hi, 1.0)
    ax_rel.plot([0, hi], [0, hi], ls="--", color="grey", lw=1, label="perfectly calibrated")
    ax_rel.plot(mean_pred, frac_pos, marker="o", lw=1.8, label=f"model (ECE {ece:.4f})")
    ax_rel.set(
        ylabel="observed positive rate",
        xlim=(0, hi),
        ylim=(0, hi),
        title=f"Reliability ({n_bins} equal-frequency bins)",
    )
    ax_rel.grid(alpha=0.3)
    ax_rel.legend(loc="upper left", fontsize="small")
    ax_hist.hist(pp, bins=50, range=(0, hi), color=POSITIVE_COLOUR, alpha=0.8)
    ax_hist.set(xlabel="predicted probability", ylabel="leads")
    ax_hist.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def gain_figure(y: np.ndarray, scores: Mapping[str, np.ndarray], title: str) -> Figure:
    """Cumulative gain and cumulative lift curves, with the random-targeting lines.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels in {0, 1}.
    scores : mapping of str to array-like of shape (n,)
        Scores per model; the first entry is drawn thickest.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: cumulative gain (left), cumulative lift (right).
    """
    yy = np.asarray(y, dtype=np.float64).ravel()
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax_gain, ax_lift = fig.subplots(1, 2)
    ax_gain.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="random")
    ax_lift.axhline(1.0, ls="--", color="grey", lw=1, label="random")
    if yy.size and yy.sum() > 0:
        for i, (name, s) in enumerate(scores.items()):
            lw = 2.2 if i == 0 else 1.3
            leads, pos = gain_curve(yy, np.asarray(s, dtype=np.float64).ravel())
            ax_gain.plot(*_thin(leads, pos), lw=lw, label=name)
            # Cumulative lift; start at the first 1% so tiny prefixes do not dominate.
            start = max(1, int(np.ceil(0.01 * (leads.size - 1))))
            lx, ly = leads[start:], pos[start:] / leads[start:]
            ax_lift.plot(*_thin(lx, ly), lw=lw, label=name)
    else:
        ax_gain.text(
            0.5, 0.5, "no positives", ha="center", va="center", transform=ax_gain.transAxes
        )
    ax_gain.set(
        xlabel="share of leads contacted (by descending score)",
        ylabel="share of positives found",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="Cumulative gain",
    )
    ax_lift.set(
        xlabel="share of leads contacted (by descending score)",
        ylabel="lift",
        xlim=(0, 1),
        title="Cumulative lift",
    )
    ax_lift.set_ylim(bottom=0)
    for ax in (ax_gain, ax_lift):
        ax.axvline(0.1, color="black", lw=0.6, alpha=0.4)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is ax_gain else "upper right", fontsize="small")
    fig.suptitle(title)
    return fig


def _top(values: np.ndarray, top: int) -> np.ndarray:
    """Indices of the ``top`` largest values, largest first (stable for ties)."""
    return np.argsort(-values, kind="stable")[:top]


def importance_figure(names: Sequence[str], gains: np.ndarray, title: str, top: int = 25) -> Figure:
    """Horizontal bar chart of feature importance (e.g. LightGBM total gain).

    Parameters
    ----------
    names : sequence of str
        Feature names or human-readable labels.
    gains : array-like of shape (len(names),)
        Importance per feature.
    title : str
        Figure title.
    top : int, default 25
        Number of features shown, most important at the top.

    Returns
    -------
    matplotlib.figure.Figure
        One axes.
    """
    g = np.asarray(gains, dtype=np.float64).ravel()
    if g.size != len(names):
        raise ValueError(f"{len(names)} names but {g.size} gains")
    idx = _top(g, top)[::-1]
    fig = Figure(figsize=(8, 0.3 * max(len(idx), 4) + 1.2), layout="constrained")
    ax = fig.subplots()
    total = g.sum()
    share = g[idx] / total if total > 0 else np.zeros(idx.size)
    ax.barh(np.arange(idx.size), share, color=POSITIVE_COLOUR)
    ax.set_yticks(np.arange(idx.size), [str(names[i]) for i in idx], fontsize="small")
    ax.set(xlabel="share of total importance (gain)", title=title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def reasons_figure(
    names: Sequence[str],
    mean_abs_contrib: np.ndarray,
    mean_pos: np.ndarray,
    mean_neg: np.ndarray,
    title: str,
    top: int = 20,
) -> Figure:
    """Summary of reasons: how much, and in which direction, each feature moves scores.

    Parameters
    ----------
    names : sequence of str
        Feature names or labels.
    mean_abs_contrib : array-like
        Mean absolute contribution per feature (e.g. mean ``|SHAP|`` in log-odds).
    mean_pos : array-like
        Mean positive part of the contribution per feature (``mean(max(c, 0))``).
    mean_neg : array-like
        Mean negative part per feature (``mean(min(c, 0))``); positive magnitudes are
        accepted too and drawn as negative.
    title : str
        Figure title.
    top : int, default 20
        Features shown, ranked by ``mean_abs_contrib``.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing the feature axis: left, mean ``|contribution|`` coloured by the sign
        of the net mean contribution (blue raises, red lowers the score); right, the
        positive and negative parts as diverging bars.
    """
    a = np.asarray(mean_abs_contrib, dtype=np.float64).ravel()
    pos = np.abs(np.asarray(mean_pos, dtype=np.float64).ravel())
    neg = -np.abs(np.asarray(mean_neg, dtype=np.float64).ravel())
    if not (a.size == pos.size == neg.size == len(names)):
        raise ValueError("names, mean_abs_contrib, mean_pos and mean_neg differ in length")
    idx = _top(a, top)[::-1]
    ypos = np.arange(idx.size)
    net = pos[idx] + neg[idx]
    colours = [POSITIVE_COLOUR if v >= 0 else NEGATIVE_COLOUR for v in net]
    fig = Figure(figsize=(11, 0.3 * max(idx.size, 4) + 1.4), layout="constrained")
    ax_abs, ax_dir = fig.subplots(1, 2, sharey=True)
    ax_abs.barh(ypos, a[idx], color=colours)
    ax_abs.set_yticks(ypos, [str(names[i]) for i in idx], fontsize="small")
    ax_abs.set(
        xlabel="mean |contribution|",
        title="Mean |contribution| (blue: raises on average, red: lowers)",
    )
    ax_dir.barh(ypos, pos[idx], color=POSITIVE_COLOUR, label="raises score")
    ax_dir.barh(ypos, neg[idx], color=NEGATIVE_COLOUR, label="lowers score")
    ax_dir.axvline(0.0, color="black", lw=0.8)
    ax_dir.set(xlabel="mean contribution (positive and negative parts)", title="Direction")
    ax_dir.legend(loc="lower right", fontsize="small")
    for ax in (ax_abs, ax_dir):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return fig
