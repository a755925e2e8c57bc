"""Batch scoring: a data directory in, one row of answers per lead out (``leadscore score``).

The batch feature path (:meth:`FeaturePipeline.transform`, identity resolution over the
whole data) and :meth:`ModelBundle.predict_matrix`; every lead is scored as of the data's
export time. The answers are the API's: same probabilities, score, grade and action, and
with ``reasons`` the same sub-scores and reasons (as JSON text columns).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import Tables, UserError, write_frame
from features.identity import resolve_identities
from features.snapshots import observed_until
from training.bundle import ACTIONS, ModelBundle

OUTPUT_SUFFIXES = (".parquet", ".csv")


def score_tables(
    bundle: ModelBundle,
    tables: Tables,
    reasons: bool = False,
    as_of: pd.Timestamp | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 20_000,
) -> pd.DataFrame:
    """One row per lead, in the leads table's order."""
    until = observed_until(tables) if as_of is None else pd.Timestamp(as_of)
    n = len(tables.leads)
    snaps = pd.DataFrame({"lead": np.arange(n), "as_of": np.full(n, until.to_datetime64().astype("datetime64[us]"))})
    identity = resolve_identities(tables, bundle.pipeline.max_people_per_identifier)
    X = bundle.pipeline.transform(tables, snaps, identity=identity, chunk_leads=chunk, progress=progress)
    probs = bundle.predict_matrix(X)
    primary = "qualification" if "qualification" in probs else next(iter(probs))
    scores = np.array([bundle.score_of(float(p)) for p in probs[primary]])
    grades = [bundle.grade_of(float(s)) for s in scores]
    out = pd.DataFrame({"lead_id": tables.leads["lead_id"].astype(str).to_numpy()})
    out["model_name"] = bundle.name
    out["model_version"] = bundle.version
    out["as_of"] = until.to_datetime64().astype("datetime64[us]")
    for name, p in probs.items():
        out[f"{name}_probability"] = p
    out["score"] = np.round(scores, 1)
    out["grade"] = grades
    out["action"] = [ACTIONS[g] for g in grades]
    if reasons:
        ex = bundle.explainer()
        w = ex.width
        cols: dict[str, list[Any]] = {}
        for lo in range(0, n, 256):  # rows × tree paths per chunk: keep it in memory
            contrib = ex.shap(X[lo: lo + 256])
            for r in range(contrib.shape[0]):
                for k, name in enumerate(bundle.targets):
                    e = bundle.explain(X[lo + r], contrib[r, k * w: (k + 1) * w])
                    cols.setdefault(f"{name}_fit_score", []).append(e["fit_score"])
                    cols.setdefault(f"{name}_engagement_score", []).append(e["engagement_score"])
                    cols.setdefault(f"{name}_reasons", []).append(json.dumps(e["reasons"]))
        for c, values in cols.items():
            out[c] = values
    return out


def score_directory(
    bundle: ModelBundle,
    tables: Tables,
    out_file: str | Path,
    reasons: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score and write ``out_file`` (.parquet or .csv) atomically; return a summary."""
    out_file = Path(out_file)
    if out_file.suffix not in OUTPUT_SUFFIXES:
        raise UserError(f"--out must end in .parquet or .csv, got {out_file.name!r}")
    if not out_file.parent.exists():
        raise UserError(f"output directory does not exist: {out_file.parent}")
    if not os.access(out_file.parent, os.W_OK):  # before minutes of scoring, not after
        raise UserError(f"output directory is not writable: {out_file.parent}")
    t0 = time.perf_counter()
    frame = score_tables(bundle, tables, reasons=reasons, progress=progress)
    t1 = time.perf_counter()
    try:
        write_frame(frame, out_file)  # written to a temporary name, then renamed
    except OSError as e:  # disk full, file too large, read-only: the temporary file is gone
        raise UserError(f"cannot write {out_file}: {e.strerror or e}; nothing was written") from None
    t2 = time.perf_counter()
    return {
        "out": str(out_file),
        "leads": len(frame),
        "model": {"name": bundle.name, "version": bundle.version},
        "as_of": str(frame["as_of"].iloc[0]) if len(frame) else None,
        "reasons": reasons,
        "seconds_scoring": round(t1 - t0, 3),
        "seconds_writing": round(t2 - t1, 3),
        "leads_per_s": round(len(frame) / max(t2 - t0, 1e-9), 1),
    }
