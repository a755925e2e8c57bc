"""Probability calibration of a booster's scores on held-out data.

:class:`Calibrator` maps an uncalibrated probability (``booster.predict(X)``, in [0, 1])
to a calibrated one. It is fitted with scikit-learn, but once fitted it holds only plain
numbers and numpy arrays, and predicts with numpy (:meth:`Calibrator.predict`) or with pure
Python (:meth:`Calibrator.predict_one`, the online serving path, a few microseconds).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from training.metrics import expected_calibration_error

__all__ = ["PROBA_EPS", "RAW_EPS", "Calibrator", "Method"]

Method = Literal["auto", "isotonic", "platt"]

PROBA_EPS = 1e-6
"""Calibrated probabilities are clipped to ``[PROBA_EPS, 1 - PROBA_EPS]``."""

TIE_BREAK = 1e-6
"""Isotonic maps are flat on each step, which would tie leads the booster ranks apart (and
cost AUC); ``TIE_BREAK × raw`` is added so the calibrated order is the booster's."""

RAW_EPS = 1e-7
"""Raw scores are clipped to ``[RAW_EPS, 1 - RAW_EPS]`` before the logit (Platt)."""

_METHODS = ("auto", "isotonic", "platt")


def _logit(r: np.ndarray) -> np.ndarray:
    r = np.clip(r, RAW_EPS, 1.0 - RAW_EPS)
    return np.log(r / (1.0 - r))


def _as_raw(raw_scores: object) -> np.ndarray:
    r = np.asarray(raw_scores, dtype=np.float64).ravel()
    if np.isnan(r).any():
        raise ValueError("raw_scores contains NaN")
    return r


def _fit_platt(r: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return ``(coef, intercept)`` of a 1-D logistic regression on ``logit(r)``."""
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(_logit(r).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _predict_platt(r: np.ndarray, coef: float, intercept: float) -> np.ndarray:
    p = expit(coef * _logit(r) + intercept)
    return np.clip(p, PROBA_EPS, 1.0 - PROBA_EPS)


def _fit_isotonic(r: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the isotonic step thresholds ``(x, y)``, ``y`` clipped."""
    iso = IsotonicRegression(out_of_bounds="clip", increasing=True)
    iso.fit(r, y)
    xs = np.asarray(iso.X_thresholds_, dtype=np.float64).copy()
    ys = np.clip(np.asarray(iso.y_thresholds_, dtype=np.float64), PROBA_EPS, 1.0 - PROBA_EPS)
    return xs, ys


class Calibrator:
    """Calibrate raw scores into probabilities (isotonic or Platt), scikit-learn style.

    Parameters
    ----------
    method : {"auto", "isotonic", "platt"}, default "auto"
        ``"isotonic"``: :class:`sklearn.isotonic.IsotonicRegression` of ``y`` on the raw
        score, ``out_of_bounds="clip"``, predicted by linear interpolation between its
        thresholds clipped to ``[1e-6, 1 - 1e-6]``. ``"platt"``: a 1-D logistic regression
        of ``y`` on ``logit(raw)`` (raw clipped to ``[1e-7, 1 - 1e-7]``, practically no
        regularisation). ``"auto"``: choose between the two on the data given to
        :meth:`fit` — see there.
    n_splits : int, default 5
        Folds of the internal cross-validation of ``"auto"``.
    random_state : int, default 0
        Seed of the (stratified, shuffled) folds of ``"auto"``; the choice is deterministic.

    Attributes
    ----------
    method_ : str
        The method used, ``"isotonic"`` or ``"platt"``.
    cv_scores_ : dict[str, float]
        ``"auto"`` only (else empty): the selection criterion, mean over the folds of the
        held-out ``ECE + Brier``, for ``"isotonic"`` and ``"platt"``.
    cv_details_ : dict[str, float]
        ``"auto"`` only: ``isotonic_ece``, ``isotonic_brier``, ``platt_ece``,
        ``platt_brier`` (fold means) and ``diff_se``, the standard error of the fold-wise
        difference of the criterion.
    x_, y_ : ndarray
        Isotonic thresholds (``x_`` increasing; ``y_`` non-decreasing, clipped to
        ``[1e-6, 1 - 1e-6]``). Empty arrays for Platt.
    coef_, intercept_ : float
        Platt parameters: ``p = sigmoid(coef_ * logit(raw) + intercept_)``. ``nan`` for
        isotonic.
    n_samples_ : int
        Rows seen by :meth:`fit`.

    Notes
    -----
    The output of both methods is clipped to ``[1e-6, 1 - 1e-6]``, so the log loss of a
    calibrated probability is always finite. A calibrator is a plain, picklable object; its
    fitted state is only floats, tuples and numpy arrays.
    """

    def __init__(self, method: Method = "auto", n_splits: int = 5, random_state: int = 0) -> None:
        self.method = method
        self.n_splits = n_splits
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def fit(self, raw_scores: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on held-out data.

        With ``method="auto"`` the held-out data are split into ``n_splits`` stratified,
        shuffled folds (fixed seed). On each fold both methods are fitted on the other folds
        and scored on the left-out fold with ``ECE (10 equal-frequency bins) + Brier score``.
        Isotonic wins only if its mean fold score is lower than Platt's by more than one
        standard error of the fold-wise difference (the "one-standard-error rule"); otherwise,
        including a tie, Platt (two parameters, the simpler model) is chosen. The winner is
        then refitted on all the data. If the minority class has fewer than ``n_splits``
        rows, Platt is used and the ``cv_scores_`` are ``nan``.

        Scores are computed per fold, not on the pooled out-of-fold predictions: pooled ECE
        is biased in favour of isotonic (the fold models share training labels, which a
        local, flexible fit turns into correlated predictions), and picks isotonic even
        when the truth is exactly logistic.

        Parameters
        ----------
        raw_scores : array-like of shape (n,)
            Uncalibrated probabilities in [0, 1] (``booster.predict``, not raw margins).
        y : array-like of shape (n,)
            Labels in {0, 1}; both classes must be present.

        Returns
        -------
        Calibrator
            ``self``.

        Raises
        ------
        ValueError
            Unknown method, lengths differ, NaN or out-of-[0, 1] scores, labels not
            binary or of one class only.
        """
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        r = _as_raw(raw_scores)
        yy = np.asarray(y, dtype=np.float64).ravel()
        if r.shape != yy.shape:
            raise ValueError(f"raw_scores and y have different lengths: {r.size} != {yy.size}")
        if r.size and (r.min() < 0.0 or r.max() > 1.0):
            raise ValueError(
                "raw_scores must be probabilities in [0, 1] (booster.predict), not raw margins"
            )
        if not np.isin(yy, (0.0, 1.0)).all():
            raise ValueError("y must contain only 0 and 1")
        n_pos = int(yy.sum())
        if n_pos == 0 or n_pos == yy.size:
            raise ValueError("y must contain both classes to fit a calibrator")
        yi = yy.astype(np.int64)

        self.cv_scores_: dict[str, float] = {}
        self.cv_details_: dict[str, float] = {}
        method: str = self.method
        if method == "auto":
            method = self._select(r, yi, min(n_pos, yy.size - n_pos))

        self.method_ = method
        self.n_samples_ = int(r.size)
        if method == "isotonic":
            self.x_, self.y_ = _fit_isotonic(r, yy)
            self.coef_ = math.nan
            self.intercept_ = math.nan
        else:
            self.coef_, self.intercept_ = _fit_platt(r, yi)
            self.x_ = np.empty(0, dtype=np.float64)
            self.y_ = np.empty(0, dtype=np.float64)
        self._set_python_state()
        return self

    def _set_python_state(self) -> None:
        """Plain-Python copies of the thresholds for :meth:`predict_one` (no numpy)."""
        self._xs_: Sequence[float] = tuple(float(v) for v in self.x_)
        self._ys_: Sequence[float] = tuple(float(v) for v in self.y_)

    # ---------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON-able Python values.

        Returns
        -------
        dict
            ``{"method", "x", "y", "coef", "intercept"}``: the method used, the isotonic
            thresholds as lists of floats (empty for Platt) and the Platt parameters
            (``None`` for isotonic, so the dict is strict JSON).
        """
        self._check_fitted()
        isotonic = self.method_ == "isotonic"
        return {
            "method": self.method_,
            "x": [float(v) for v in self.x_],
            "y": [float(v) for v in self.y_],
            "coef": None if isotonic else float(self.coef_),
            "intercept": None if isotonic else float(self.intercept_),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Calibrator:
        """Rebuild a fitted calibrator from :meth:`to_dict` output.

        Parameters
        ----------
        state : mapping
            As returned by :meth:`to_dict` (``coef``/``intercept`` may be ``None`` or NaN
            for isotonic).

        Returns
        -------
        Calibrator
            Fitted; predicts exactly like the original. ``cv_scores_`` are not kept.
        """
        method = str(state["method"])
        if method not in ("isotonic", "platt"):
            raise ValueError(f"method must be 'isotonic' or 'platt', got {method!r}")
        cal = cls(method=method)  # type: ignore[arg-type]
        cal.method_ = method
        cal.x_ = np.asarray(state.get("x", ()), dtype=np.float64)
        cal.y_ = np.asarray(state.get("y", ()), dtype=np.float64)
        if cal.x_.shape != cal.y_.shape or (method == "isotonic" and cal.x_.size == 0):
            raise ValueError("isotonic state needs x and y of the same, non-zero length")
        coef, intercept = state.get("coef"), state.get("intercept")
        cal.coef_ = math.nan if coef is None else float(coef)
        cal.intercept_ = math.nan if intercept is None else float(intercept)
        if method == "platt" and not (math.isfinite(cal.coef_) and math.isfinite(cal.intercept_)):
            raise ValueError("platt state needs finite coef and intercept")
        if method == "platt":
            cal.x_ = np.empty(0, dtype=np.float64)
            cal.y_ = np.empty(0, dtype=np.float64)
        cal.cv_scores_ = {}
        cal.cv_details_ = {}
        cal.n_samples_ = 0
        cal._set_python_state()
        return cal

    def _select(self, r: np.ndarray, y: np.ndarray, minority: int) -> str:
        """Fold-wise comparison of the two methods; returns the winner (see :meth:`fit`)."""
        if minority < self.n_splits:
            self.cv_scores_ = {"isotonic": math.nan, "platt": math.nan}
            return "platt"
        names = ("isotonic", "platt")
        ece: dict[str, list[float]] = {m: [] for m in names}
        brier: dict[str, list[float]] = {m: [] for m in names}
        folds = StratifiedKFold(self.n_splits, shuffle=True, random_state=self.random_state)
        for tr, va in folds.split(r.reshape(-1, 1), y):
            xs, ys = _fit_isotonic(r[tr], y[tr].astype(np.float64))
            coef, intercept = _fit_platt(r[tr], y[tr])
            preds = {
                "isotonic": np.interp(r[va], xs, ys),
                "platt": _predict_platt(r[va], coef, intercept),
            }
            for m, p in preds.items():
                ece[m].append(expected_calibration_error(y[va], p, n_bins=10))
                brier[m].append(float(np.mean((p - y[va]) ** 2)))
        crit = {m: np.asarray(ece[m]) + np.asarray(brier[m]) for m in names}
        diff = crit["isotonic"] - crit["platt"]
        se = float(diff.std(ddof=1) / math.sqrt(diff.size))
        for m in names:
            self.cv_scores_[m] = float(crit[m].mean())
            self.cv_details_[f"{m}_ece"] = float(np.mean(ece[m]))
            self.cv_details_[f"{m}_brier"] = float(np.mean(brier[m]))
        self.cv_details_["diff_se"] = se
        return "isotonic" if float(diff.mean()) < -se else "platt"

    # --------------------------------------------------------------- prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "method_"):
            raise RuntimeError("Calibrator is not fitted; call fit() first")

    def predict(self, raw_scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (numpy; no scikit-learn call).

        Parameters
        ----------
        raw_scores : array-like of shape (n,)
            Uncalibrated probabilities. Values outside [0, 1] are not rejected here: the
            isotonic map clamps them to its end values and Platt clips them before the logit.

        Returns
        -------
        ndarray of shape (n,)
            Probabilities in ``[1e-6, 1 - 1e-6]``.

        Raises
        ------
        ValueError
            If ``raw_scores`` contains NaN.
        """
        self._check_fitted()
        r = _as_raw(raw_scores)
        if self.method_ == "isotonic":
            p = np.interp(r, self.x_, self.y_) + TIE_BREAK * np.clip(r, 0.0, 1.0)
            return np.clip(p, PROBA_EPS, 1.0 - PROBA_EPS)
        return _predict_platt(r, self.coef_, self.intercept_)

    def predict_one(self, raw: float) -> float:
        """Calibrated probability of one raw score, in pure Python (online path).

        Same result as ``predict([raw])[0]`` to within 1e-12; costs a couple of
        microseconds (``bisect`` and ``math`` only).

        Parameters
        ----------
        raw : float
            One uncalibrated probability.

        Returns
        -------
        float
            Probability in ``[1e-6, 1 - 1e-6]``.

        Raises
        ------
        ValueError
            If ``raw`` is NaN.
        """
        if raw != raw:
            raise ValueError("raw score is NaN")
        try:
            xs = self._xs_
        except AttributeError:
            raise RuntimeError("Calibrator is not fitted; call fit() first") from None
        if xs:
            ys = self._ys_
            if raw <= xs[0]:
                q = ys[0]
            elif raw >= xs[-1]:
                q = ys[-1]
            else:
                i = bisect_right(xs, raw)
                x0 = xs[i - 1]
                y0 = ys[i - 1]
                q = (ys[i] - y0) / (xs[i] - x0) * (raw - x0) + y0
            q += TIE_BREAK * min(max(raw, 0.0), 1.0)
            return min(max(q, PROBA_EPS), 1.0 - PROBA_EPS)
        r = min(max(raw, RAW_EPS), 1.0 - RAW_EPS)
        z = self.coef_ * math.log(r / (1.0 - r)) + self.intercept_
        if z >= 0.0:
            p = 1.0 / (1.0 + math.exp(-z))
        else:
            e = math.exp(z)
            p = e / (1.0 + e)
        return min(max(p, PROBA_EPS), 1.0 - PROBA_EPS)

    def __repr__(self) -> str:
        return (
            f"Calibrator(method={self.method!r}, n_splits={self.n_splits}, "
            f"random_state={self.random_state})"
        )
