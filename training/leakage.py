"""The leakage guard: user-declared columns that give the answer away are left out.

A CRM export often carries fields filled in *because* of the outcome (a close reason, a
call duration, a contract number). Two signs, judged on the training period only:

* the column has values only for positives (every row with a value is a positive);
* the column alone ranks the training labels with an AUC above
  ``leakage.max_single_feature_auc`` (0.95 by default; for a categorical column, by the
  positive rate of each value, rare values pooled).

Such a column is excluded with a loud warning naming it, unless ``data.keep`` lists it.
Only columns the user declared are judged; the data contract's own columns are not.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.source import AttributeSchema
from training.config import LABEL_OF, TrainConfig
from training.shift import positive_rates

log = logging.getLogger(__name__)


def single_feature_auc(values: pd.Series, y: np.ndarray, categorical: bool, min_count: int) -> float:
    """How well one column alone ranks ``y``, either way round (0.5 … 1)."""
    if categorical:
        keys = values.astype(object).where(values.notna(), "\0missing").astype(str)
        codes = pd.factorize(keys)[0].astype("float64")
        x = positive_rates(codes, np.asarray(y, dtype="float64"), np.ones(len(codes), dtype=bool), min_count)
    else:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        finite = np.isfinite(x)
        x = np.where(finite, x, x[finite].min() - 1.0 if finite.any() else 0.0)  # missing ranks lowest
    auc = float(roc_auc_score(y, x))
    return max(auc, 1.0 - auc)


def leakage_guard(
    leads: pd.DataFrame,
    snaps: pd.DataFrame,
    splits: dict,
    schema: AttributeSchema,
    config: TrainConfig,
    keep: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, str]:
    """Field names to exclude → why. Kept columns are reported, not excluded."""
    lc = config.leakage
    columns = [(c, True) for c in schema.categorical] + [(c, False) for c in (*schema.numeric, *schema.behaviour)]
    out: dict[str, str] = {}
    for target, sp in splits.items():
        y_all = snaps[LABEL_OF[target]].to_numpy()
        rows = sp.train & ~np.isnan(y_all)
        y = y_all[rows].astype(int)
        if y.min(initial=1) == y.max(initial=0):
            continue
        lead_rows = snaps["lead"].to_numpy()[rows]
        for name, categorical in columns:
            if name in out or name not in leads.columns:
                continue
            values = leads[name].iloc[lead_rows].reset_index(drop=True)
            present = values.notna().to_numpy()
            why = None
            if present.sum() >= lc.min_rows and y[present].min() == 1:
                why = f"has values only for positives of {target} ({int(present.sum())} training rows)"
            elif present.sum() < lc.min_rows:
                log.warning(
                    "leakage guard: column %r has values in only %d training rows of %s (fewer than leakage.min_rows, %d), "
                    "so it was not judged", name, int(present.sum()), target, lc.min_rows,
                )
            else:
                auc = single_feature_auc(values, y, categorical, config.features.min_category_count)
                if auc > lc.max_single_feature_auc:
                    why = f"alone it ranks {target} with AUC {auc:.3f} > {lc.max_single_feature_auc} on the training period"
            if why is None:
                continue
            if name in keep:
                log.warning("leakage guard: column %r %s; kept because data.keep lists it", name, why)
                continue
            log.warning("LEAKAGE GUARD: excluding column %r: %s", name, why)
            out[name] = why
    return out
