"""Funnel analytics (``leadscore report``): conversion, costs, time to qualification, LTV, gain.

Everything is computed into one plain dict (:func:`build_report`); ``report.json`` is that
dict and ``report.html`` is rendered from it (:func:`render_html`), so the two always agree.
The HTML is self-contained: inline SVG charts, inline CSS, no JavaScript, no network.

Definitions
-----------
- A lead is *qualified* if it has ``qualified_at`` (or a truthy ``qualified`` flag column
  in ``outcomes``) or became a customer; a *customer* if it has ``acquired_at`` (or a truthy
  ``acquired`` flag).
- Rates: lead → qualified = qualified / leads; qualified → customer = customers / qualified;
  lead → customer = customers / leads. A rate with a zero denominator is ``null``.
- Cost per lead = total ``acquisition_cost`` / leads, cost per qualified lead = total cost /
  qualified, CAC = total cost / customers (missing costs count as unknown, not as zero: the
  total is the sum of the known costs, and ``leads_with_cost`` says how many there were).
- Time to qualification = ``qualified_at - created_at``, time to close = ``acquired_at -
  created_at``, in days; median and 90th percentile (linear interpolation, numpy's default).
- LTV = ``deal_value`` × multiplier (first-year revenue × multiplier); mean LTV is over
  customers with a deal value; LTV:CAC = mean LTV / CAC.
- Gain at k %: share of the positives in the top ``ceil(k % × leads)`` leads by score. Ties at
  the cut-off are broken at random *in expectation* (the tied group contributes its positive
  share pro rata), so a coarse score such as the scorecard is not favoured by row order.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import Tables
from features.domains import COMPANY_SIZE_BANDS, company_size_bands

GAIN_KS: tuple[int, ...] = (5, 10, 20, 30, 50)
GRADES: tuple[str, ...] = ("A", "B", "C", "D")
DIMENSIONS: dict[str, str] = {
    "source_channel": "Channel",
    "campaign": "Campaign",
    "industry": "Industry",
    "company_size_band": "Company size",
}
MISSING = "(missing)"
DAY_S = 86_400.0
TRUE_TEXT = frozenset({"1", "1.0", "true", "t", "yes", "y"})

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- helpers


def _ratio(num: float, den: float) -> float | None:
    """``num / den`` as a float, or ``None`` when the denominator is zero or unknown."""
    if den == 0 or not np.isfinite(den) or not np.isfinite(num):
        return None
    return float(num) / float(den)


def unavailable(reason: str) -> dict[str, Any]:
    """The JSON of a section whose inputs are missing."""
    return {"available": False, "reason": reason}


def _flag(values: pd.Series) -> np.ndarray:
    """Truthy values of a flag column (bools, numbers or text such as ``yes``/``true``)."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return np.asarray(pd.to_numeric(values, errors="coerce").fillna(0).to_numpy() != 0)
    text = values.astype("string").str.strip().str.lower()
    return np.asarray(text.isin(TRUE_TEXT).fillna(False).to_numpy(dtype=bool))


def _group_labels(values: pd.Series) -> np.ndarray:
    """Group labels as text; missing or blank values become :data:`MISSING`."""
    out = values.astype(object).where(values.notna(), MISSING).astype(str).str.strip()
    return np.asarray(out.where(out != "", MISSING).to_numpy(dtype=object))


# --------------------------------------------------------------------------- per-lead frame


def funnel_frame(tables: Tables, extra_dimensions: Sequence[str] = ()) -> pd.DataFrame:
    """One row per lead with its groups, stage flags, costs, deal value and durations.

    Parameters
    ----------
    tables : Tables
        The data contract tables (``leads`` and, if present, ``outcomes``).

    Returns
    -------
    pandas.DataFrame
        Columns: the :data:`DIMENSIONS` (text, :data:`MISSING` for missing values),
        ``qualified`` and ``customer`` (bool), ``cost`` and ``deal_value`` (float, NaN if
        unknown), ``days_to_qualification`` and ``days_to_close`` (float, NaN if the stage
        was not reached or has no timestamp). Rows are in the leads table's order.
    """
    leads = tables.leads
    n = len(leads)
    outcomes = tables.outcomes.drop_duplicates("lead_id").set_index("lead_id")
    ids = leads["lead_id"]

    def outcome(col: str) -> pd.Series:
        if col not in outcomes.columns:
            return pd.Series([np.nan] * n, index=leads.index, dtype=object)
        return pd.Series(outcomes[col].reindex(ids.to_numpy()).to_numpy(), index=leads.index)

    created = leads["created_at"]
    qualified_at = pd.to_datetime(outcome("qualified_at"))
    acquired_at = pd.to_datetime(outcome("acquired_at"))
    customer = acquired_at.notna().to_numpy()
    if "acquired" in outcomes.columns:
        customer = customer | _flag(outcome("acquired").fillna(False))
    qualified = qualified_at.notna().to_numpy() | customer
    if "qualified" in outcomes.columns:
        qualified = qualified | _flag(outcome("qualified").fillna(False))

    frame = pd.DataFrame(index=pd.RangeIndex(n))
    for dim in [*DIMENSIONS, *extra_dimensions]:
        if dim == "company_size_band":
            frame[dim] = company_size_bands(leads["company_size"].to_numpy(dtype=float))
        else:
            frame[dim] = _group_labels(leads[dim]) if dim in leads.columns else MISSING
    frame["qualified"] = qualified
    frame["customer"] = customer
    frame["cost"] = pd.to_numeric(leads.get("acquisition_cost", pd.Series(np.nan, index=leads.index)), errors="coerce").to_numpy(dtype=float)
    frame["deal_value"] = pd.to_numeric(outcome("deal_value"), errors="coerce").to_numpy(dtype=float)
    frame["days_to_qualification"] = ((qualified_at - created).dt.total_seconds() / DAY_S).to_numpy(dtype=float)
    frame["days_to_close"] = ((acquired_at - created).dt.total_seconds() / DAY_S).to_numpy(dtype=float)
    return frame


# --------------------------------------------------------------------------- conversion


def _stage_counts(leads: int, qualified: int, customers: int) -> dict[str, Any]:
    return {
        "leads": int(leads),
        "qualified": int(qualified),
        "customers": int(customers),
        "lead_to_qualified": _ratio(qualified, leads),
        "qualified_to_customer": _ratio(customers, qualified),
        "lead_to_customer": _ratio(customers, leads),
    }


def overall_funnel(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts and stage conversion rates over all leads.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`funnel_frame`.

    Returns
    -------
    dict
        ``leads``, ``qualified``, ``customers`` and the three rates.
    """
    return _stage_counts(len(frame), int(frame["qualified"].sum()), int(frame["customer"].sum()))


def _grouped(frame: pd.DataFrame, key: str) -> Any:
    return frame.groupby(key, sort=False, observed=True)


def _order(groups: Sequence[str], sizes: Mapping[str, int], fixed: Sequence[str] | None = None) -> list[str]:
    if fixed is not None:
        return [g for g in fixed if g in sizes] + sorted(g for g in groups if g not in fixed)
    return sorted(groups, key=lambda g: (g == MISSING, -sizes[g], g))


def conversion_by(frame: pd.DataFrame, key: str, order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Stage counts and conversion rates for each value of ``key``.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`funnel_frame` (plus a ``grade`` column when grouping by grade).
    key : str
        Column to group by.
    order : sequence of str, optional
        Fixed order of the groups (e.g. grades A–D); default: most leads first.

    Returns
    -------
    list of dict
        One row per group: ``group`` and the fields of :func:`overall_funnel`.
    """
    agg = _grouped(frame, key).agg(leads=("qualified", "size"), qualified=("qualified", "sum"), customers=("customer", "sum"))
    sizes = {str(g): int(v) for g, v in agg["leads"].items()}
    rows = []
    for g in _order(list(sizes), sizes, order):
        r = agg.loc[g]
        rows.append({"group": g, **_stage_counts(int(r["leads"]), int(r["qualified"]), int(r["customers"]))})
    return rows


# --------------------------------------------------------------------------- costs and LTV


def _cost_row(leads: int, qualified: int, customers: int, cost: float, with_cost: int) -> dict[str, Any]:
    return {
        "leads": int(leads),
        "qualified": int(qualified),
        "customers": int(customers),
        "leads_with_cost": int(with_cost),
        "total_cost": float(cost),
        "cost_per_lead": _ratio(cost, leads),
        "cost_per_qualified_lead": _ratio(cost, qualified),
        "cac": _ratio(cost, customers),
    }


def cost_section(frame: pd.DataFrame) -> dict[str, Any]:
    """Cost per lead, cost per qualified lead and CAC, overall and by channel.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`funnel_frame`.

    Returns
    -------
    dict
        ``{"available": False, "reason": ...}`` when no lead has an ``acquisition_cost``;
        else ``overall`` and ``by_channel`` (rows with ``group``).
    """
    known = frame["cost"].notna()
    if not known.any():
        return unavailable("no acquisition_cost in the leads table")
    f = frame.assign(_cost=frame["cost"].fillna(0.0), _known=known)
    overall = _cost_row(len(f), int(f["qualified"].sum()), int(f["customer"].sum()), float(f["_cost"].sum()), int(known.sum()))
    agg = _grouped(f, "source_channel").agg(
        leads=("qualified", "size"), qualified=("qualified", "sum"), customers=("customer", "sum"),
        cost=("_cost", "sum"), with_cost=("_known", "sum"),
    )
    sizes = {str(g): int(v) for g, v in agg["leads"].items()}
    rows = []
    for g in _order(list(sizes), sizes):
        r = agg.loc[g]
        rows.append({"group": g, **_cost_row(int(r["leads"]), int(r["qualified"]), int(r["customers"]), float(r["cost"]), int(r["with_cost"]))})
    return {"available": True, "overall": overall, "by_channel": rows}


def _ltv_row(deals: np.ndarray, customers: int, cost: float | None, multiplier: float) -> dict[str, Any]:
    known = deals[np.isfinite(deals)]
    mean_deal = float(known.mean()) if len(known) else None
    mean_ltv = mean_deal * multiplier if mean_deal is not None else None
    cac = _ratio(cost, customers) if cost is not None else None
    return {
        "customers": int(customers),
        "customers_with_deal_value": len(known),
        "total_deal_value": float(known.sum()),
        "mean_deal_value": mean_deal,
        "mean_ltv": mean_ltv,
        "total_ltv": float(known.sum()) * multiplier,
        "cac": cac,
        "ltv_to_cac": _ratio(mean_ltv, cac) if mean_ltv is not None and cac is not None else None,
    }


def ltv_section(frame: pd.DataFrame, multiplier: float) -> dict[str, Any]:
    """LTV (deal value × multiplier) and LTV:CAC, overall and by channel.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`funnel_frame`.
    multiplier : float
        LTV = first-year revenue (``deal_value``) × ``multiplier``.

    Returns
    -------
    dict
        Unavailable when no customer has a ``deal_value``; LTV:CAC is ``null`` where
        there are no costs (and ``ltv_to_cac_reason`` says so).
    """
    cust = frame[frame["customer"].to_numpy()]
    if not np.isfinite(cust["deal_value"].to_numpy(dtype=float)).any():
        return unavailable("no deal_value for any customer in the outcomes table")
    has_cost = bool(frame["cost"].notna().any())
    cost = frame["cost"].fillna(0.0)
    overall = _ltv_row(cust["deal_value"].to_numpy(dtype=float), len(cust), float(cost.sum()) if has_cost else None, multiplier)
    total_cost = cost.groupby(frame["source_channel"]).sum()
    sizes = frame["source_channel"].value_counts().to_dict()
    rows = []
    for g in _order([str(k) for k in sizes], {str(k): int(v) for k, v in sizes.items()}):
        part = cust[cust["source_channel"].to_numpy() == g]
        c = float(total_cost.get(g, 0.0)) if has_cost else None
        rows.append({"group": g, **_ltv_row(part["deal_value"].to_numpy(dtype=float), len(part), c, multiplier)})
    out: dict[str, Any] = {"available": True, "multiplier": float(multiplier), "overall": overall, "by_channel": rows}
    if not has_cost:
        out["ltv_to_cac_reason"] = "no acquisition_cost in the leads table"
    return out


# --------------------------------------------------------------------------- durations


def duration_stats(days: np.ndarray) -> dict[str, Any]:
    """Count, median and 90th percentile (days) of the finite values of ``days``."""
    d = np.asarray(days, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return {"n": 0, "median_days": None, "p90_days": None, "mean_days": None}
    return {
        "n": len(d),
        "median_days": float(np.median(d)),
        "p90_days": float(np.percentile(d, 90)),
        "mean_days": float(d.mean()),
    }


def _histogram(days: np.ndarray, bins: int = 20) -> dict[str, Any]:
    d = np.asarray(days, dtype=float)
    d = d[np.isfinite(d)]
    top = float(np.percentile(d, 99)) if len(d) else 1.0
    top = max(top, 1e-9)
    edges = np.linspace(0.0, top, bins + 1)
    counts, _ = np.histogram(np.clip(d, 0.0, top), bins=edges)
    return {"bin_edges_days": [float(e) for e in edges], "counts": [int(c) for c in counts], "clipped_at_p99": True}


def duration_section(frame: pd.DataFrame, column: str, what: str, keys: Sequence[str]) -> dict[str, Any]:
    """Median / p90 days of ``column`` overall and for each of ``keys``.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`funnel_frame` (with ``grade`` if ``"grade"`` is in ``keys``).
    column : str
        ``days_to_qualification`` or ``days_to_close``.
    what : str
        The timestamp it needs (for the reason when unavailable).
    keys : sequence of str
        Group columns, e.g. ``("source_channel", "grade")``.

    Returns
    -------
    dict
        ``overall``, ``histogram`` and ``by_<key>`` rows, or unavailable.
    """
    days = frame[column].to_numpy(dtype=float)
    if not np.isfinite(days).any():
        return unavailable(f"no {what} timestamps in the outcomes table")
    hist = _histogram(days)
    edges = np.asarray(hist["bin_edges_days"])
    per_channel = {}
    labels_ch = frame["source_channel"].to_numpy(dtype=object)
    for g in sorted(set(labels_ch[np.isfinite(days)].tolist())):
        d = days[(labels_ch == g) & np.isfinite(days)]
        per_channel[str(g)] = [int(c) for c in np.histogram(np.clip(d, 0.0, edges[-1]), bins=edges)[0]]
    hist["counts_by_source_channel"] = per_channel
    out: dict[str, Any] = {"available": True, "overall": duration_stats(days), "histogram": hist}
    for key in keys:
        labels = frame[key].to_numpy(dtype=object)
        sizes = frame[key].value_counts().to_dict()
        order = GRADES if key == "grade" else None
        rows = []
        for g in _order([str(k) for k in sizes], {str(k): int(v) for k, v in sizes.items()}, order):
            rows.append({"group": g, **duration_stats(days[labels == g])})
        out[f"by_{key}"] = rows
    return out


# --------------------------------------------------------------------------- gain


def capture_curve(scores: np.ndarray, positives: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Share of positives among the top ``ceil(f × n)`` leads by score, for each fraction ``f``.

    Ties at the cut-off are resolved in expectation over random order: a tied group cut
    part-way contributes ``taken × positives_in_group / group_size``.

    Parameters
    ----------
    scores : numpy.ndarray of shape (n,)
        Higher means worked first. NaN scores rank last.
    positives : numpy.ndarray of shape (n,)
        1/True for the positives (customers or qualified leads).
    fractions : numpy.ndarray
        Fractions of the leads worked, in [0, 1].

    Returns
    -------
    numpy.ndarray
        Captured share for each fraction (NaN when there are no positives).
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positives, dtype=float)
    n = len(s)
    f = np.asarray(fractions, dtype=float)
    total = y.sum()
    if n == 0 or total == 0:
        return np.full(f.shape, np.nan)
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Tie groups in sorted order: [starts[i], ends[i]).
    new = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]
    cum = np.r_[0.0, np.cumsum(y_sorted)]
    group_pos = cum[ends] - cum[starts]
    take = np.minimum(np.ceil(f * n - 1e-9), n).astype(np.int64)
    g = np.searchsorted(starts, take, side="right") - 1  # group holding position take-1 … take
    g = np.clip(g, 0, len(starts) - 1)
    before = cum[starts[g]]
    taken_in_group = take - starts[g]
    size = ends[g] - starts[g]
    captured = before + taken_in_group * group_pos[g] / size
    return np.asarray(captured / total)


def gain_table(scores: np.ndarray, positives: np.ndarray, ks: Sequence[int] = GAIN_KS) -> list[dict[str, Any]]:
    """Gain at each k %: captured share, random expectation (k %) and lift.

    Parameters
    ----------
    scores : numpy.ndarray of shape (n,)
        Score of each lead (higher first).
    positives : numpy.ndarray of shape (n,)
        Whether each lead is a positive.
    ks : sequence of int
        Percentages of leads worked.

    Returns
    -------
    list of dict
        ``k``, ``top_leads``, ``captured`` (share of positives), ``random`` (``k / 100``)
        and ``lift`` (``captured / random``).
    """
    n = len(scores)
    shares = capture_curve(scores, positives, np.array(ks, dtype=float) / 100.0)
    rows = []
    for k, share in zip(ks, shares, strict=True):
        cap = float(share) if np.isfinite(share) else None
        rows.append({
            "k": int(k),
            "top_leads": int(min(math.ceil(n * k / 100 - 1e-9), n)),
            "captured": cap,
            "random": k / 100.0,
            "lift": cap / (k / 100.0) if cap is not None else None,
        })
    return rows


def gain_section(
    frame: pd.DataFrame,
    model_scores: np.ndarray,
    scorecard_points: np.ndarray | None,
    positives: Mapping[str, np.ndarray] | None = None,
    population: np.ndarray | None = None,
) -> dict[str, Any]:
    """Gain of the model against random order and the rule-based scorecard.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`funnel_frame`.
    model_scores : numpy.ndarray
        The model's score (or qualification probability) of each lead.
    scorecard_points : numpy.ndarray or None
        ``ScorecardBaseline().points`` of each lead at the same as_of.
    positives : mapping, optional
        ``customers`` / ``qualified`` → bool per lead (default: the stage ever reached).
    population : numpy.ndarray, optional
        Bool per lead: the leads ranked (default: all).

    Returns
    -------
    dict
        For ``customers`` and ``qualified``: rows per k with ``model``, ``scorecard``,
        ``random``; and a 0–100 % ``curve`` for the charts.
    """
    grid = np.linspace(0.0, 1.0, 51)
    keep = np.ones(len(frame), dtype=bool) if population is None else np.asarray(population, dtype=bool)
    model_scores = np.asarray(model_scores, dtype=float)[keep]
    if scorecard_points is not None:
        scorecard_points = np.asarray(scorecard_points, dtype=float)[keep]
    out: dict[str, Any] = {"available": True, "ks": list(GAIN_KS), "leads_ranked": int(keep.sum()), "curve_fractions": [float(x) for x in grid]}
    for name, col in (("customers", "customer"), ("qualified", "qualified")):
        y_all = frame[col].to_numpy(dtype=bool) if positives is None else np.asarray(positives[name], dtype=bool)
        y = y_all[keep]
        if not y.any():
            out[name] = unavailable(f"no {name} in the data")
            continue
        model_rows = gain_table(model_scores, y)
        card_rows = gain_table(scorecard_points, y) if scorecard_points is not None else None
        rows = []
        for i, r in enumerate(model_rows):
            rows.append({
                "k": r["k"], "top_leads": r["top_leads"], "model": r["captured"], "model_lift": r["lift"],
                "scorecard": card_rows[i]["captured"] if card_rows else None,
                "random": r["random"],
            })
        section: dict[str, Any] = {"available": True, "positives": int(y.sum()), "rows": rows}
        section["curve"] = {"model": [float(v) for v in capture_curve(model_scores, y, grid)]}
        if scorecard_points is not None:
            section["curve"]["scorecard"] = [float(v) for v in capture_curve(scorecard_points, y, grid)]
        out[name] = section
    return out


def calibration_section(
    frame: pd.DataFrame, observed: np.ndarray | None = None, p_col: str = "p_qualification", stage: str = "qualified"
) -> dict[str, Any]:
    """For each grade A–D: mean predicted qualification probability vs observed rate.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`funnel_frame` with ``grade`` and ``p_qualification`` columns.
    observed : numpy.ndarray, optional
        Observed outcome per lead (1/0, NaN to leave a lead out); default: ever qualified.

    Returns
    -------
    dict
        ``grades``: rows ``group``, ``leads``, ``predicted``, ``observed``, ``gap``.
    """
    if p_col not in frame or not np.isfinite(frame[p_col].to_numpy(dtype=float)).any():
        return unavailable(f"the model has no {p_col.removeprefix('p_')} target")
    obs_all = frame[stage].to_numpy(dtype=float) if observed is None else np.asarray(observed, dtype=float)
    rows = []
    for g in GRADES:
        sel = (frame["grade"].to_numpy() == g) & np.isfinite(obs_all)
        if not sel.any():
            rows.append({"group": g, "leads": 0, "predicted": None, "observed": None, "gap": None})
            continue
        pred = float(frame[p_col].to_numpy(dtype=float)[sel].mean())
        obs = float(obs_all[sel].mean())
        part = frame[sel]
        rows.append({"group": g, "leads": len(part), "predicted": pred, "observed": obs, "gap": obs - pred})
    return {"available": True, "grades": rows}


# --------------------------------------------------------------------------- model scores


def model_scores(
    bundle: Any,
    tables: Tables,
    score_age_days: float | None = 1.0,
    horizon_days: float | None = None,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """The model's grade, score and qualification probability, and the scorecard points.

    Two modes:

    - ``score_age_days=None``: every lead is scored as of the data's export time with
      :func:`serving.batch.score_tables` (what ``leadscore score`` gives today). Leads whose
      outcome is long past are scored on stale, post-outcome data, so gain and calibration
      in this mode describe *today's queue*, not how well the score predicted the outcome.
    - ``score_age_days=d`` (default 1): each lead is scored as of ``created_at + d`` days
      (capped at the export time), the score sales would have seen then, with the same
      feature pipeline and bundle (:meth:`FeaturePipeline.transform`,
      :meth:`ModelBundle.predict_matrix`, ``score_of``, ``grade_of``). Gain then counts only
      leads not yet qualified at that time and stages reached after it; calibration compares
      the predicted probability with qualification within ``horizon_days`` after it
      (uncensored leads only), which is what the model predicts.

    In both modes the scorecard points are ``ScorecardBaseline().points`` on the bundle
    pipeline's feature frame at the same as_of.

    Parameters
    ----------
    bundle : ModelBundle
        A loaded leadscore bundle.
    tables : Tables
        The data.
    score_age_days : float or None
        Lead age at scoring, in days; ``None`` scores at the export time.
    horizon_days : float, optional
        Qualification horizon for calibration (default: the training default, 30 days).
    progress : callable, optional
        Receives progress messages.

    Returns
    -------
    dict
        ``grade`` (object), ``score``, ``p_qualification``, ``scorecard`` (float) and
        ``as_of`` (datetime64) arrays, in the leads table's order; in point-in-time mode also
        ``gain_population``, ``qualified_after``, ``customer_after`` (bool) and
        ``calibration_observed`` (float, NaN where censored or already qualified).
    """
    from features.identity import resolve_identities
    from features.snapshots import observed_until
    from training.baselines import ScorecardBaseline
    from training.config import SnapshotConfig

    say = progress or (lambda _m: None)
    until = observed_until(tables)
    n = len(tables.leads)
    until64 = until.to_datetime64().astype("datetime64[us]")
    identity = resolve_identities(tables, bundle.pipeline.max_people_per_identifier)
    out: dict[str, np.ndarray] = {}
    if score_age_days is None:
        from serving.batch import score_tables

        say(f"scoring {n:,} leads as of the export time {until}")
        scored = score_tables(bundle, tables, as_of=until)
        as_of = np.full(n, until64)
        p_col = "qualification_probability"
        p = scored[p_col].to_numpy(dtype=float) if p_col in scored.columns else np.full(n, np.nan)
        out.update(grade=scored["grade"].to_numpy(dtype=object), score=scored["score"].to_numpy(dtype=float), p_qualification=p)
    else:
        created = tables.leads["created_at"].to_numpy().astype("datetime64[us]")
        as_of = np.minimum(created + np.timedelta64(int(round(score_age_days * 86_400e6)), "us"), until64)
        say(f"scoring {n:,} leads as of {score_age_days:g} day(s) after creation")
    snaps = pd.DataFrame({"lead": np.arange(n), "as_of": as_of})
    X = bundle.pipeline.transform(tables, snaps, identity=identity)
    if score_age_days is not None:
        probs = bundle.predict_matrix(X)
        primary = "qualification" if "qualification" in probs else next(iter(probs))
        score = np.round(np.array([bundle.score_of(float(v)) for v in probs[primary]]), 1)
        p = probs["qualification"] if "qualification" in probs else np.full(n, np.nan)
        out.update(grade=np.array([bundle.grade_of(float(v)) for v in score], dtype=object), score=score, p_qualification=np.asarray(p, dtype=float))
        if "acquisition" in probs:
            out["p_acquisition"] = np.asarray(probs["acquisition"], dtype=float)
        frame = funnel_frame(tables)
        created_s = pd.Series(tables.leads["created_at"].to_numpy())
        q_at = (created_s + pd.to_timedelta(frame["days_to_qualification"], unit="D")).to_numpy()
        a_at = (created_s + pd.to_timedelta(frame["days_to_close"], unit="D")).to_numpy()
        q_known = ~np.isnat(q_at)
        qualified_before = q_known & (q_at <= as_of)
        population = ~qualified_before
        out["gain_population"] = population
        out["qualified_after"] = frame["qualified"].to_numpy(dtype=bool) & ~qualified_before
        out["customer_after"] = frame["customer"].to_numpy(dtype=bool) & ~(~np.isnat(a_at) & (a_at <= as_of))
        h = SnapshotConfig().qualification_horizon_days if horizon_days is None else horizon_days
        end = as_of + np.timedelta64(int(round(h * 86_400e6)), "us")
        observed = (q_known & (q_at > as_of) & (q_at <= end)).astype(float)
        observed[~population | (end > until64)] = np.nan
        out["calibration_observed"] = observed
    card = ScorecardBaseline()
    features = bundle.pipeline.to_frame(X)
    if any(rule.column in features.columns for rule in card.rules):
        say("scorecard points on the same features")
        out["scorecard"] = np.asarray(card.points(features), dtype=float)
    out["as_of"] = as_of
    return out


# --------------------------------------------------------------------------- the report


def build_report(
    tables: Tables,
    scores: Mapping[str, np.ndarray] | None = None,
    ltv_multiplier: float = 3.0,
    model_info: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    dimensions: Mapping[str, str] | None = None,
    data_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every number of the funnel report, as JSON-able data.

    Parameters
    ----------
    tables : Tables
        Data contract tables.
    scores : mapping, optional
        From :func:`model_scores` (or hand-built: ``grade``, ``score``, ``p_qualification``,
        optionally ``scorecard``). Without it, the grade, gain and calibration sections say
        they need a model.
    ltv_multiplier : float
        LTV = deal value × this.
    model_info : mapping, optional
        Model URI, name and version to record.
    progress : callable, optional
        Receives progress messages.
    dimensions : mapping, optional
        More columns of ``leads`` to break conversion down by (column → title): the
        categorical attributes a bring-your-own-data config declares.
    data_info : mapping, optional
        Facts about the data to record (for example that its time order is its row order).

    Returns
    -------
    dict
        Sections ``funnel``, ``conversion``, ``costs``, ``time_to_qualification``,
        ``time_to_close``, ``ltv``, ``gain``, ``calibration`` (see the module docstring).
    """
    say = progress or (lambda _m: None)
    say("funnel per lead")
    extra = {k: v for k, v in (dimensions or {}).items() if k not in DIMENSIONS}
    frame = funnel_frame(tables, list(extra))
    no_model = "no model given (--model): score grades, gain and calibration need one"
    has_model = scores is not None
    if scores is not None:
        frame["grade"] = np.asarray(scores["grade"], dtype=object)
        frame["score"] = np.asarray(scores["score"], dtype=float)
        frame["p_qualification"] = np.asarray(scores["p_qualification"], dtype=float)

    say("conversion rates")
    source_column = {"company_size_band": "company_size"}
    conversion: dict[str, Any] = {}
    for dim in [*DIMENSIONS, *extra]:
        col = source_column.get(dim, dim)
        if col not in tables.leads.columns or tables.leads[col].isna().all():
            conversion[dim] = unavailable(f"no {col} values in the leads table")
        else:
            conversion[dim] = conversion_by(frame, dim, COMPANY_SIZE_BANDS if dim == "company_size_band" else None)
    conversion["grade"] = conversion_by(frame, "grade", GRADES) if has_model else unavailable(no_model)

    say("costs, LTV and time to qualification")
    keys = ("source_channel", "grade") if has_model else ("source_channel",)
    ttq = duration_section(frame, "days_to_qualification", "qualified_at", keys)
    ttc = duration_section(frame, "days_to_close", "acquired_at", keys)
    for sec in (ttq, ttc):
        if sec.get("available") and not has_model:
            sec["by_grade"] = unavailable(no_model)

    if scores is not None:
        say("gain and calibration")
        card = scores.get("scorecard")
        pit = "gain_population" in scores
        positives = {"customers": scores["customer_after"], "qualified": scores["qualified_after"]} if pit else None
        gain = gain_section(frame, frame["score"].to_numpy(dtype=float), None if card is None else np.asarray(card, dtype=float),
                            positives=positives, population=scores["gain_population"] if pit else None)
        gain["point_in_time"] = pit
        gain["note"] = (
            "each lead ranked by the score it had at the scoring time; leads already qualified by then are left out; "
            "stages count only if reached after it. On the model's own training data these figures are optimistic."
            if pit else "scores as of one time for all leads (see model.scored_at); stages ever reached"
        )
        if card is None:
            gain["scorecard"] = unavailable("no scorecard points: the data has none of the scorecard's fields")
        calibration = calibration_section(frame, scores.get("calibration_observed"))
        if calibration["available"]:
            calibration["observed_definition"] = (
                "qualified within the horizon after the scoring time (leads not yet qualified, uncensored)"
                if "calibration_observed" in scores else "ever qualified"
            )
        elif "p_acquisition" in scores and not (tables.outcomes.get("acquired_at", pd.Series(dtype=object)).notna().any()):
            # A model of acquisition only, on flag outcomes (no times): predicted against ever a customer.
            frame["p_acquisition"] = np.asarray(scores["p_acquisition"], dtype=float)
            calibration = calibration_section(frame, p_col="p_acquisition", stage="customer")
            if calibration["available"]:
                calibration["observed_definition"] = "ever a customer (acquisition flag); predicted: acquisition probability"
    else:
        gain = unavailable(no_model)
        calibration = unavailable(no_model)

    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            "leads": len(frame), "first_lead": str(tables.leads["created_at"].min()),
            "last_lead": str(tables.leads["created_at"].max()), **dict(data_info or {}),
        },
        "dimensions": {**DIMENSIONS, **extra},
        "model": {"available": True, **dict(model_info or {})} if has_model else unavailable(no_model),
        "funnel": {**overall_funnel(frame), **_stage_note(tables)},
        "conversion": conversion,
        "costs": cost_section(frame),
        "time_to_qualification": ttq,
        "time_to_close": ttc,
        "ltv": ltv_section(frame, ltv_multiplier),
        "gain": gain,
        "calibration": calibration,
    }
    return report


def _stage_note(tables: Tables) -> dict[str, Any]:
    """Say so when the data has no qualification stage (qualified then means customer)."""
    o = tables.outcomes
    has = ("qualified_at" in o and o["qualified_at"].notna().any()) or "qualified" in o
    return {} if has else {"note": "the data has no qualification stage: qualified counts the customers"}


# --------------------------------------------------------------------------- HTML


def fmt(value: Any, kind: str) -> str:
    """Display text of a number: ``pct`` (1 decimal %), ``money`` (2 decimals), ``days`` (1 decimal), ``int``, ``x`` (ratio, 2 decimals)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "days":
        return f"{value:.1f}"
    if kind == "x":
        return f"{value:.2f}"
    return f"{int(value):,}"


def _cell(value: Any, kind: str, path: str) -> str:
    return f'<td class="num" data-path="{html.escape(path)}">{fmt(value, kind)}</td>'


def _note(section: Mapping[str, Any]) -> str:
    return f'<p class="na">Not available: {html.escape(str(section.get("reason", "")))}</p>'


def _table(rows: Sequence[Mapping[str, Any]], cols: Sequence[tuple[str, str, str]], path: str, first: str = "group") -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _k, label, _f in cols)
    body = []
    for i, r in enumerate(rows):
        cells = "".join(_cell(r.get(k), f, f"{path}.{i}.{k}") for k, _l, f in cols)
        body.append(f"<tr><th scope=\"row\">{html.escape(str(r.get(first, '')))}</th>{cells}</tr>")
    return f'<table><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


MAX_BARS = 30
PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#d69e2e", "#718096", "#e53e3e", "#4a5568")


def svg_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], kind: str = "pct", horizontal: bool = False) -> str:
    """A grouped bar chart as inline SVG.

    Parameters
    ----------
    title : str
        Chart title (also the SVG's accessible name).
    labels : sequence of str
        Category labels.
    series : mapping
        Series name → one value per label (``None`` draws nothing).
    kind : str
        Value format for the bar labels (see :func:`fmt`).
    horizontal : bool
        Horizontal bars (for the funnel).

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    vals = [v for s in series.values() for v in s if v is not None]
    top = max(vals) if vals and max(vals) > 0 else 1.0
    names = list(series)
    parts = [f'<title>{html.escape(title)}</title>']
    if horizontal:
        w, row_h, left = 640, 34, 150
        h = 30 + row_h * len(labels) * len(names) + 10
        y = 30
        for i, lab in enumerate(labels):
            for j, name in enumerate(names):
                v = series[name][i]
                bw = 0 if v is None else (w - left - 90) * v / top
                parts.append(f'<rect x="{left}" y="{y}" width="{bw:.1f}" height="{row_h - 8}" fill="{PALETTE[j % len(PALETTE)]}"/>')
                parts.append(f'<text x="{left - 6}" y="{y + row_h / 2}" text-anchor="end">{html.escape(lab)}</text>')
                parts.append(f'<text x="{left + bw + 4:.1f}" y="{y + row_h / 2}">{fmt(v, kind)}</text>')
                y += row_h
    else:
        top_pad = 16 + 14 * ((len(names) + 3) // 4)
        w, left, bottom = 720, 70, 70
        h = 230 + top_pad + bottom
        plot_w, plot_h = w - left - 10, h - top_pad - bottom
        slot = plot_w / max(len(labels), 1)
        bar = slot * 0.8 / max(len(names), 1)
        parts.append(f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{w - 10}" y2="{top_pad + plot_h}" stroke="#999"/>')
        for t in (0.0, 0.5, 1.0):
            ty = top_pad + plot_h * (1 - t)
            parts.append(f'<line x1="{left - 3}" y1="{ty:.1f}" x2="{w - 10}" y2="{ty:.1f}" stroke="#edf2f7"/>')
            parts.append(f'<text x="{left - 5}" y="{ty + 4:.1f}" text-anchor="end">{fmt(top * t, kind)}</text>')
        for i, lab in enumerate(labels):
            x0 = left + i * slot + slot * 0.1
            for j, name in enumerate(names):
                v = series[name][i]
                bh = 0 if v is None else plot_h * v / top
                x = x0 + j * bar
                parts.append(f'<rect x="{x:.1f}" y="{top_pad + plot_h - bh:.1f}" width="{bar * 0.95:.1f}" height="{bh:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{html.escape(name)} {html.escape(lab)}: {fmt(v, kind)}</title></rect>')
            cx = left + i * slot + slot / 2
            parts.append(f'<text x="{cx:.1f}" y="{top_pad + plot_h + 14}" text-anchor="end" transform="rotate(-30 {cx:.1f} {top_pad + plot_h + 14})">{html.escape(lab[:24])}</text>')
        for j, name in enumerate(names):
            lx, ly = left + (j % 4) * 170, 6 + 14 * (j // 4)
            parts.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{PALETTE[j % len(PALETTE)]}"/><text x="{lx + 16}" y="{ly + 10}">{html.escape(name)}</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html.escape(title)}" width="{w}" height="{h}" viewBox="0 0 {w} {h}">{"".join(parts)}</svg>'


def svg_lines(title: str, xs: Sequence[float], series: Mapping[str, Sequence[float]]) -> str:
    """Gain curves (x and y in [0, 1]) as inline SVG, with the random diagonal."""
    w, h, left, bottom = 420, 340, 50, 40
    pw, ph = w - left - 15, h - 30 - bottom

    def px(x: float) -> float:
        return left + pw * x

    def py(y: float) -> float:
        return 30 + ph * (1 - y)

    parts = [f'<title>{html.escape(title)}</title>']
    parts.append(f'<rect x="{left}" y="30" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{px(t):.1f}" y="{h - bottom + 16}" text-anchor="middle">{100 * t:.0f}%</text>')
        parts.append(f'<text x="{left - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{100 * t:.0f}%</text>')
    parts.append(f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#999" stroke-dasharray="4 3"/>')
    names = [*series, "random"]
    for j, name in enumerate(series):
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, series[name], strict=True) if math.isfinite(y))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[j % len(PALETTE)]}" stroke-width="2"/>')
    for j, name in enumerate(names):
        color = PALETTE[j % len(PALETTE)] if name != "random" else "#999"
        parts.append(f'<rect x="{left + 8}" y="{38 + 16 * j}" width="12" height="3" fill="{color}"/><text x="{left + 24}" y="{43 + 16 * j}">{html.escape(name)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{h - 4}" text-anchor="middle">share of leads worked (by score)</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html.escape(title)}" width="{w}" height="{h}" viewBox="0 0 {w} {h}">{"".join(parts)}</svg>'


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1a202c}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{padding:.25em .7em;border-bottom:1px solid #edf2f7;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.na{color:#9b2c2c;font-style:italic}.meta{color:#4a5568}
svg{font-size:11px;display:block;margin:.5em 0}svg text{fill:#2d3748}
.charts{display:flex;flex-wrap:wrap;gap:1em}
"""

FUNNEL_COLS = (("leads", "Leads", "int"), ("qualified", "Qualified", "int"), ("customers", "Customers", "int"),
               ("lead_to_qualified", "Lead→qualified", "pct"), ("qualified_to_customer", "Qualified→customer", "pct"),
               ("lead_to_customer", "Lead→customer", "pct"))
COST_COLS = (("leads", "Leads", "int"), ("total_cost", "Total cost", "money"), ("cost_per_lead", "Cost per lead", "money"),
             ("cost_per_qualified_lead", "Cost per qualified lead", "money"), ("cac", "CAC", "money"))
LTV_COLS = (("customers", "Customers", "int"), ("mean_deal_value", "Mean first-year revenue", "money"),
            ("mean_ltv", "Mean LTV", "money"), ("cac", "CAC", "money"), ("ltv_to_cac", "LTV:CAC", "x"))
DUR_COLS = (("n", "Leads", "int"), ("median_days", "Median days", "days"), ("p90_days", "p90 days", "days"))


def _conversion_html(rows: Sequence[Mapping[str, Any]], title: str, path: str) -> str:
    shown = rows[:MAX_BARS]
    chart = svg_bars(f"Conversion by {title}", [str(r["group"]) for r in shown], {
        "lead → qualified": [r["lead_to_qualified"] for r in shown],
        "lead → customer": [r["lead_to_customer"] for r in shown],
    })
    more = f'<p class="meta">Chart: the {MAX_BARS} largest of {len(rows)} groups; the table has all.</p>' if len(rows) > MAX_BARS else ""
    return f"<h3>By {html.escape(title)}</h3>{chart}{more}{_table(rows, FUNNEL_COLS, path)}"


def render_html(report: Mapping[str, Any]) -> str:
    """The self-contained HTML report (no JavaScript, no external resources).

    Parameters
    ----------
    report : mapping
        From :func:`build_report`. Every number shown is taken from it; numeric cells carry
        ``data-path`` (the JSON path of the value, e.g. ``funnel.lead_to_qualified``).

    Returns
    -------
    str
        The HTML document.
    """
    out: list[str] = []
    f = report["funnel"]
    model = report["model"]
    meta = f"{f['leads']:,} leads created {report['data']['first_lead']} – {report['data']['last_lead']}"
    if model.get("available"):
        meta += f"; model {html.escape(str(model.get('uri', '')))} (version {html.escape(str(model.get('version', '')))}, scored at {html.escape(str(model.get('scored_at', '')))})"
    else:
        meta += "; no model"
    out.append(f"<h1>Lead funnel report</h1><p class=\"meta\">{meta}. Generated {html.escape(report['generated_at'])}.</p>")

    out.append("<h2>Funnel</h2>")
    out.append(svg_bars("Funnel", ["Leads", "Qualified", "Customers"], {"count": [f["leads"], f["qualified"], f["customers"]]}, kind="int", horizontal=True))
    out.append(_table([{"group": "All leads", **f}], FUNNEL_COLS, "funnel_table"))
    out.append(f'<p>Lead → qualified <b data-path="funnel.lead_to_qualified">{fmt(f["lead_to_qualified"], "pct")}</b>, '
               f'qualified → customer <b data-path="funnel.qualified_to_customer">{fmt(f["qualified_to_customer"], "pct")}</b>, '
               f'lead → customer <b data-path="funnel.lead_to_customer">{fmt(f["lead_to_customer"], "pct")}</b>.</p>')
    if f.get("note"):
        out.append(f'<p class="na">Note: {html.escape(f["note"])}.</p>')

    out.append("<h2>Conversion</h2>")
    conv = report["conversion"]
    for dim, title in report.get("dimensions", DIMENSIONS).items():
        if isinstance(conv[dim], list):
            out.append(_conversion_html(conv[dim], title.lower(), f"conversion.{dim}"))
        else:
            out.append(f"<h3>By {html.escape(title.lower())}</h3>" + _note(conv[dim]))
    if isinstance(conv["grade"], list):
        out.append(_conversion_html(conv["grade"], "score grade", "conversion.grade"))
    else:
        out.append("<h3>By score grade</h3>" + _note(conv["grade"]))

    out.append("<h2>Cost per lead, cost per qualified lead, CAC</h2>")
    costs = report["costs"]
    if costs["available"]:
        rows = costs["by_channel"]
        out.append(svg_bars("Cost by channel", [r["group"] for r in rows], {
            "cost per lead": [r["cost_per_lead"] for r in rows],
            "cost per qualified lead": [r["cost_per_qualified_lead"] for r in rows],
            "CAC": [r["cac"] for r in rows]}, kind="money"))
        out.append(_table(rows, COST_COLS, "costs.by_channel"))
        out.append(_table([{"group": "All channels", **costs["overall"]}], COST_COLS, "costs.overall_table"))
    else:
        out.append(_note(costs))

    out.append("<h2>LTV and LTV:CAC</h2>")
    ltv = report["ltv"]
    if ltv["available"]:
        out.append(f'<p>LTV = first-year revenue (deal value) × <span data-path="ltv.multiplier">{ltv["multiplier"]:g}</span>.</p>')
        out.append(_table(ltv["by_channel"], LTV_COLS, "ltv.by_channel"))
        out.append(_table([{"group": "All channels", **ltv["overall"]}], LTV_COLS, "ltv.overall_table"))
        if "ltv_to_cac_reason" in ltv:
            out.append(f'<p class="na">LTV:CAC not available: {html.escape(ltv["ltv_to_cac_reason"])}</p>')
    else:
        out.append(_note(ltv))

    for key, title in (("time_to_qualification", "Time to qualification"), ("time_to_close", "Time to close")):
        out.append(f"<h2>{title} (days from lead creation)</h2>")
        sec = report[key]
        if not sec["available"]:
            out.append(_note(sec))
            continue
        hist = sec["histogram"]
        edges = hist["bin_edges_days"]
        labels = [f"{edges[i]:.0f}–{edges[i + 1]:.0f}" for i in range(len(edges) - 1)]
        out.append(svg_bars(f"{title} distribution", labels, {"leads": hist["counts"]}, kind="int"))
        by_ch = hist.get("counts_by_source_channel", {})
        if 1 < len(by_ch) <= len(PALETTE):
            shares = {g: [c / max(sum(cs), 1) for c in cs] for g, cs in by_ch.items()}
            out.append(svg_bars(f"{title} distribution by channel (share of the channel's leads)", labels, shares))
        out.append(_table([{"group": "All", **sec["overall"]}], DUR_COLS, f"{key}.overall_table"))
        out.append(_table(sec["by_source_channel"], DUR_COLS, f"{key}.by_source_channel"))
        if isinstance(sec.get("by_grade"), list):
            out.append(_table(sec["by_grade"], DUR_COLS, f"{key}.by_grade"))
        else:
            out.append("<h3>By grade</h3>" + _note(sec["by_grade"]))

    out.append("<h2>Gain: who sales should work first</h2>")
    gain = report["gain"]
    if gain["available"]:
        out.append(f"<p class=\"meta\">{html.escape(gain.get('note', ''))} Leads ranked: "
                   f"<span data-path=\"gain.leads_ranked\">{fmt(gain['leads_ranked'], 'int')}</span>.</p>")
        charts = []
        for name, title in (("customers", "customers"), ("qualified", "qualified leads")):
            sec = gain[name]
            if not sec.get("available"):
                out.append(_note(sec))
                continue
            charts.append(svg_lines(f"Share of {title} captured", gain["curve_fractions"], sec["curve"]))
            cols = [("top_leads", "Top leads", "int"), ("model", "Model", "pct"), ("scorecard", "Scorecard", "pct"), ("random", "Random", "pct"), ("model_lift", "Model lift", "x")]
            rows = [{**r, "group": f"top {r['k']}%"} for r in sec["rows"]]
            out.append(f"<h3>Share of {title} in the top k%</h3>" + _table(rows, cols, f"gain.{name}.rows"))
        out.append(f'<div class="charts">{"".join(charts)}</div>')
        if "scorecard" in gain and not gain["scorecard"].get("available", True):
            out.append(_note(gain["scorecard"]))
    else:
        out.append(_note(gain))

    out.append("<h2>Grade calibration</h2>")
    cal = report["calibration"]
    if cal["available"]:
        rows = cal["grades"]
        out.append(svg_bars("Predicted vs observed qualification by grade", [r["group"] for r in rows],
                            {"predicted": [r["predicted"] for r in rows], "observed": [r["observed"] for r in rows]}))
        out.append(_table(rows, (("leads", "Leads", "int"), ("predicted", "Predicted", "pct"), ("observed", "Observed", "pct")), "calibration.grades"))
    else:
        out.append(_note(cal))

    body = "\n".join(out)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Lead funnel report</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


# --------------------------------------------------------------------------- output


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_report(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir`` (created if needed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js = write_atomic(out_dir / "report.json", json.dumps(report, indent=2, allow_nan=False))
    page = write_atomic(out_dir / "report.html", render_html(report))
    return js, page


def log_report(paths: Sequence[Path], report: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    """Log the report files as artifacts of a new MLflow run (tag ``leadscore.role=report``).

    Tracking must already be configured (:func:`training.tracking.configure`).

    Returns
    -------
    str
        The run id.
    """
    import mlflow

    with mlflow.start_run(run_name="report") as run:
        mlflow.set_tags({"leadscore.role": "report", **tags})
        f = report["funnel"]
        metrics = {"report_leads": f["leads"], "report_qualified": f["qualified"], "report_customers": f["customers"],
                   "report_lead_to_qualified": f["lead_to_qualified"], "report_lead_to_customer": f["lead_to_customer"]}
        if report["costs"].get("available"):
            metrics["report_cac"] = report["costs"]["overall"]["cac"]
        if report["ltv"].get("available"):
            metrics["report_ltv_to_cac"] = report["ltv"]["overall"]["ltv_to_cac"]
        gain = report["gain"]
        for name in ("customers", "qualified") if gain.get("available") else ():
            for row in gain[name].get("rows", []):
                for who in ("model", "scorecard"):
                    metrics[f"report_gain_{name}_top{row['k']}_{who}"] = row[who]
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        for p in paths:
            mlflow.log_artifact(str(p), artifact_path="report")
        return str(run.info.run_id)
