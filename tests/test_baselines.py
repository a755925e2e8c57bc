"""Tests of training.baselines on small synthetic frames with a planted signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baselines import (
    SCORECARD_RULES,
    LogisticBaseline,
    NaiveBayesBaseline,
    ScorecardBaseline,
    fit_baselines,
)
from training.metrics import evaluate_scores

NAN = np.nan
SENIORITY = ["c_level", "vp", "director", "manager", "senior", "entry"]
DOMAIN = ["corporate", "free", "disposable", "missing"]
SENIORITY_SORTED = sorted(SENIORITY)
DEPARTMENT = ["marketing", "sales", "it", "legal", "finance"]


def make_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Leads with a planted signal in fit and engagement columns, like features/ emits."""
    rng = np.random.default_rng(seed)
    sen = rng.choice(SENIORITY, n)
    dom = rng.choice(DOMAIN, n, p=[0.6, 0.3, 0.05, 0.05])
    dept = rng.choice(DEPARTMENT, n)
    size = np.where(rng.uniform(size=n) < 0.1, NAN, np.exp(rng.uniform(1, 9, n)))
    demo = rng.poisson(0.2, n).astype(float)
    pricing = rng.poisson(0.8, n).astype(float)
    pages = np.where(rng.uniform(size=n) < 0.1, NAN, rng.poisson(3, n).astype(float))
    days = np.where(rng.uniform(size=n) < 0.2, NAN, rng.exponential(20, n))
    z = (
        -2.0
        + 0.8 * (sen == "c_level")
        + 0.6 * (sen == "vp")
        - 0.8 * (sen == "entry")
        + 0.7 * (dom == "corporate")
        - 1.0 * (dom == "disposable")
        + 1.5 * (demo > 0)
        + 0.3 * pricing
        + 0.1 * np.nan_to_num(pages)
        - 0.02 * np.nan_to_num(days, nan=60.0)
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    X = pd.DataFrame(
        {
            "seniority": pd.Categorical(sen),
            "email_domain_type": pd.Categorical(dom),
            "department": pd.Categorical(dept),
            "industry": pd.Categorical(rng.choice(["saas", "retail", "bank", "gov"], n)),
            "company_size": size,
            "n_demo_request_90d": demo,
            "n_pricing_page_view_30d": pricing,
            "n_page_view_30d": pages,
            "days_since_last_event": days,
            "lead_age_days": rng.uniform(0, 400, n),
        }
    )
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    X, y = make_frame(4000, 0)
    Xt, yt = make_frame(4000, 1)
    return X, y, Xt, yt


@pytest.fixture(scope="module")
def fitted(data: tuple) -> dict:
    X, y, _, _ = data
    return fit_baselines(X, y)


def _odd_rows(X: pd.DataFrame) -> pd.DataFrame:
    """Rows with unseen categories, NaNs everywhere, negatives and infinities."""
    odd = X.head(6).copy()
    odd["seniority"] = pd.Categorical(["martian", None, "vp", "intern", None, "c_level"])
    odd["industry"] = pd.Categorical(["space"] * 6)
    odd["email_domain_type"] = pd.Categorical([None] * 6)
    odd.loc[:, "company_size"] = [NAN, -5.0, np.inf, 1e12, 0.0, NAN]
    odd.loc[:, "n_page_view_30d"] = NAN
    odd.loc[:, "days_since_last_event"] = [NAN, -1.0, 1e9, 0.0, NAN, 5.0]
    return odd


# --------------------------------------------------------------------------- all three
def test_fit_baselines_returns_the_three(fitted: dict) -> None:
    assert list(fitted) == ["scorecard", "logistic", "naive_bayes"]
    assert isinstance(fitted["scorecard"], ScorecardBaseline)
    assert isinstance(fitted["logistic"], LogisticBaseline)
    assert isinstance(fitted["naive_bayes"], NaiveBayesBaseline)


@pytest.mark.parametrize("name", ["scorecard", "logistic", "naive_bayes"])
def test_baselines_find_the_planted_signal(name: str, data: tuple, fitted: dict) -> None:
    _, _, Xt, yt = data
    p = fitted[name].predict_proba(Xt)
    assert p.shape == (len(Xt),) and p.dtype == np.float64
    assert np.all((p >= 0) & (p <= 1)) and np.isfinite(p).all()
    m = evaluate_scores(yt, p)
    assert m["roc_auc"] > 0.6
    assert m["ece"] < 0.1


@pytest.mark.parametrize("name", ["scorecard", "logistic", "naive_bayes"])
def test_unseen_categories_nans_and_missing_columns(name: str, data: tuple, fitted: dict) -> None:
    X = data[0]
    model = fitted[name]
    odd = _odd_rows(X)
    for frame in (odd, odd.drop(columns=["seniority", "n_page_view_30d"]), odd.iloc[:0]):
        p = model.predict_proba(frame)
        assert p.shape == (len(frame),) and np.isfinite(p).all()
    # Object / string dtypes at predict instead of category work too.
    as_obj = odd.astype({"seniority": object, "industry": "str"})
    assert np.isfinite(model.predict_proba(as_obj)).all()


@pytest.mark.parametrize("name", ["scorecard", "logistic", "naive_bayes"])
def test_deterministic(name: str, data: tuple, fitted: dict) -> None:
    X, y, Xt, _ = data
    again = fit_baselines(X, y)[name]
    assert np.array_equal(again.predict_proba(Xt), fitted[name].predict_proba(Xt))


def test_leads_only_data() -> None:
    X, y = make_frame(1500, 2)
    fit_cols = X[["seniority", "email_domain_type", "department", "company_size"]]
    models = fit_baselines(fit_cols, y)
    for m in models.values():
        assert np.isfinite(m.predict_proba(fit_cols)).all()


def test_bad_target_raises(data: tuple) -> None:
    X = data[0]
    for model in (ScorecardBaseline(), LogisticBaseline(), NaiveBayesBaseline()):
        with pytest.raises(ValueError):
            model.fit(X, np.arange(len(X)) % 3)
        with pytest.raises(ValueError):
            model.fit(X, np.zeros(len(X) - 1))


# --------------------------------------------------------------------------- scorecard
def test_scorecard_points_by_hand() -> None:
    rows = pd.DataFrame(
        {
            "seniority": pd.Categorical(["c_level", "entry", None, "VP", "intern"]),
            "email_domain_type": pd.Categorical(
                ["corporate", "disposable", None, "free", "missing"]
            ),
            "company_size": [1500.0, 60.0, NAN, 200.0, 999.0],
            "department": pd.Categorical(["marketing", "legal", None, "Sales", "it"]),
            "n_demo_request_90d": [1.0, 0.0, NAN, 0.0, 0.0],
            "n_trial_signup_90d": [0.0, 2.0, NAN, 0.0, 0.0],
            "n_pricing_page_view_30d": [3.0, NAN, NAN, 4.0, 0.0],
            "n_webinar_attended_90d": [5.0, 0.0, NAN, 0.0, 0.0],
            "n_content_download_90d": [1.0, 10.0, NAN, 0.0, 0.0],
            "n_email_click_30d": [10.0, 1.0, NAN, 0.0, 0.0],
            "n_page_view_30d": [4.0, 30.0, NAN, 0.0, 0.0],
            "days_since_last_event": [3.0, 45.0, NAN, 30.0, 30.5],
        }
    )
    expected = [
        # c_level 20, corporate 10, >=1000 15, marketing 5, demo 30, pricing 3x5=15,
        # webinar 5x10 -> cap 20, content 5, clicks 10x2 -> cap 10, pages 4, recent 0
        20 + 10 + 15 + 5 + 30 + 15 + 20 + 5 + 10 + 4,
        # entry -10, disposable -25, >=50 5, legal 0, trial 25, content 10x5 -> cap 15,
        # clicks 2, pages 30 -> cap 10, 45 days -10
        -10 - 25 + 5 + 25 + 15 + 2 + 10 - 10,
        # all missing: email domain missing -10, no activity (NaN days) -10
        -10 - 10,
        # VP (case-insensitive) 20, free -5, >=200 10, Sales 5, pricing 4x5 = 20, 30 days: 0
        20 - 5 + 10 + 5 + 20,
        # unknown seniority 0, "missing" domain -10, >=200 10, it 5, 30.5 days -10
        0 - 10 + 10 + 5 - 10,
    ]
    assert ScorecardBaseline().points(rows).tolist() == expected


def test_scorecard_missing_columns_contribute_zero() -> None:
    only = pd.DataFrame({"seniority": pd.Categorical(["director", "entry", "ceo"])})
    assert ScorecardBaseline().points(only).tolist() == [15, -10, 0]
    assert ScorecardBaseline().points(pd.DataFrame(index=range(3))).tolist() == [0, 0, 0]
    assert {r.column for r in SCORECARD_RULES} >= {"seniority", "days_since_last_event"}


def test_scorecard_probability_is_monotone_in_points(data: tuple, fitted: dict) -> None:
    _, _, Xt, _ = data
    sc = fitted["scorecard"]
    pts, p = sc.points(Xt), sc.predict_proba(Xt)
    order = np.argsort(pts, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)
    assert p.min() >= 1e-6 and p.max() <= 1 - 1e-6


def test_scorecard_without_any_rule_column_predicts_the_base_rate() -> None:
    X = pd.DataFrame({"other": np.arange(10.0)})
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    p = ScorecardBaseline().fit(X, y).predict_proba(X)
    assert np.allclose(p, 0.2)


# ---------------------------------------------------------------- logistic/naive Bayes
def test_logistic_column_roles(data: tuple, fitted: dict) -> None:
    lr = fitted["logistic"]
    assert lr.categorical_ == ["seniority", "email_domain_type", "department", "industry"]
    assert "company_size" in lr.numeric_ and "lead_age_days" in lr.numeric_


def test_logistic_ignores_datetime_columns(data: tuple) -> None:
    X, y, _, _ = data
    X2 = X.assign(created_at=pd.Timestamp("2024-01-01"))
    lr = LogisticBaseline().fit(X2, y)
    assert "created_at" not in lr.columns_


def test_naive_bayes_discretisation(data: tuple, fitted: dict) -> None:
    nb = fitted["naive_bayes"]
    by_col = {d.column: d for d in nb.discretisers_}
    assert by_col["seniority"].levels == tuple(sorted(SENIORITY))
    assert by_col["company_size"].edges is not None
    assert 1 <= len(by_col["company_size"].edges) <= 9  # at most 10 bins
    # Unseen value -> "other" code 1, NaN -> "missing" code 0.
    odd = pd.DataFrame({"seniority": pd.Categorical(["martian", None, "vp"])})
    assert by_col["seniority"].codes(odd).tolist() == [1, 0, 2 + SENIORITY_SORTED.index("vp")]


def test_naive_bayes_pools_rare_values() -> None:
    X, y = make_frame(1000, 3)
    X["campaign"] = pd.Categorical(["big"] * 990 + [f"rare{i}" for i in range(10)])
    nb = NaiveBayesBaseline(min_count=20).fit(X, y)
    campaign = next(d for d in nb.discretisers_ if d.column == "campaign")
    assert campaign.levels == ("big",)


def test_naive_bayes_scores_values_below_the_training_range_like_the_lowest_seen() -> None:
    # A column whose lowest decile is tied at its minimum (as the bank data's employment
    # figures are): a later, lower value must not land in a bin no training row filled,
    # whose likelihood ratio would come from the smoothing alone.
    rng = np.random.default_rng(0)
    v = np.concatenate([np.full(300, 5.0), rng.uniform(5.0, 10.0, 700)])
    y = (rng.random(1000) < 0.1).astype(float)
    nb = NaiveBayesBaseline().fit(pd.DataFrame({"rate": v}), y)
    rate = next(d for d in nb.discretisers_ if d.column == "rate")
    assert rate.edges is not None and rate.edges.min() > 5.0
    probe = pd.DataFrame({"rate": [1.0, 4.99, 5.0, 99.0, 10.0]})
    p = nb.predict_proba(probe)
    assert p[0] == p[1] == p[2]  # below the range: the lowest bin
    assert p[3] == p[4]  # above it: the highest
    codes = rate.codes(pd.DataFrame({"rate": v}))
    assert set(np.unique(codes)) == set(range(1, rate.n_codes))  # every value bin holds training rows


def test_naive_bayes_takes_no_evidence_from_a_value_no_training_row_had() -> None:
    # Every training value is frequent (so "other" is empty) and none is missing: an unseen
    # value or a NaN at scoring time must leave the prior as it is, not move it by the
    # class-size ratio that smoothing an empty code would give.
    rng = np.random.default_rng(1)
    colour = rng.choice(["red", "green", "blue"], 2000)
    y = (rng.random(2000) < np.where(colour == "red", 0.3, 0.05)).astype(float)
    nb = NaiveBayesBaseline().fit(pd.DataFrame({"colour": pd.Categorical(colour)}), y)
    p = nb.predict_proba(pd.DataFrame({"colour": pd.Categorical(["purple", None, "red", "blue"])}))
    assert p[0] == pytest.approx(y.mean(), abs=1e-9)
    assert p[1] == pytest.approx(y.mean(), abs=1e-9)
    assert p[2] > y.mean() > p[3]  # seen values still carry their evidence


@pytest.mark.parametrize(
    "values",
    [
        np.r_[np.zeros(200), np.full(800, 10.0)],  # linear quantiles would cut an empty (8, 10) bin
        np.r_[np.full(300, -2.0), np.linspace(-2.0, 3.0, 700)],  # negative, tied minimum
        np.random.default_rng(2).poisson(0.3, 1000).astype(float),  # a mostly-zero count
        np.random.default_rng(3).lognormal(0.0, 2.0, 1000),
        np.full(1000, 7.0),  # constant: one bin
    ],
)
def test_naive_bayes_numeric_bins_all_hold_training_rows(values: np.ndarray) -> None:
    y = (np.arange(len(values)) % 7 == 0).astype(float)
    nb = NaiveBayesBaseline().fit(pd.DataFrame({"x": values}), y)
    x = nb.discretisers_[0]
    assert x.edges is not None and len(x.edges) <= 9
    codes = x.codes(pd.DataFrame({"x": values}))
    assert set(np.unique(codes)) == set(range(1, x.n_codes))


def test_naive_bayes_numeric_nan_unseen_in_training_carries_no_evidence() -> None:
    rng = np.random.default_rng(4)
    size = rng.lognormal(3.0, 1.0, 2000)
    y = (rng.random(2000) < np.where(size > 30, 0.25, 0.05)).astype(float)
    nb = NaiveBayesBaseline().fit(pd.DataFrame({"size": size}), y)
    p = nb.predict_proba(pd.DataFrame({"size": [np.nan, 100.0, 2.0]}))
    assert p[0] == pytest.approx(y.mean(), abs=1e-9)  # NaN never seen in training: the prior
    assert p[1] > y.mean() > p[2]
    # A column that is all NaN in training learns nothing: it leaves the ranking alone.
    rows = pd.DataFrame({"size": rng.lognormal(3.0, 1.0, 50), "blank": np.nan})
    with_blank = NaiveBayesBaseline().fit(pd.DataFrame({"size": size, "blank": np.nan}), y)
    assert (np.argsort(with_blank.predict_proba(rows)) == np.argsort(nb.predict_proba(rows))).all()
