"""Tests of training.metrics, training.calibration and training.plots."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from training.calibration import PROBA_EPS, Calibrator, Method
from training.metrics import (
    METRIC_KEYS,
    auc_difference_se,
    evaluate_scores,
    expected_calibration_error,
    gain_curve,
    reliability_curve,
    top_k,
)
from training.plots import (
    gain_figure,
    importance_figure,
    reasons_figure,
    reliability_figure,
    roc_pr_figure,
)

# A 10-row example, already in descending score order.
# rank:  1    2    3    4    5    6    7    8    9    10
Y10 = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
P10 = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


# ----------------------------------------------------------------- hand-computed metrics
def test_ten_row_example_by_hand() -> None:
    m = evaluate_scores(Y10, P10)
    assert list(m) == list(METRIC_KEYS)
    assert m["rows"] == 10 and m["positives"] == 4 and m["base_rate"] == pytest.approx(0.4)

    # AUC: for each positive, the negatives ranked below it (negatives at ranks 2,5,6,8,9,10)
    # rank 1 -> 6, rank 3 -> 5, rank 4 -> 5, rank 7 -> 3; 19 of 4*6 = 24 pairs.
    assert m["roc_auc"] == pytest.approx(19 / 24, abs=1e-12)

    # Average precision: precision at each positive's rank, averaged over the 4 positives.
    assert m["pr_auc"] == pytest.approx((1 / 1 + 2 / 3 + 3 / 4 + 4 / 7) / 4, abs=1e-12)

    # Top 10% = ceil(0.1 * 10) = 1 row: rank 1, a positive.
    assert m["lift_top10"] == pytest.approx((1 / 1) / 0.4)
    assert m["capture_top10"] == pytest.approx(1 / 4)

    # KS: TPR - FPR after each rank: .25, .25-1/6, .5-1/6, .75-1/6 (max), .75-2/6, ...
    assert m["ks"] == pytest.approx(3 / 4 - 1 / 6, abs=1e-12)

    brier = (
        0.1**2 + 0.8**2 + 0.3**2 + 0.4**2 + 0.5**2 + 0.4**2 + 0.7**2 + 0.2**2 + 0.1**2 + 0.05**2
    ) / 10
    assert m["brier"] == pytest.approx(brier, abs=1e-12)

    ll = (
        -(
            math.log(0.9)
            + math.log(0.2)
            + math.log(0.7)
            + math.log(0.6)
            + math.log(0.5)
            + math.log(0.6)
            + math.log(0.3)
            + math.log(0.8)
            + math.log(0.9)
            + math.log(0.95)
        )
        / 10
    )
    assert m["log_loss"] == pytest.approx(ll, abs=1e-12)

    # ECE, 10 quantile bins of one row each: mean |p - y|.
    assert m["ece"] == pytest.approx(np.mean(np.abs(P10 - Y10)), abs=1e-12)


def test_ten_row_top_fraction_and_ece_two_bins() -> None:
    # top 30% = ranks 1..3 hold 2 positives.
    m = evaluate_scores(Y10, P10, top_frac=0.3, n_bins=2)
    assert m["lift_top10"] == pytest.approx((2 / 3) / 0.4)
    assert m["capture_top10"] == pytest.approx(2 / 4)
    # Median edge 0.45. Low bin: p = .4,.3,.2,.1,.05 (mean .21), y rate 1/5 -> gap .01.
    # High bin: p = .9,.8,.7,.6,.5 (mean .7), y rate 3/5 -> gap .1. Equal weights.
    assert m["ece"] == pytest.approx(0.5 * 0.01 + 0.5 * 0.1, abs=1e-12)


def test_order_of_rows_does_not_matter_without_ties() -> None:
    perm = np.random.default_rng(3).permutation(10)
    a, b = evaluate_scores(Y10, P10), evaluate_scores(Y10[perm], P10[perm])
    for k in METRIC_KEYS:
        assert a[k] == pytest.approx(b[k], abs=1e-12)


def test_ties_are_broken_by_input_order() -> None:
    p = np.full(10, 0.3)
    y_first = np.array([1, 0, 0, 0, 0, 0, 0, 0, 1, 0])
    m = evaluate_scores(y_first, p)
    assert m["capture_top10"] == 0.5 and m["lift_top10"] == pytest.approx(5.0)
    m = evaluate_scores(y_first[::-1], p)  # the first row is now a negative
    assert m["capture_top10"] == 0.0 and m["lift_top10"] == 0.0
    # Threshold metrics see ties as one block.
    assert m["roc_auc"] == 0.5 and m["ks"] == 0.0


def test_top_k() -> None:
    assert top_k(10, 0.1) == 1
    assert top_k(30, 0.1) == 3  # 0.1 * 30 = 3.0000000000000004
    assert top_k(15, 0.1) == 2
    assert top_k(5, 0.1) == 1
    assert top_k(0, 0.1) == 0
    assert top_k(7, 1.0) == 7
    with pytest.raises(ValueError):
        top_k(10, 0.0)


def test_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=5000)
    y = (rng.uniform(size=5000) < p).astype(int)
    m = evaluate_scores(y, p)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-9)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["ece"] < 0.05


# -------------------------------------------------------------------- degenerate inputs
def test_empty_input() -> None:
    m = evaluate_scores(np.array([]), np.array([]))
    assert list(m) == list(METRIC_KEYS)
    assert m["rows"] == 0 and m["positives"] == 0
    for k in METRIC_KEYS:
        if k not in ("rows", "positives"):
            assert math.isnan(m[k]), k
    mp, fp, c = reliability_curve(np.array([]), np.array([]))
    assert mp.size == fp.size == c.size == 0
    assert math.isnan(expected_calibration_error(np.array([]), np.array([])))
    leads, pos = gain_curve(np.array([]), np.array([]))
    assert leads.tolist() == [0.0] and math.isnan(pos[0])


def test_one_class_only() -> None:
    p = np.linspace(0.1, 0.9, 20)
    m = evaluate_scores(np.zeros(20), p)
    for k in ("roc_auc", "pr_auc", "ks", "lift_top10", "capture_top10"):
        assert math.isnan(m[k]), k
    assert m["base_rate"] == 0 and math.isfinite(m["log_loss"]) and math.isfinite(m["ece"])
    m = evaluate_scores(np.ones(20), p)
    for k in ("roc_auc", "pr_auc", "ks"):
        assert math.isnan(m[k]), k
    assert m["lift_top10"] == 1.0 and m["capture_top10"] == pytest.approx(2 / 20)
    _, pos = gain_curve(np.zeros(5), np.arange(5.0))
    assert np.isnan(pos).all()


def test_log_loss_is_clipped() -> None:
    m = evaluate_scores(np.array([1, 0]), np.array([0.0, 1.0]))
    assert m["log_loss"] == pytest.approx(-math.log(1e-7), rel=1e-6)
    m = evaluate_scores(np.array([1, 0]), np.array([1.0, 0.0]))
    assert m["log_loss"] == pytest.approx(-math.log(1 - 1e-7), rel=1e-6)


def test_caller_bugs_raise() -> None:
    with pytest.raises(ValueError, match="lengths"):
        evaluate_scores(np.array([0, 1]), np.array([0.5]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        evaluate_scores(np.array([0, 2]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_scores(np.array([0, 1]), np.array([0.5, np.nan]))


# ------------------------------------------------------------------------------ curves
def test_reliability_curve_and_ece() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=1000)
    y = (rng.uniform(size=1000) < p).astype(int)
    mp, fp, c = reliability_curve(y, p, n_bins=10)
    assert c.sum() == 1000 and c.tolist() == [100] * 10
    assert np.all(np.diff(mp) > 0)
    assert expected_calibration_error(y, p) == pytest.approx(
        float(np.sum(c * np.abs(mp - fp)) / 1000), abs=1e-12
    )
    # Tied predictions share a bin: 2 distinct values -> 2 bins whatever n_bins says.
    p2 = np.array([0.2] * 7 + [0.6] * 3)
    y2 = np.array([0, 0, 1, 0, 0, 0, 0, 1, 1, 0])
    mp, fp, c = reliability_curve(y2, p2, n_bins=10)
    assert c.tolist() == [7, 3] and fp.tolist() == pytest.approx([1 / 7, 2 / 3])
    ece = expected_calibration_error(y2, p2)
    assert ece == pytest.approx(0.7 * abs(0.2 - 1 / 7) + 0.3 * abs(0.6 - 2 / 3))
    # Uniform bins.
    mp, fp, c = reliability_curve(y2, p2, n_bins=5, strategy="uniform")
    assert c.tolist() == [7, 3]


def test_gain_curve_by_hand() -> None:
    leads, pos = gain_curve(Y10, P10)
    assert leads.tolist() == pytest.approx([i / 10 for i in range(11)])
    assert pos.tolist() == pytest.approx([0, 0.25, 0.25, 0.5, 0.75, 0.75, 0.75, 1, 1, 1, 1])


# -------------------------------------------------------------------------- calibration
def _draw(n: int, seed: int, link: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw scores, true probabilities and labels for a known miscalibration."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.001, 0.999, n)
    if link == "step":  # badly non-sigmoid: a staircase in the raw score
        true = np.select([raw < 0.3, raw < 0.7], [0.05, 0.6], 0.65)
    elif link == "logistic":  # truth is a logistic function of logit(raw)
        true = 1 / (1 + np.exp(-(0.5 * np.log(raw / (1 - raw)) - 1.0)))
    elif link == "power":  # overconfident booster-like distortion
        true = raw**2
    else:
        raise AssertionError(link)
    y = (rng.uniform(size=n) < true).astype(int)
    return raw, true, y


def test_auto_picks_isotonic_for_a_step_miscalibration() -> None:
    raw, _, y = _draw(20_000, 0, "step")
    cal = Calibrator().fit(raw, y)
    assert cal.method_ == "isotonic"
    assert cal.cv_scores_["isotonic"] < cal.cv_scores_["platt"]
    assert set(cal.cv_details_) == {
        "isotonic_ece",
        "isotonic_brier",
        "platt_ece",
        "platt_brier",
        "diff_se",
    }


def test_auto_picks_platt_when_truth_is_logistic() -> None:
    raw, _, y = _draw(20_000, 1, "logistic")
    cal = Calibrator().fit(raw, y)
    assert cal.method_ == "platt"
    assert cal.coef_ == pytest.approx(0.5, abs=0.05)
    assert cal.intercept_ == pytest.approx(-1.0, abs=0.1)
    assert cal.x_.size == 0


@pytest.mark.parametrize("link", ["step", "logistic", "power"])
def test_calibrated_output_has_small_ece(link: str) -> None:
    raw, _, y = _draw(50_000, 10, link)
    cal = Calibrator().fit(raw, y)
    raw_test, _, y_test = _draw(50_000, 11, link)
    assert expected_calibration_error(y_test, cal.predict(raw_test)) < 0.02


@pytest.mark.parametrize("method", ["isotonic", "platt", "auto"])
def test_predict_one_agrees_with_predict(method: Method) -> None:
    raw, _, y = _draw(5_000, 2, "power")
    cal = Calibrator(method).fit(raw, y)
    probe = np.concatenate(
        [
            np.random.default_rng(5).uniform(-0.1, 1.1, 2000),
            [0.0, 1.0, 1e-9, 1 - 1e-12, raw.min(), raw.max()],
            cal.x_,  # exactly on the isotonic thresholds
        ]
    )
    vec = cal.predict(probe)
    one = np.array([cal.predict_one(float(v)) for v in probe])
    assert np.max(np.abs(vec - one)) <= 1e-12
    assert all(isinstance(cal.predict_one(float(v)), float) for v in probe[:5])


def test_predict_one_uses_plain_python_state() -> None:
    # Speed itself is measured by benchmarks/, never by timed tests (DESIGN.md); this checks
    # the precondition: the online path touches only Python floats.
    raw, _, y = _draw(20_000, 3, "power")
    iso = Calibrator("isotonic").fit(raw, y)
    assert all(type(v) is float for v in [*iso._xs_, *iso._ys_])
    platt = Calibrator("platt").fit(raw, y)
    assert type(platt.coef_) is float and type(platt.intercept_) is float
    assert type(iso.predict_one(0.37)) is float and type(platt.predict_one(0.37)) is float


def test_isotonic_matches_sklearn_and_is_clipped() -> None:
    raw, _, y = _draw(3_000, 4, "power")
    cal = Calibrator("isotonic").fit(raw, y)
    iso = IsotonicRegression(out_of_bounds="clip").fit(raw, y)
    probe = np.linspace(-0.5, 1.5, 3001)
    assert np.array_equal(cal.x_, iso.X_thresholds_)
    # Same map; the thresholds are clipped before interpolating, so the two can differ by
    # at most the clip width next to a threshold at 0 or 1.
    expected = np.clip(iso.predict(probe), PROBA_EPS, 1 - PROBA_EPS)
    assert np.max(np.abs(cal.predict(probe) - expected)) <= PROBA_EPS
    # Perfectly separable data: isotonic gives 0 and 1, the calibrator stays inside.
    sep = Calibrator("isotonic").fit(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    out = sep.predict(np.array([0.0, 0.15, 0.85, 1.0]))
    assert out.min() >= PROBA_EPS and out.max() <= 1 - PROBA_EPS
    assert math.isfinite(evaluate_scores(np.array([1, 1, 0, 0]), out)["log_loss"])


def test_calibrator_is_deterministic_and_picklable() -> None:
    raw, _, y = _draw(10_000, 6, "power")
    a, b = Calibrator().fit(raw, y), Calibrator().fit(raw, y)
    assert a.method_ == b.method_ and a.cv_scores_ == b.cv_scores_
    assert np.array_equal(a.predict(raw), b.predict(raw))
    c = pickle.loads(pickle.dumps(a))
    assert c.predict_one(0.42) == a.predict_one(0.42)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_to_dict_round_trip(method: Method) -> None:
    raw, _, y = _draw(5_000, 8, "power")
    cal = Calibrator(method).fit(raw, y)
    state = json.loads(json.dumps(cal.to_dict(), allow_nan=False))
    back = Calibrator.from_dict(state)
    probe = np.linspace(-0.1, 1.1, 501)
    assert np.array_equal(back.predict(probe), cal.predict(probe))
    assert [back.predict_one(float(v)) for v in probe] == [cal.predict_one(float(v)) for v in probe]
    with pytest.raises(ValueError):
        Calibrator.from_dict({**state, "method": "beta"})


def test_calibrator_estimator_style_and_errors() -> None:
    cal = Calibrator("platt")
    assert vars(cal) == {"method": "platt", "n_splits": 5, "random_state": 0}
    with pytest.raises(RuntimeError):
        cal.predict(np.array([0.5]))
    with pytest.raises(RuntimeError):
        cal.predict_one(0.5)
    with pytest.raises(ValueError, match="margins"):
        cal.fit(np.array([-2.0, 0.5, 3.0]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="both classes"):
        cal.fit(np.array([0.2, 0.5]), np.array([1, 1]))
    with pytest.raises(ValueError, match="NaN"):
        cal.fit(np.array([0.2, np.nan]), np.array([0, 1]))
    with pytest.raises(ValueError, match="method"):
        Calibrator("beta").fit(np.array([0.2, 0.5]), np.array([0, 1]))  # type: ignore[arg-type]
    fitted = Calibrator("platt").fit(np.array([0.2, 0.4, 0.6, 0.8]), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError):
        fitted.predict_one(float("nan"))


def test_auto_with_too_few_minority_rows_falls_back_to_platt() -> None:
    raw = np.linspace(0.05, 0.95, 40)
    y = np.zeros(40, dtype=int)
    y[[10, 30, 39]] = 1
    cal = Calibrator().fit(raw, y)
    assert cal.method_ == "platt" and all(math.isnan(v) for v in cal.cv_scores_.values())


# -------------------------------------------------------------------------------- plots
@pytest.fixture(scope="module")
def plot_data() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    p = rng.uniform(size=4000)
    y = (rng.uniform(size=4000) < p).astype(int)
    return y, {"model": p, "scorecard": np.round(p * 5), "random": rng.uniform(size=4000)}


def _saved(fig: Figure, tmp_path: object, name: str, n_axes: int) -> None:
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    path = tmp_path / name  # type: ignore[operator]
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_render(tmp_path: object, plot_data: tuple[np.ndarray, dict]) -> None:
    y, scores = plot_data
    _saved(roc_pr_figure(y, scores, "ROC / PR"), tmp_path, "roc.png", 2)
    _saved(reliability_figure(y, scores["model"], "calibration"), tmp_path, "rel.png", 2)
    _saved(gain_figure(y, scores, "gain"), tmp_path, "gain.png", 2)
    names = [f"feature_{i}" for i in range(40)]
    gains = np.random.default_rng(0).exponential(size=40)
    fig = importance_figure(names, gains, "importance", top=25)
    _saved(fig, tmp_path, "imp.png", 1)
    assert len(fig.axes[0].patches) == 25
    contrib = np.random.default_rng(1).normal(size=(500, 40))
    fig = reasons_figure(
        names,
        np.abs(contrib).mean(0),
        np.clip(contrib, 0, None).mean(0),
        np.clip(contrib, None, 0).mean(0),
        "reasons",
        top=20,
    )
    _saved(fig, tmp_path, "reasons.png", 2)
    assert len(fig.axes[0].patches) == 20


def test_plots_survive_degenerate_labels(tmp_path: object) -> None:
    y = np.zeros(50, dtype=int)
    p = np.linspace(0, 1, 50)
    _saved(roc_pr_figure(y, {"model": p}, "t"), tmp_path, "a.png", 2)
    _saved(reliability_figure(y, p, "t"), tmp_path, "b.png", 2)
    _saved(gain_figure(y, {"model": p}, "t"), tmp_path, "c.png", 2)
    _saved(importance_figure(["a", "b"], np.zeros(2), "t"), tmp_path, "d.png", 1)


def test_isotonic_keeps_the_boosters_order() -> None:
    """Isotonic steps must not tie leads the booster ranks apart (that would cost AUC)."""
    from sklearn.metrics import roc_auc_score

    raw, _, y = _draw(5_000, 4, "step")
    cal = Calibrator(method="isotonic").fit(raw, y)
    p = cal.predict(raw)
    assert len(np.unique(p)) == len(np.unique(raw))
    assert np.all(np.diff(p[np.argsort(raw)]) > 0)
    assert roc_auc_score(y, p) == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    assert [cal.predict_one(float(r)) for r in raw[:50]] == pytest.approx(p[:50].tolist(), abs=1e-12)
    assert expected_calibration_error(y, p) < 0.03


def _two_scorers(n_leads: int, rows_per_lead: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lead = np.repeat(np.arange(n_leads), rows_per_lead)
    latent = rng.normal(size=n_leads)[lead]
    y = (rng.random(len(lead)) < 1 / (1 + np.exp(-2 * latent))).astype(float)
    good = latent + rng.normal(0, 0.3, len(lead))
    worse = latent + rng.normal(0, 1.0, len(lead))
    return y, good, worse, lead


def test_auc_difference_se_shrinks_with_the_sample_and_resamples_whole_leads() -> None:
    y, good, worse, lead = _two_scorers(500, 1, 0)
    small = auc_difference_se(y, good, worse, lead)
    y4, good4, worse4, lead4 = _two_scorers(2000, 1, 1)
    large = auc_difference_se(y4, good4, worse4, lead4)
    assert 0 < large < small
    assert 1.4 < small / large < 2.8  # about sqrt(4)
    # Identical scores differ by exactly nothing in every resample.
    assert auc_difference_se(y, good, good, lead) == 0.0
    # Five copies of each lead's row are not five times the evidence: resampling by lead
    # keeps the error of 500 leads, resampling rows would shrink it by about sqrt(5).
    rep = np.repeat(np.arange(len(y)), 5)
    by_lead = auc_difference_se(y[rep], good[rep], worse[rep], lead[rep])
    by_row = auc_difference_se(y[rep], good[rep], worse[rep], np.arange(len(rep)))
    assert by_lead == pytest.approx(small, rel=0.35)
    assert by_row < 0.7 * by_lead
    with pytest.raises(ValueError, match="groups has 3 values"):
        auc_difference_se(y, good, worse, lead[:3])
