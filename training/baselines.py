"""The three baselines of DESIGN.md, evaluated on the same split as the boosters.

* :class:`ScorecardBaseline` — the classic MQL point scorecard: fixed, hand-written points
  (nothing learned except the map from points to a probability).
* :class:`LogisticBaseline` — a regularised logistic regression on one-hot categoricals and
  log-scaled, imputed, standardised numerics.
* :class:`NaiveBayesBaseline` — naive Bayes over discretised field values, the way CRM
  built-in "predictive scores" work.

Every baseline has ``fit(X, y) -> self`` and ``predict_proba(X) -> ndarray`` (1-D, the
probability of the positive class), is deterministic, and accepts at predict time unseen
categories, NaNs and even missing columns (treated as all-NaN) without error. Column roles
are inferred from dtypes: numeric (including bool) columns are numeric; ``category``,
string and object columns are categorical; anything else (datetimes) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from pandas.api import types as pdt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import CategoricalNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = [
    "SCORECARD_RULES",
    "Baseline",
    "CategoryPoints",
    "CountPoints",
    "FlagPoints",
    "LogisticBaseline",
    "NaiveBayesBaseline",
    "RecencyPoints",
    "ScorecardBaseline",
    "SizePoints",
    "fit_baselines",
]

PROBA_EPS = 1e-6
MISSING = "missing"


class Baseline(Protocol):
    """What every baseline offers."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Baseline: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


# ----------------------------------------------------------------------------- helpers
def _binary_target(y: object, n: int) -> np.ndarray:
    yy = np.asarray(y, dtype=np.float64).ravel()
    if yy.size != n:
        raise ValueError(f"X has {n} rows but y has {yy.size}")
    if not np.isin(yy, (0.0, 1.0)).all():
        raise ValueError("y must contain only 0 and 1")
    return yy.astype(np.int64)


def _is_numeric(s: pd.Series) -> bool:
    return bool(pdt.is_numeric_dtype(s.dtype) or pdt.is_bool_dtype(s.dtype))


def _is_categorical(s: pd.Series) -> bool:
    return bool(
        isinstance(s.dtype, pd.CategoricalDtype)
        or pdt.is_string_dtype(s.dtype)
        or pdt.is_object_dtype(s.dtype)
    )


def _column_roles(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(categorical, numeric)`` column names, in frame order."""
    cat = [str(c) for c in X.columns if not _is_numeric(X[c]) and _is_categorical(X[c])]
    num = [str(c) for c in X.columns if _is_numeric(X[c])]
    return cat, num


def _as_float(s: pd.Series) -> np.ndarray:
    """Numeric values of a column as float64; anything unparseable is NaN."""
    if pdt.is_bool_dtype(s.dtype) or pdt.is_numeric_dtype(s.dtype):
        return s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(s.astype(object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _as_str(s: pd.Series, missing: str = MISSING) -> np.ndarray:
    """Values as stripped strings in an object array; NaN/None become ``missing``."""
    obj = s.astype(object)
    na = obj.isna().to_numpy()
    out = obj.to_numpy(dtype=object).copy()
    out[na] = missing
    out[~na] = [str(v).strip() for v in out[~na]]
    return out


def _isotonic_map(points: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(points, y)
    xs = np.asarray(iso.X_thresholds_, dtype=np.float64).copy()
    ys = np.clip(np.asarray(iso.y_thresholds_, dtype=np.float64), PROBA_EPS, 1.0 - PROBA_EPS)
    return xs, ys


# --------------------------------------------------------------------------- scorecard
@dataclass(frozen=True)
class CategoryPoints:
    """Points by the (lower-cased) value of a categorical column; other values score 0.

    ``missing`` is also given to NaN values (when the column is present).
    """

    column: str
    points: Mapping[str, float]
    missing: float = 0.0

    def score(self, X: pd.DataFrame) -> np.ndarray:
        s = X[self.column]
        na = s.isna().to_numpy()
        vals = s.astype(object).where(~na, "").astype(str).str.strip().str.lower()
        pts = vals.map(lambda v: self.points.get(v, 0.0)).to_numpy(dtype=np.float64)
        return np.where(na, float(self.missing), pts)


@dataclass(frozen=True)
class SizePoints:
    """Points for the highest tier ``(minimum, points)`` a numeric value reaches; NaN → 0."""

    column: str
    tiers: tuple[tuple[float, float], ...]

    def score(self, X: pd.DataFrame) -> np.ndarray:
        v = _as_float(X[self.column])
        pts = np.zeros(v.size)
        for minimum, points in sorted(self.tiers):  # ascending: higher tiers overwrite
            pts[v >= minimum] = points
        return pts


@dataclass(frozen=True)
class FlagPoints:
    """``points`` if the count is > 0; NaN → 0."""

    column: str
    points: float

    def score(self, X: pd.DataFrame) -> np.ndarray:
        v = _as_float(X[self.column])
        return np.where(v > 0, self.points, 0.0)


@dataclass(frozen=True)
class CountPoints:
    """``per_unit`` × count, capped at ``cap`` (counts below 0 or NaN → 0)."""

    column: str
    per_unit: float
    cap: float

    def score(self, X: pd.DataFrame) -> np.ndarray:
        v = np.nan_to_num(_as_float(X[self.column]), nan=0.0)
        return np.clip(v * self.per_unit, 0.0, self.cap)


@dataclass(frozen=True)
class RecencyPoints:
    """``points`` if the value is > ``days`` or NaN (no activity at all)."""

    column: str
    days: float
    points: float

    def score(self, X: pd.DataFrame) -> np.ndarray:
        v = _as_float(X[self.column])
        return np.where(np.isnan(v) | (v > self.days), self.points, 0.0)


ScorecardRule = CategoryPoints | SizePoints | FlagPoints | CountPoints | RecencyPoints

SCORECARD_RULES: tuple[ScorecardRule, ...] = (
    # --- fit: who they are
    CategoryPoints(
        "seniority",
        {"c_level": 20, "vp": 20, "director": 15, "manager": 10, "senior": 5, "entry": -10},
    ),
    CategoryPoints(
        "email_domain_type",
        {"corporate": 10, "free": -5, "disposable": -25, "missing": -10},
        missing=-10,
    ),
    SizePoints("company_size", ((50, 5), (200, 10), (1000, 15))),
    CategoryPoints(
        "department",
        dict.fromkeys(("marketing", "sales", "executive", "it", "engineering"), 5.0),
    ),
    # --- engagement: what they did
    FlagPoints("n_demo_request_90d", 30),
    FlagPoints("n_trial_signup_90d", 25),
    CountPoints("n_pricing_page_view_30d", per_unit=5, cap=20),
    CountPoints("n_webinar_attended_90d", per_unit=10, cap=20),
    CountPoints("n_content_download_90d", per_unit=5, cap=15),
    CountPoints("n_email_click_30d", per_unit=2, cap=10),
    CountPoints("n_page_view_30d", per_unit=1, cap=10),
    RecencyPoints("days_since_last_event", days=30, points=-10),
)
"""The MQL scorecard. A rule whose column is absent from ``X`` contributes 0."""


class ScorecardBaseline:
    """Classic MQL point scorecard with fixed points (:data:`SCORECARD_RULES`).

    The ranking is the fixed points; :meth:`fit` only learns a monotone map from points to
    a probability (isotonic regression on the training data, clipped to
    ``[1e-6, 1 - 1e-6]``) so that log loss and ECE are comparable with the other models.
    Isotonic pooling may merge neighbouring point levels into one probability; use
    :meth:`points` for the raw ranking.

    Parameters
    ----------
    rules : tuple of rules, optional
        Defaults to :data:`SCORECARD_RULES`.

    Attributes
    ----------
    x_, y_ : ndarray
        Isotonic thresholds: points → probability (linear interpolation, clamped).
    rules_used_ : list[str]
        Columns of ``X`` at fit time that a rule scored.
    """

    def __init__(self, rules: tuple[ScorecardRule, ...] = SCORECARD_RULES) -> None:
        self.rules = rules

    def points(self, X: pd.DataFrame) -> np.ndarray:
        """Scorecard points of every row (sum over the rules whose column is present).

        Parameters
        ----------
        X : pandas.DataFrame
            Feature rows.

        Returns
        -------
        ndarray of shape (n,)
            Points, float64.
        """
        total = np.zeros(len(X), dtype=np.float64)
        for rule in self.rules:
            if rule.column in X.columns:
                total += rule.score(X)
        return total

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ScorecardBaseline:
        """Fit the points → probability map on training data.

        Parameters
        ----------
        X : pandas.DataFrame
            Training rows.
        y : array-like of shape (n,)
            Labels in {0, 1}.

        Returns
        -------
        ScorecardBaseline
            ``self``.
        """
        yy = _binary_target(y, len(X))
        self.rules_used_ = [r.column for r in self.rules if r.column in X.columns]
        self.x_, self.y_ = _isotonic_map(self.points(X), yy.astype(np.float64))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class.

        Parameters
        ----------
        X : pandas.DataFrame
            Rows to score.

        Returns
        -------
        ndarray of shape (n,)
            Probabilities in ``[1e-6, 1 - 1e-6]``.
        """
        return np.interp(self.points(X), self.x_, self.y_)


# ---------------------------------------------------------------------------- logistic
class _ToString(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Categorical frame → object array of strings, NaN → ``"missing"``."""

    def fit(self, X: pd.DataFrame, y: object = None) -> _ToString:
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = pd.DataFrame(X)
        if X.shape[1] == 0:
            return np.empty((len(X), 0), dtype=object)
        return np.column_stack([_as_str(X[c]) for c in X.columns])


class _Log1pNonNegative(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """``log1p`` of the columns that are non-negative in the training data.

    At predict time such a column is clipped at 0 before the ``log1p``; infinities become
    NaN (imputed downstream). Other columns pass through.
    """

    def fit(self, X: pd.DataFrame, y: object = None) -> _Log1pNonNegative:
        a = self._float(X)
        # Min over the observed values; an all-NaN column counts as non-negative.
        lo = np.where(np.isnan(a), np.inf, a).min(axis=0, initial=np.inf)
        self.log_mask_ = np.asarray(lo >= 0, dtype=bool)
        return self

    @staticmethod
    def _float(X: pd.DataFrame) -> np.ndarray:
        X = pd.DataFrame(X)
        if X.shape[1] == 0:
            return np.empty((len(X), 0), dtype=np.float64)
        a = np.column_stack([_as_float(X[c]) for c in X.columns])
        a[~np.isfinite(a)] = np.nan
        return a

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        a = self._float(X)
        m = self.log_mask_
        a[:, m] = np.log1p(np.clip(a[:, m], 0.0, None))
        return a


class LogisticBaseline:
    """Logistic regression on one-hot categoricals and scaled numerics.

    Categorical columns (``category``/string/object dtype): NaN → ``"missing"``, then
    ``OneHotEncoder(handle_unknown="ignore", min_frequency=20)`` — unseen values are all
    zeros. Numeric columns: ``log1p`` of the columns that are non-negative in training,
    median imputation with missing-value indicators, standard scaling. Then
    ``LogisticRegression(C=1.0, max_iter=2000)`` (lbfgs, deterministic).

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted pipeline.
    columns_, categorical_, numeric_ : list[str]
        Columns used, by role.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000, min_frequency: int = 20) -> None:
        self.C = C
        self.max_iter = max_iter
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticBaseline:
        """Fit the pipeline.

        Parameters
        ----------
        X : pandas.DataFrame
            Training rows.
        y : array-like of shape (n,)
            Labels in {0, 1}; both classes must be present.

        Returns
        -------
        LogisticBaseline
            ``self``.
        """
        yy = _binary_target(y, len(X))
        self.categorical_, self.numeric_ = _column_roles(X)
        self.columns_ = self.categorical_ + self.numeric_
        cat = make_pipeline(
            _ToString(),
            OneHotEncoder(
                handle_unknown="ignore",
                min_frequency=self.min_frequency,
                sparse_output=True,
            ),
        )
        num = make_pipeline(
            _Log1pNonNegative(),
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        pre = ColumnTransformer(
            [("cat", cat, self.categorical_), ("num", num, self.numeric_)],
            remainder="drop",
            sparse_threshold=0.3,
        )
        self.pipeline_ = Pipeline(
            [("pre", pre), ("lr", LogisticRegression(C=self.C, max_iter=self.max_iter))]
        )
        self.pipeline_.fit(self._frame(X), yy)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.reindex(columns=self.columns_) if list(X.columns) != self.columns_ else X

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class.

        Parameters
        ----------
        X : pandas.DataFrame
            Rows to score; missing columns are treated as all-NaN.

        Returns
        -------
        ndarray of shape (n,)
        """
        if len(X) == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.pipeline_.predict_proba(self._frame(X))[:, 1], dtype=np.float64)


# ------------------------------------------------------------------------- naive Bayes
@dataclass(frozen=True, eq=False)
class _Discretiser:
    """How one column becomes integer codes.

    Categorical: 0 = missing, 1 = other (rare or unseen), 2.. = ``levels``.
    Numeric: 0 = missing, 1.. = quantile bins cut at ``edges`` (training values above the
    training minimum, so code 1 holds the minimum and everything below it).
    """

    column: str
    levels: tuple[str, ...] = ()
    edges: np.ndarray | None = None

    @property
    def n_codes(self) -> int:
        return 2 + len(self.levels) if self.edges is None else 2 + len(self.edges)

    def codes(self, X: pd.DataFrame) -> np.ndarray:
        if self.column not in X.columns:
            return np.zeros(len(X), dtype=np.int64)
        s = X[self.column]
        if self.edges is None:
            vals = _as_str(s, missing="\x00missing")
            lookup = {v: i + 2 for i, v in enumerate(self.levels)}
            lookup["\x00missing"] = 0
            return np.fromiter((lookup.get(v, 1) for v in vals), dtype=np.int64, count=len(vals))
        v = _as_float(s)
        out = np.searchsorted(self.edges, v, side="right") + 1
        out[np.isnan(v)] = 0
        return out.astype(np.int64)


class NaiveBayesBaseline:
    """Naive Bayes over field values, the way CRM built-in scores work.

    Every column is discretised: categoricals as they are, values seen fewer than
    ``min_count`` times pooled into ``"other"`` (which also receives unseen values at
    predict time) and NaN into ``"missing"``; numerics into at most ``n_bins`` quantile bins
    of the training values (duplicate edges merged, so a mostly-zero count gets few bins)
    plus a ``"missing"`` bin; values outside the training range fall into the lowest or
    highest bin. Then ``CategoricalNB(alpha=1)`` with every code known in
    advance, so no value at predict time can raise; a code that no training row has carries
    no evidence either way.

    Parameters
    ----------
    n_bins : int, default 10
        Maximum quantile bins per numeric column.
    min_count : int, default 20
        Categorical values rarer than this in training are pooled into ``"other"``.
    alpha : float, default 1.0
        Laplace smoothing of :class:`sklearn.naive_bayes.CategoricalNB`.

    Attributes
    ----------
    discretisers_ : list
        One per used column.
    model_ : sklearn.naive_bayes.CategoricalNB
    """

    def __init__(self, n_bins: int = 10, min_count: int = 20, alpha: float = 1.0) -> None:
        self.n_bins = n_bins
        self.min_count = min_count
        self.alpha = alpha

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        if not self.discretisers_:
            return np.zeros((len(X), 1), dtype=np.int64)
        return np.column_stack([d.codes(X) for d in self.discretisers_])

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> NaiveBayesBaseline:
        """Learn the discretisation and the naive Bayes tables.

        Parameters
        ----------
        X : pandas.DataFrame
            Training rows.
        y : array-like of shape (n,)
            Labels in {0, 1}.

        Returns
        -------
        NaiveBayesBaseline
            ``self``.
        """
        yy = _binary_target(y, len(X))
        categorical, numeric = _column_roles(X)
        discs: list[_Discretiser] = []
        qs = np.linspace(0.0, 1.0, self.n_bins + 1)[1:-1]
        for c in X.columns:
            name = str(c)
            if name in numeric:
                v = _as_float(X[c])
                v = v[np.isfinite(v)]
                # Edges are training values ("lower" quantiles), so every bin between two
                # edges holds at least one training row. An edge at the training minimum (a
                # tied lowest decile) would open a bin below it that none fills; scored from
                # smoothing alone, it would hand every lower value the class-size ratio.
                # Lower values join the lowest bin instead, as with a clipping discretiser.
                edges = np.unique(np.quantile(v, qs, method="lower")) if v.size else np.empty(0)
                edges = edges[edges > v.min()] if v.size else edges
                discs.append(_Discretiser(name, edges=edges.astype(np.float64)))
            elif name in categorical:
                vals = pd.Series(_as_str(X[c], missing="\x00missing"))
                counts = vals[vals != "\x00missing"].value_counts()
                keep = counts[counts >= self.min_count].index
                discs.append(_Discretiser(name, levels=tuple(sorted(str(k) for k in keep))))
        self.discretisers_ = discs
        codes = self._encode(X)
        n_codes = np.array([d.n_codes for d in discs] or [1], dtype=np.int64)
        self.model_ = CategoricalNB(alpha=self.alpha, min_categories=n_codes)
        self.model_.fit(codes, yy)
        # A code no training row has (an unseen value where nothing was rare enough to fill
        # "other", a NaN where training had none) is evidence of nothing: equal likelihoods
        # for both classes, not the ratio of the class sizes that smoothing alone would give.
        # (The patched rows of ``feature_log_prob_`` no longer sum to one: only the
        # per-class differences matter to ``predict_proba``, the one consumer.)
        for j, counts in enumerate(self.model_.category_count_):
            empty = counts.sum(axis=0) == 0
            self.model_.feature_log_prob_[j][:, empty] = 0.0
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class.

        Parameters
        ----------
        X : pandas.DataFrame
            Rows to score; missing columns count as all-missing.

        Returns
        -------
        ndarray of shape (n,)
        """
        if len(X) == 0:
            return np.empty(0, dtype=np.float64)
        proba = self.model_.predict_proba(self._encode(X))
        pos = int(np.flatnonzero(self.model_.classes_ == 1)[0]) if 1 in self.model_.classes_ else -1
        if pos < 0:
            return np.zeros(len(X), dtype=np.float64)
        return np.asarray(proba[:, pos], dtype=np.float64)


# ------------------------------------------------------------------------------ all three
def fit_baselines(X_train: pd.DataFrame, y_train: np.ndarray) -> dict[str, Baseline]:
    """Fit the three baselines on the same training data.

    Parameters
    ----------
    X_train : pandas.DataFrame
        Training feature rows (categoricals as ``category`` dtype, numerics as float64).
    y_train : array-like of shape (n,)
        Labels in {0, 1}.

    Returns
    -------
    dict[str, Baseline]
        ``{"scorecard": ScorecardBaseline, "logistic": LogisticBaseline,
        "naive_bayes": NaiveBayesBaseline}``, all fitted; each has ``predict_proba(X)``.
    """
    return {
        "scorecard": ScorecardBaseline().fit(X_train, y_train),
        "logistic": LogisticBaseline().fit(X_train, y_train),
        "naive_bayes": NaiveBayesBaseline().fit(X_train, y_train),
    }
