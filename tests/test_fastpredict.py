"""LightGBM's fast single-row path gives the booster's own predictions; averaged boosters stay one model."""

from __future__ import annotations

import threading

import lightgbm as lgb
import numpy as np

from training.fastpredict import FastRowPredictor


def test_fast_single_row_equals_booster_predict_with_categoricals_and_nans() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 6))
    X[:, 0] = rng.integers(0, 5, 3000)  # a categorical column
    X[rng.random(X.shape) < 0.1] = np.nan
    y = ((np.nan_to_num(X[:, 1]) + (X[:, 0] == 2)) > 0.5).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 7, "seed": 1},
        lgb.Dataset(X, y, categorical_feature=[0]),
        60,
    )
    fast = FastRowPredictor(booster)
    expected = booster.predict(X)
    got = np.array([fast.predict(X[i]) for i in range(len(X))])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    # an unseen category and a non-contiguous row
    row = X[5].copy()
    row[0] = 99
    assert fast.predict(row) == booster.predict(row.reshape(1, -1))[0]
    assert fast.predict(X[:, ::1][7]) == expected[7]

    # one configuration per thread
    results: list[float] = []
    threads = [threading.Thread(target=lambda: results.append(fast.predict(X[11]))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected[11]] * 4


def test_averaged_boosters_are_one_model_with_the_mean_score_and_exact_reasons() -> None:
    from training.attribution import TreeExplainer
    from training.train import average_boosters

    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 5))
    X[:, 0] = rng.integers(0, 6, 2000)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = ((np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) + (X[:, 0] == 3)) > 0.3).astype(float)
    data = lgb.Dataset(X, y, categorical_feature=[0], free_raw_data=False)
    params = {"objective": "binary", "verbosity": -1, "bagging_fraction": 0.7, "bagging_freq": 1,
              "feature_fraction": 0.6, "deterministic": True}
    members = [lgb.train({**params, "num_leaves": n, "seed": s}, data, r) for s, n, r in ((1, 7, 40), (2, 4, 25), (3, 15, 10))]
    merged = average_boosters(members)
    raw = np.mean([m.predict(X, raw_score=True) for m in members], axis=0)
    np.testing.assert_allclose(merged.predict(X, raw_score=True), raw, rtol=0, atol=1e-12)
    assert merged.num_trees() == 75
    assert merged.params["seed"] == 1  # the first booster heads the merged model
    # The members are left as they were.
    np.testing.assert_allclose(members[0].predict(X[:5], raw_score=True),
                               lgb.Booster(model_str=members[0].model_to_string()).predict(X[:5], raw_score=True))
    # Saved and loaded, through the fast row path, and explained exactly.
    loaded = lgb.Booster(model_str=merged.model_to_string())
    fast = FastRowPredictor(loaded)
    np.testing.assert_allclose([fast.predict(X[i]) for i in range(50)], merged.predict(X[:50]), rtol=0, atol=1e-15)
    contrib = TreeExplainer([loaded]).shap(X[:200])
    np.testing.assert_allclose(contrib, loaded.predict(X[:200], pred_contrib=True), rtol=0, atol=1e-9)
    np.testing.assert_allclose(contrib.sum(axis=1), raw[:200], rtol=0, atol=1e-9)
    np.testing.assert_allclose(contrib, np.mean([m.predict(X[:200], pred_contrib=True) for m in members], axis=0),
                               rtol=0, atol=1e-9)
    # One booster is returned as itself, detached from its training data.
    single = average_boosters(members[:1])
    np.testing.assert_array_equal(single.predict(X), members[0].predict(X))
