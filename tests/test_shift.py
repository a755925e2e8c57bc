"""The validation warning's parts: when it fires, the AUC's standard error, and which
features it names (training/shift.py). The whole path, through training and MLflow, is
tested in test_byo.py on an export whose segment effect turns round."""

from __future__ import annotations

import numpy as np
import pytest

from training.shift import auc_with_se, period_aucs, validation_warning

LABELS = ["flipped", "noise", "always one", "all missing", "categorical with missing", "per lead"]


def _data(n_leads: int = 3000, per_lead: int = 3, seed: int = 0) -> dict:
    """Leads with ``per_lead`` snapshots each (same label and features), the first 70% of leads
    the training period. Feature 0's relation turns round in validation; the rest carry none."""
    rng = np.random.default_rng(seed)
    lead = np.repeat(np.arange(n_leads), per_lead)
    train_lead = np.arange(n_leads) < int(0.7 * n_leads)
    flipped = rng.integers(0, 2, n_leads).astype(float)
    p = np.where(train_lead, np.where(flipped == 1, 0.4, 0.1), np.where(flipped == 1, 0.1, 0.4))
    y_lead = (rng.random(n_leads) < p).astype(float)
    cat = rng.integers(0, 4, n_leads).astype(float)
    cat[rng.random(n_leads) < 0.2] = np.nan
    X = np.column_stack([
        flipped, rng.normal(size=n_leads), np.ones(n_leads), np.full(n_leads, np.nan), cat,
        np.arange(n_leads, dtype=float),  # one value per lead: only its own label can "predict" it
    ])[lead]
    return {"X": X, "y": y_lead[lead], "groups": lead, "train": train_lead[lead], "valid": ~train_lead[lead],
            "categorical": {0, 4, 5}}


def test_auc_standard_error_is_hanley_mcneil_and_counts_groups_not_rows() -> None:
    y = np.r_[np.ones(50), np.zeros(50)]
    score = y + np.random.default_rng(0).normal(0, 1.2, 100)
    a, se = auc_with_se(y, score)
    assert 0.65 < a < 0.9
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    assert se == pytest.approx(np.sqrt((a * (1 - a) + 49 * (q1 - a * a) + 49 * (q2 - a * a)) / 2500))
    assert auc_with_se(np.full(5, 1.0), np.arange(5.0)) == (0.5, float("inf"))  # one class: no evidence
    # Every row twice, counted as groups of two: the error of the rows once.
    a2, se2 = auc_with_se(np.repeat(y, 2), np.repeat(score, 2), rows_per_group=2.0)
    assert (a2, se2) == pytest.approx((a, se))
    assert auc_with_se(np.repeat(y, 2), np.repeat(score, 2))[1] < se / 1.3


def test_period_aucs_find_the_turned_relation_and_nothing_else() -> None:
    d = _data()
    aucs = {j: (t, v, se) for j, t, v, se in period_aucs(d["X"], d["y"], d["groups"], d["train"], d["valid"], d["categorical"], 20)}
    t, v, se = aucs[0]
    assert t > 0.6 and v < 0.4 and t - v > 2 * se
    for j in (1, 2, 3, 4):  # no signal, constant, all missing, categorical with missing values
        t, v, se = aucs[j]
        assert abs(t - 0.5) < 0.04 and abs(v - 0.5) < 0.04 and np.isfinite(se)
    # A value per lead, with rare values pooled off (min_count 1): the training halves are
    # split by lead, so a lead's other snapshots never give its own label away (split by row,
    # this scored about 1.0).
    per_lead = period_aucs(d["X"], d["y"], d["groups"], d["train"], d["valid"], d["categorical"], 1)[5]
    assert abs(per_lead[1] - 0.5) < 0.04


@pytest.mark.parametrize(
    ("auc", "rounds", "max_rounds", "rate", "fires", "says"),
    [
        (0.54, 500, 2000, 0.05, True, "barely better than chance (validation AUC 0.540"),
        (0.80, 5, 2000, 0.05, True, "kept 5 of up to 2000 boosting rounds at learning rate 0.05, so the model is close to a constant"),
        (0.80, 5, 5, 0.05, False, "all the rounds there were"),
        (0.80, 5, 2000, 0.3, False, "5 rounds at a high learning rate"),
        (0.80, 10, 2000, 0.05, False, "enough rounds, a good AUC"),
    ],
)
def test_when_the_warning_fires(auc: float, rounds: int, max_rounds: int, rate: float, fires: bool, says: str) -> None:
    d = _data(n_leads=600)
    warning = validation_warning(
        "acquisition", auc, rounds, max_rounds, rate, d["X"], d["y"], d["groups"], d["train"], d["valid"],
        LABELS, d["categorical"], 20,
    )
    assert (warning is not None) == fires, warning
    if warning is not None:
        assert warning.startswith("acquisition: ") and says in warning
        assert "fell most from training to validation: flipped (AUC" in warning
        assert all(label not in warning for label in LABELS[1:]), warning
        assert "data.drop" in warning
