"""LightGBM's fast single-row path gives the booster's own predictions."""

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
