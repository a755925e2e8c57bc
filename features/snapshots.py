"""Point-in-time training examples: ``(lead, as_of)`` snapshots with their labels.

A lead is snapshotted at creation and at each rescoring offset while it is still open
(neither qualified nor acquired at ``as_of``) and before the data's export time. Labels look
only at ``(as_of, as_of + horizon]``. Where that window runs past the export time, the
label is unknown (NaN) and the example is left out of that target's training and
evaluation, so censoring turns into neither a false negative nor a biased positive rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.contract import Tables, UserError

DEFAULT_OFFSETS_DAYS: tuple[float, ...] = (0, 1, 3, 7, 14, 30)
DEFAULT_HORIZONS_DAYS: dict[str, float] = {"qualified": 30.0, "acquired": 90.0}
TARGET_COLUMNS = {"qualified": "qualified_at", "acquired": "acquired_at"}


def observed_until(tables: Tables) -> pd.Timestamp:
    """The export time: the latest timestamp anywhere in the tables (plus one microsecond)."""
    stamps = [tables.leads["created_at"].max()]
    stamps += [tables.events["timestamp"].max(), tables.identities["timestamp"].max()]
    stamps += [tables.outcomes[c].max() for c in ("qualified_at", "acquired_at") if c in tables.outcomes]
    valid = [s for s in stamps if pd.notna(s)]
    return pd.Timestamp(max(valid)) + pd.Timedelta(microseconds=1)


def build_snapshots(
    tables: Tables,
    offsets_days: Sequence[float] = DEFAULT_OFFSETS_DAYS,
    horizons_days: dict[str, float] | None = None,
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per (lead, as_of) with labels ``y_<target>`` (1.0, 0.0 or NaN if censored).

    Columns: ``lead`` (row of the leads table), ``lead_id``, ``as_of``, ``offset_days``,
    and one ``y_<target>`` per horizon.
    """
    horizons = dict(DEFAULT_HORIZONS_DAYS if horizons_days is None else horizons_days)
    until = observed_until(tables) if until is None else pd.Timestamp(until)
    leads = tables.leads
    n = len(leads)
    outcome_times = _outcome_times(tables)
    offsets = np.asarray(sorted({float(o) for o in offsets_days}), dtype="float64")
    if (offsets < 0).any():
        raise UserError("snapshot offsets must be non-negative")
    lead = np.repeat(np.arange(n), len(offsets))
    off = np.tile(offsets, n)
    created = leads["created_at"].to_numpy().astype("datetime64[us]")
    as_of = created[lead] + (off * 86_400e6).astype("timedelta64[us]")
    frame = pd.DataFrame({"lead": lead, "lead_id": leads["lead_id"].to_numpy()[lead], "as_of": as_of, "offset_days": off})
    until64 = np.datetime64(until.to_datetime64(), "us")
    closed_at = np.minimum(
        _nat_to_max(outcome_times["qualified"]), _nat_to_max(outcome_times["acquired"])
    )[lead]
    open_ = (as_of < until64) & (closed_at > as_of)
    frame = frame[open_].reset_index(drop=True)
    for target, horizon in horizons.items():
        if target not in outcome_times:
            raise UserError(f"unknown target {target!r}; expected one of {sorted(outcome_times)}")
        frame[f"y_{target}"] = label_window(
            outcome_times[target][frame["lead"].to_numpy()], frame["as_of"].to_numpy(), horizon, until64
        )
    return frame


def label_window(event_at: np.ndarray, as_of: np.ndarray, horizon_days: float, until: np.datetime64) -> np.ndarray:
    """1 if the event falls in (as_of, as_of + horizon], 0 if not, NaN if the window is cut off.

    A window that reaches the export time is unknown whatever happened in it: keeping the
    early positives of such windows and dropping their negatives would inflate the
    positive rate of the most recent period, exactly the one used for testing.
    """
    end = as_of + np.timedelta64(int(round(horizon_days * 86_400e6)), "us")
    happened = ~np.isnat(event_at) & (event_at > as_of) & (event_at <= end)
    censored = end >= until
    y = happened.astype("float64")
    y[censored] = np.nan
    return y


def _outcome_times(tables: Tables) -> dict[str, np.ndarray]:
    leads, outcomes = tables.leads, tables.outcomes
    out: dict[str, np.ndarray] = {}
    idx = pd.Index(leads["lead_id"]).get_indexer(outcomes["lead_id"]) if len(outcomes) else np.array([], dtype=int)
    for target, col in TARGET_COLUMNS.items():
        arr = np.full(len(leads), np.datetime64("NaT"), dtype="datetime64[us]")
        if len(outcomes) and col in outcomes:
            vals = outcomes[col].to_numpy().astype("datetime64[us]")
            arr[idx[idx >= 0]] = vals[idx >= 0]
        out[target] = arr
    return out


def _nat_to_max(a: np.ndarray) -> np.ndarray:
    return np.where(np.isnat(a), np.datetime64("9999-12-31", "us"), a)
