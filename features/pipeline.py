"""Feature definitions and the fitted feature pipeline, with a batch and an online path.

One definition, two execution paths:

* *fit* features (who the lead is) come from :func:`lead_attributes`, a plain function of
  one lead record. The batch path calls it once per lead, the online path once per request.
* *engagement* features (what the person did) come from :func:`engagement_matrix`, a numpy
  kernel over event rows tagged with a segment (snapshot) number. The batch path passes
  millions of rows and one segment per snapshot; the online path passes one request's
  events as a single segment. The event → row encoding (:meth:`FeaturePipeline.encode_event`
  for one event, its vectorised twin in :meth:`FeaturePipeline.transform`) is the only
  other per-path code, and the parity tests hold them equal.

Every feature has a family (``fit`` or ``engagement``) and a human-readable label for reasons.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import numpy as np
import pandas as pd

from features.contract import EVENT_TYPES, Tables
from features.domains import company_size_band, domain_type, email_domain
from features.identity import (
    IdentityMap,
    epoch_seconds,
    normalise_identifier,
    normalise_one,
    resolve_identities,
)
from features.titles import normalise_title

DAY_S = 86_400.0
SESSION_GAP_S = 30 * 60.0
NEVER_DAYS = 9999.0  # recency value of "no such event yet"
HIGH_INTENT_TYPES = ("pricing_page_view", "demo_request", "trial_signup")
TYPE_CODE: dict[str, int] = {t: i for i, t in enumerate(EVENT_TYPES)}
OTHER_TYPE = len(EVENT_TYPES)
N_TYPES = OTHER_TYPE + 1
_HIGH_INTENT_MASK = np.zeros(N_TYPES, dtype=bool)
_HIGH_INTENT_MASK[[TYPE_CODE[t] for t in HIGH_INTENT_TYPES]] = True
_HIGH_INTENT_LIST = [bool(v) for v in _HIGH_INTENT_MASK]
_KEY_SPAN = np.int64(1 << 32)

EVENT_LABELS = {
    "page_view": "Page views",
    "pricing_page_view": "Pricing page views",
    "content_download": "Content downloads",
    "webinar_registered": "Webinar registrations",
    "webinar_attended": "Webinars attended",
    "email_open": "Email opens",
    "email_click": "Email clicks",
    "form_submit": "Form submissions",
    "demo_request": "Demo requests",
    "trial_signup": "Trial sign-ups",
}

REGIONS = {
    "na": ["us", "usa", "united states", "united states of america", "ca", "canada"],
    "latam": ["mx", "mexico", "br", "brazil", "ar", "argentina", "cl", "chile", "co", "colombia", "pe", "peru"],
    "apac": [
        "au", "australia", "nz", "new zealand", "in", "india", "jp", "japan", "cn", "china", "sg",
        "singapore", "kr", "south korea", "korea", "hk", "hong kong", "id", "indonesia", "ph",
        "philippines", "my", "malaysia", "th", "thailand", "vn", "vietnam",
    ],
    "emea": [
        "gb", "uk", "united kingdom", "great britain", "de", "germany", "fr", "france", "nl",
        "netherlands", "es", "spain", "it", "italy", "se", "sweden", "no", "norway", "dk", "denmark",
        "fi", "finland", "ie", "ireland", "ch", "switzerland", "at", "austria", "be", "belgium", "pl",
        "poland", "pt", "portugal", "il", "israel", "ae", "united arab emirates", "za", "south africa",
        "ng", "nigeria", "eg", "egypt", "sa", "saudi arabia", "tr", "turkey", "cz", "czechia",
    ],
}
_REGION_OF = {name: region for region, names in REGIONS.items() for name in names}


def clean_category(value: object) -> str | None:
    """Missing → None; otherwise stripped, lower-cased text (so 'Software ' == 'software')."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    s = str(value).strip().lower()
    return s or None


def clean_number(value: object) -> float:
    if value is None:
        return math.nan
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


# --- fit features: one function of one lead record ------------------------------------

FIT_CATEGORICAL = (
    "seniority",
    "department",
    "email_domain_type",
    "company_size_band",
    "industry",
    "country",
    "region",
    "source_channel",
)
FIT_NUMERIC = ("company_size", "email_matches_company", "lead_age_days")
FIT_LABELS = {
    "seniority": "Seniority (from job title)",
    "department": "Department (from job title)",
    "email_domain_type": "Email domain type",
    "company_size_band": "Company size band",
    "industry": "Industry",
    "country": "Country",
    "region": "Region",
    "source_channel": "Source channel",
    "company_size": "Company size (employees)",
    "email_matches_company": "Email on the company's domain",
    "lead_age_days": "Days since the lead was created",
}


def lead_attributes(lead: Mapping[str, Any]) -> tuple[list[str | None], list[float]]:
    """The raw fit values of one lead: categorical values and numbers (without lead age)."""
    seniority, department = normalise_title(lead.get("job_title"))
    email = lead.get("email")
    size = clean_number(lead.get("company_size"))
    if size < 0:
        size = math.nan
    country = clean_category(lead.get("country"))
    domain = email_domain(email) if isinstance(email, str) else None
    company_domain = clean_category(lead.get("company_domain"))
    if domain is None or company_domain is None:
        matches = math.nan
    else:
        company_domain = company_domain.removeprefix("www.")
        matches = 1.0 if domain == company_domain or domain.endswith("." + company_domain) else 0.0
    cats = [
        seniority,
        department,
        domain_type(domain),
        company_size_band(None if math.isnan(size) else size),
        clean_category(lead.get("industry")),
        country,
        None if country is None else _REGION_OF.get(country, "other"),
        clean_category(lead.get("source_channel")),
    ]
    return cats, [size, matches]


# --- engagement features: one numpy kernel over event rows ----------------------------


def engagement_names(windows: Sequence[float], half_lives: Sequence[float]) -> list[tuple[str, str, int]]:
    """(name, label, direction) of every engagement feature, in kernel output order.

    ``direction`` is +1 where more means more engaged, -1 where less means more engaged
    (recency), 0 where neither holds; training may use it as a monotone constraint.
    """
    w_last = _fmt(windows[-1])
    h_last = _fmt(half_lives[-1])
    out = [
        (f"n_{t}_{_fmt(w)}d", f"{EVENT_LABELS[t]}, last {_fmt(w)} days", 1) for t in EVENT_TYPES for w in windows
    ]
    out += [(f"n_events_{_fmt(w)}d", f"All activity, last {_fmt(w)} days", 1) for w in windows]
    out += [(f"n_other_events_{w_last}d", f"Other activity types, last {w_last} days", 0)]
    out += [(f"decay_{_fmt(h)}d", f"Recent activity (half-life {_fmt(h)} days)", 1) for h in half_lives]
    out += [(f"decay_high_intent_{h_last}d", f"Recent high-intent activity (half-life {h_last} days)", 1)]
    out += [
        ("days_since_last_event", "Days since last activity", -1),
        ("days_since_last_high_intent", "Days since last high-intent activity (pricing, demo, trial)", -1),
        ("active_days_30d", "Active days, last 30 days", 1),
        (f"active_days_{w_last}d", f"Active days, last {w_last} days", 1),
        ("sessions_30d", "Sessions, last 30 days", 1),
        (f"n_devices_{w_last}d", f"Devices used, last {w_last} days", 1),
        (f"n_channels_{w_last}d", f"Channels engaged, last {w_last} days", 1),
        (f"email_click_per_open_{w_last}d", f"Email clicks per open, last {w_last} days", 0),
        (f"webinar_attendance_rate_{w_last}d", f"Webinars attended per registration, last {w_last} days", 0),
        ("trend_7d_vs_30d", "Activity trend: last 7 days against the 23 before", 1),
        ("n_events_since_created", "All activity since the lead was created", 1),
        ("n_high_intent_since_created", "High-intent activity since the lead was created", 1),
        ("events_per_day_since_created", "Activity per day since the lead was created", 1),
        ("high_intent_per_day_since_created", "High-intent activity per day since the lead was created", 1),
        ("n_events_before_created", "Activity before the lead was created (anonymous browsing)", 1),
    ]
    return out


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class EventRows:
    """Event rows, each tagged with the segment (snapshot) it counts for.

    ``seg`` must be non-decreasing. ``age`` is days before ``as_of`` (> 0), ``ts`` epoch
    seconds; ``day`` the UTC day number; ``ident``, ``device`` and ``channel`` small
    non-negative integer codes (``device``/``channel`` -1 when not applicable).
    """

    seg: np.ndarray
    age: np.ndarray
    etype: np.ndarray
    ts: np.ndarray
    day: np.ndarray
    ident: np.ndarray
    device: np.ndarray
    channel: np.ndarray


def engagement_matrix(
    rows: EventRows, n_seg: int, windows: Sequence[float], half_lives: Sequence[float], lead_age: np.ndarray
) -> np.ndarray:
    """All engagement features, one row per segment. Used by both paths.

    ``lead_age`` is each segment's days since lead creation (NaN if unknown).
    """
    seg, age, etype = rows.seg, rows.age, rows.etype
    win = np.asarray(windows, dtype="float64")
    nw = len(win)
    bucket = np.searchsorted(win, age, side="right")
    counts = np.bincount((seg * N_TYPES + etype) * (nw + 1) + bucket, minlength=n_seg * N_TYPES * (nw + 1))
    cum = np.cumsum(counts.reshape(n_seg, N_TYPES, nw + 1), axis=2)[:, :, :nw].astype("float64")
    per_type = cum[:, :OTHER_TYPE, :].reshape(n_seg, OTHER_TYPE * nw)
    totals = cum.sum(axis=1)
    other_last = cum[:, OTHER_TYPE, nw - 1]

    decays = [np.bincount(seg, weights=np.exp(age * (-math.log(2) / h)), minlength=n_seg) for h in half_lives]
    hi = _HIGH_INTENT_MASK[etype]
    decay_hi = np.bincount(seg[hi], weights=np.exp(age[hi] * (-math.log(2) / half_lives[-1])), minlength=n_seg)

    # "Never" is a large number, not NaN: trees then treat it as "long ago", which keeps
    # recency monotone (LightGBM's monotone constraints do not cover missing values).
    last = np.fmin(_seg_reduce(np.minimum, age, seg, n_seg), NEVER_DAYS)
    last_hi = np.fmin(_seg_reduce(np.minimum, age[hi], seg[hi], n_seg), NEVER_DAYS)
    in30 = age < 30
    in_last = age < win[-1]
    active30 = _seg_nunique(seg, rows.day, n_seg, in30)
    active_last = _seg_nunique(seg, rows.day, n_seg, in_last)
    sessions = _sessions(rows, n_seg, in30)
    devices = _seg_nunique(seg, rows.device, n_seg, in_last & (rows.device >= 0))
    channels = _seg_nunique(seg, rows.channel, n_seg, in_last & (rows.channel >= 0))

    t_open, t_click = TYPE_CODE["email_open"], TYPE_CODE["email_click"]
    t_reg, t_att = TYPE_CODE["webinar_registered"], TYPE_CODE["webinar_attended"]
    with np.errstate(divide="ignore", invalid="ignore"):
        click_rate = np.where(cum[:, t_open, nw - 1] > 0, cum[:, t_click, nw - 1] / cum[:, t_open, nw - 1], np.nan)
        attend_rate = np.where(cum[:, t_reg, nw - 1] > 0, cum[:, t_att, nw - 1] / cum[:, t_reg, nw - 1], np.nan)
    n7 = _count_before(age, seg, n_seg, 7.0)
    n30 = _count_before(age, seg, n_seg, 30.0)
    trend = (n7 + 1.0) / ((n30 - n7) * (7.0 / 23.0) + 1.0)
    # Since creation: rates per day of lead age estimate the person's activity level better
    # than any fixed window (a tree cannot divide two features itself).
    seg_age = lead_age[seg] if len(seg) else np.empty(0)
    since = age < seg_age  # NaN lead age: nothing counts as since creation
    n_since = np.bincount(seg[since], minlength=n_seg).astype("float64")
    hi_since = np.bincount(seg[since & hi], minlength=n_seg).astype("float64")
    before = np.bincount(seg[age >= seg_age], minlength=n_seg).astype("float64")
    days = np.maximum(lead_age, 0.0) + 1.0
    return np.column_stack(
        [per_type, totals, other_last, *decays, decay_hi, last, last_hi, active30, active_last,
         sessions, devices, channels, click_rate, attend_rate, trend,
         n_since, hi_since, n_since / days, hi_since / days, before]
    )


def engagement_one(
    events: Sequence[Mapping[str, Any]],
    as_of_s: float,
    own_id: str | None,
    windows: Sequence[float],
    half_lives: Sequence[float],
    lead_age: float,
) -> list[float]:
    """The online executor of :func:`engagement_matrix`: one lead's events, pure Python.

    Same features, same order, same constants; for twenty events a single pass in Python
    costs a fraction of the ~70 small numpy calls the vectorised kernel makes. The parity
    tests hold the two equal (exactly for counts, to 1e-9 for sums of floats), and
    :meth:`FeaturePipeline.fit` checks that both produce as many values as there are names.
    """
    nw = len(windows)
    w_last = windows[-1]
    rates = [-math.log(2) / h for h in half_lives]
    rate_last = rates[-1]
    width = nw + 1
    hist = [0] * (N_TYPES * width)  # per type, per window bucket
    decays = [0.0] * len(half_lives)
    decay_hi = 0.0
    last = last_hi = math.inf
    days30: set[int] = set()
    days_last: set[int] = set()
    devices: set[str] = set()
    channels: set[str] = set()
    recent: list[tuple[str, float]] = []
    n7 = n30 = n_since = hi_since = before = 0
    type_code, high = TYPE_CODE, _HIGH_INTENT_LIST
    names: dict[object, str] = {}  # identifier → normalised, once per request
    chans: dict[object, str] = {}
    exp, floor = math.exp, math.floor
    two = len(rates) == 2
    r0, r1 = (rates[0], rates[1]) if two else (0.0, 0.0)
    d0 = d1 = 0.0
    add30, add_last, add_dev, add_ch, keep_recent = days30.add, days_last.add, devices.add, channels.add, recent.append
    get_name, get_chan = names.get, chans.get
    epoch, us = _EPOCH, _US
    for e in events:
        t = e["timestamp"]
        ts = ((t - epoch) // us) / 1e6 if type(t) is datetime and t.tzinfo is None else to_epoch_seconds(t)
        if not ts < as_of_s:
            continue
        age = (as_of_s - ts) / DAY_S
        code = type_code.get(e.get("event_type"), OTHER_TYPE)  # type: ignore[arg-type]
        hist[code * width + bisect_right(windows, age)] += 1
        if two:  # the default: two half-lives, unrolled
            d0 += exp(age * r0)
            d1 += exp(age * r1)
        else:
            for j, r in enumerate(rates):
                decays[j] += exp(age * r)
        is_hi = high[code]
        if is_hi:
            decay_hi += exp(age * rate_last)
            if age < last_hi:
                last_hi = age
        if age < last:
            last = age
        raw = e.get("identifier")
        ident = get_name(raw)
        if ident is None:
            ident = names[raw] = normalise_one(raw) or ""
        day = floor(ts / DAY_S)
        if age < 30:
            add30(day)
            keep_recent((ident, ts))
            n30 += 1
            if age < 7:
                n7 += 1
        if age < w_last:
            add_last(day)
            if ident and not ("@" in ident or ident == own_id):
                add_dev(ident)
            raw_ch = e.get("channel")
            if raw_ch is not None:
                ch = get_chan(raw_ch)
                if ch is None:
                    ch = chans[raw_ch] = normalise_one(raw_ch) or ""
                if ch:
                    add_ch(ch)
        if age < lead_age:
            n_since += 1
            hi_since += is_hi
        elif age >= lead_age:
            before += 1
    if two:
        decays = [d0, d1]
    cum: list[list[float]] = [list(accumulate(hist[t * width : t * width + nw])) for t in range(N_TYPES)]
    sessions = 0
    prev_ident, prev_ts = None, 0.0
    for ident, ts in sorted(recent):
        if ident != prev_ident or ts - prev_ts > SESSION_GAP_S:
            sessions += 1
        prev_ident, prev_ts = ident, ts
    t_open, t_click = TYPE_CODE["email_open"], TYPE_CODE["email_click"]
    t_reg, t_att = TYPE_CODE["webinar_registered"], TYPE_CODE["webinar_attended"]
    opens, regs = cum[t_open][nw - 1], cum[t_reg][nw - 1]
    days = max(lead_age, 0.0) + 1.0 if lead_age == lead_age else math.nan
    out: list[float] = [v for row in cum[:OTHER_TYPE] for v in row]
    out += [sum(col) for col in zip(*cum, strict=True)]
    out += [
        cum[OTHER_TYPE][nw - 1], *decays, decay_hi, min(last, NEVER_DAYS), min(last_hi, NEVER_DAYS),
        len(days30), len(days_last), sessions, len(devices), len(channels),
        cum[t_click][nw - 1] / opens if opens > 0 else math.nan,
        cum[t_att][nw - 1] / regs if regs > 0 else math.nan,
        (n7 + 1.0) / ((n30 - n7) * (7.0 / 23.0) + 1.0),
        n_since, hi_since, n_since / days, hi_since / days, before,
    ]
    return out


def _count_before(age: np.ndarray, seg: np.ndarray, n_seg: int, days: float) -> np.ndarray:
    return np.bincount(seg[age < days], minlength=n_seg).astype("float64")


def _seg_reduce(op: np.ufunc, values: np.ndarray, seg: np.ndarray, n_seg: int) -> np.ndarray:
    """Per-segment min or max; NaN for segments with no rows."""
    out = np.full(n_seg, np.nan)
    if len(values) == 0:
        return out
    if n_seg == 1:
        out[0] = op.reduce(values)
        return out
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    out[seg[starts]] = op.reduceat(values, starts)
    return out


def _seg_nunique(seg: np.ndarray, key: np.ndarray, n_seg: int, mask: np.ndarray) -> np.ndarray:
    k = seg[mask].astype(np.int64) * _KEY_SPAN + key[mask].astype(np.int64)
    if n_seg == 1:
        return np.array([float(len(set(k.tolist())))])
    u = np.unique(k)
    return np.bincount(u // _KEY_SPAN, minlength=n_seg).astype("float64")


def _sessions(rows: EventRows, n_seg: int, mask: np.ndarray) -> np.ndarray:
    s, i, t = rows.seg[mask], rows.ident[mask], rows.ts[mask]
    if len(s) == 0:
        return np.zeros(n_seg)
    order = np.lexsort((t, i, s))
    s, i, t = s[order], i[order], t[order]
    new = np.ones(len(s), dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (i[1:] != i[:-1]) | ((t[1:] - t[:-1]) > SESSION_GAP_S)
    return np.bincount(s[new], minlength=n_seg).astype("float64")


# --- fitted categories ------------------------------------------------------------------


class CategoryMap:
    """Category → integer code. Missing → NaN (LightGBM's missing), unseen → ``other``."""

    def __init__(self, values: Sequence[str]) -> None:
        # A real value "other" shares the bucket of unseen values.
        self.values = [v for v in values if v != "other"]
        self.index = {v: i for i, v in enumerate(self.values)}
        self.other = len(self.values)

    @property
    def categories(self) -> list[str]:
        return [*self.values, "other"]

    def code(self, value: str | None) -> float:
        if value is None:
            return math.nan
        return float(self.index.get(value, self.other))

    def codes(self, values: Sequence[str | None]) -> np.ndarray:
        return np.array([self.code(v) for v in values], dtype="float64")


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    family: str
    label: str
    categorical: bool
    direction: int = 0


def to_epoch_seconds(value: object) -> float:
    """A timestamp (ISO string, datetime, numpy/pandas time, epoch seconds) → epoch seconds.

    Naive datetimes are UTC, as in the data contract. Exact to the microsecond, matching
    the batch path's conversion of ``datetime64[us]``.
    """
    if type(value) is datetime and value.tzinfo is None:  # the common case, first
        return ((value - _EPOCH) // _US) / 1e6
    if isinstance(value, bool):
        raise TypeError("a timestamp cannot be a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, np.datetime64):
        return float(value.astype("datetime64[us]").astype(np.int64)) / 1e6
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return ((value - _EPOCH) // _US) / 1e6
    raise TypeError(f"not a timestamp: {value!r}")


_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


class FeaturePipeline:
    """The fitted feature pipeline carried by the model bundle (scikit-learn style).

    Parameters
    ----------
    windows : sequence of float
        Count windows in days, ascending.
    half_lives : sequence of float
        Half-lives in days of the exponentially decayed activity.
    min_category_count : int
        A categorical value seen fewer times than this in ``fit`` maps to ``other``.
    max_categories : int
        At most this many values per categorical feature; the rest map to ``other``.
    max_people_per_identifier : int
        An identifier linked to more people than this is a shared device (identity resolution).
    """

    def __init__(
        self,
        windows: Sequence[float] = (1, 7, 30, 90),
        half_lives: Sequence[float] = (7, 30),
        min_category_count: int = 20,
        max_categories: int = 50,
        max_people_per_identifier: int = 3,
    ) -> None:
        self.windows = windows
        self.half_lives = half_lives
        self.min_category_count = min_category_count
        self.max_categories = max_categories
        self.max_people_per_identifier = max_people_per_identifier

    # -- fit -----------------------------------------------------------------------------
    def fit(self, leads: pd.DataFrame) -> FeaturePipeline:
        """Learn category maps from the training leads."""
        windows = [float(w) for w in self.windows]
        if not windows or sorted(windows) != windows or windows[0] <= 0:
            raise ValueError("windows must be positive and ascending")
        if not self.half_lives or min(self.half_lives) <= 0:
            raise ValueError("half_lives must be positive")
        cats, _ = self._lead_frame(leads)
        maps: dict[str, list[str]] = {}
        for j, name in enumerate(FIT_CATEGORICAL):
            counts = pd.Series([c for c in cats[j] if c is not None], dtype=object).value_counts()
            counts = counts[counts >= self.min_category_count]
            maps[name] = [str(v) for v in sorted(counts.index, key=lambda v: (-counts[v], v))[: self.max_categories]]
        return self._set_fitted(maps)

    def _set_fitted(self, maps: Mapping[str, Sequence[str]]) -> FeaturePipeline:
        windows = [float(w) for w in self.windows]
        self.category_maps_ = {name: CategoryMap(maps[name]) for name in FIT_CATEGORICAL}
        self.windows_ = windows
        self.half_lives_ = [float(h) for h in self.half_lives]
        infos = [FeatureInfo(n, "fit", FIT_LABELS[n], True) for n in FIT_CATEGORICAL]
        infos += [FeatureInfo(n, "fit", FIT_LABELS[n], False) for n in FIT_NUMERIC]
        infos += [
            FeatureInfo(n, "engagement", label, False, direction)
            for n, label, direction in engagement_names(self.windows_, self.half_lives_)
        ]
        self.features_ = infos
        self.feature_names_ = [f.name for f in infos]
        self.n_fit_ = len(FIT_CATEGORICAL) + len(FIT_NUMERIC)
        return self

    @property
    def categorical_indices_(self) -> list[int]:
        return [i for i, f in enumerate(self.features_) if f.categorical]

    # -- batch ---------------------------------------------------------------------------
    def transform(
        self,
        tables: Tables,
        snapshots: pd.DataFrame,
        identity: IdentityMap | None = None,
        chunk_leads: int = 20_000,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Feature matrix for ``snapshots`` (columns ``lead`` and ``as_of``), in their order."""
        self._check_fitted()
        if identity is None:
            identity = resolve_identities(tables, self.max_people_per_identifier)
        fit_block = self._fit_block(tables.leads)
        ev = self._event_lead_rows(tables, identity)
        n = len(snapshots)
        out = np.empty((n, len(self.features_)), dtype="float64")
        lead = snapshots["lead"].to_numpy().astype(np.int64)
        as_of = epoch_seconds(snapshots["as_of"])
        order = np.argsort(lead, kind="stable")
        lead_sorted, as_of_sorted = lead[order], as_of[order]
        created = epoch_seconds(tables.leads["created_at"])
        n_leads = len(tables.leads)
        ev_bounds = np.searchsorted(ev["lead"], np.arange(n_leads + 1))
        snap_bounds = np.searchsorted(lead_sorted, np.arange(n_leads + 1))
        for lo in range(0, n_leads, chunk_leads):
            hi = min(n_leads, lo + chunk_leads)
            s0, s1 = snap_bounds[lo], snap_bounds[hi]
            if s1 > s0:
                rows_out = order[s0:s1]
                sl = lead_sorted[s0:s1]
                block = out[rows_out]
                block[:, : self.n_fit_ - 1] = fit_block[sl]
                block[:, self.n_fit_ - 1] = (as_of_sorted[s0:s1] - created[sl]) / DAY_S
                rows = self._expand(ev, ev_bounds[lo], ev_bounds[hi], sl, as_of_sorted[s0:s1], snap_bounds[lo:hi + 1] - s0, lo)
                block[:, self.n_fit_:] = engagement_matrix(
                    rows, s1 - s0, self.windows_, self.half_lives_, block[:, self.n_fit_ - 1]
                )
                out[rows_out] = block
            if progress is not None:
                progress(hi - lo)
        return out

    def _lead_frame(self, leads: pd.DataFrame) -> tuple[list[list[str | None]], np.ndarray]:
        cols = ["job_title", "email", "company_size", "country", "company_domain", "industry", "source_channel"]
        present = [c for c in cols if c in leads.columns]
        values = [leads[c].astype(object).where(leads[c].notna(), None).tolist() for c in present]
        cats: list[list[str | None]] = [[] for _ in FIT_CATEGORICAL]
        nums = np.empty((len(leads), 2), dtype="float64")
        for i, rec in enumerate(zip(*values, strict=True)) if values else enumerate([()] * len(leads)):
            c, x = lead_attributes(dict(zip(present, rec, strict=True)))
            for j, v in enumerate(c):
                cats[j].append(v)
            nums[i] = x
        return cats, nums

    def _fit_block(self, leads: pd.DataFrame) -> np.ndarray:
        cats, nums = self._lead_frame(leads)
        codes = [self.category_maps_[name].codes(cats[j]) for j, name in enumerate(FIT_CATEGORICAL)]
        return np.column_stack([*codes, nums])

    def _event_lead_rows(self, tables: Tables, identity: IdentityMap) -> dict[str, np.ndarray]:
        """Events joined to the leads they may belong to, sorted by lead."""
        events = tables.events
        nodes = identity.nodes_of(events["identifier"]) if len(events) else np.array([], dtype=np.int64)
        pairs = identity.pairs
        pn = pairs["node"].to_numpy()
        porder = np.argsort(pn, kind="stable")
        pn = pn[porder]
        lo = np.searchsorted(pn, nodes, side="left")
        hi = np.searchsorted(pn, nodes, side="right")
        cnt = np.where(nodes >= 0, hi - lo, 0)
        ev_idx = np.repeat(np.arange(len(nodes)), cnt)
        starts = np.repeat(lo, cnt)
        within = np.arange(len(ev_idx)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pidx = porder[starts + within]
        lead = pairs["lead"].to_numpy()[pidx].astype(np.int64)
        ts = epoch_seconds(events["timestamp"])[ev_idx]
        etype = np.asarray(
            pd.Series(events["event_type"].to_numpy()[ev_idx]).map(TYPE_CODE).fillna(OTHER_TYPE), dtype=np.int64
        )
        ident = nodes[ev_idx]
        ident_names = identity.node_index
        is_email = np.asarray(ident_names.str.contains("@", regex=False), dtype=bool)[ident]
        own = identity.lead_nodes[lead] == ident
        device = np.where(is_email | own, -1, ident)
        if "channel" in events:
            ch_codes, _ = pd.factorize(normalise_identifier(events["channel"]).to_numpy()[ev_idx], use_na_sentinel=True)
            channel = ch_codes.astype(np.int64)
        else:
            channel = np.full(len(ev_idx), -1, dtype=np.int64)
        order = np.argsort(lead, kind="stable")
        return {
            "lead": lead[order],
            "ts": ts[order],
            "etype": etype[order],
            "ident": ident[order],
            "device": device[order],
            "channel": channel[order],
            "join_start": pairs["join_start"].to_numpy()[pidx][order],
            "join_end": pairs["join_end"].to_numpy()[pidx][order],
        }

    def _expand(
        self,
        ev: dict[str, np.ndarray],
        e0: int,
        e1: int,
        snap_lead: np.ndarray,
        snap_as_of: np.ndarray,
        snap_bounds: np.ndarray,
        lead0: int,
    ) -> EventRows:
        """Pair each event row of leads [lead0, …) with each snapshot of its lead."""
        ev_lead = ev["lead"][e0:e1] - lead0
        n_snap = np.diff(snap_bounds)
        reps = n_snap[ev_lead]
        e = np.repeat(np.arange(e0, e1), reps)
        first_snap = np.repeat(snap_bounds[:-1][ev_lead], reps)
        within = np.arange(len(e)) - np.repeat(np.cumsum(reps) - reps, reps)
        seg = first_snap + within
        as_of = snap_as_of[seg]
        ts = ev["ts"][e]
        keep = (ts < as_of) & (ev["join_start"][e] < as_of) & (as_of <= ev["join_end"][e])
        e, seg, as_of, ts = e[keep], seg[keep], as_of[keep], ts[keep]
        order = np.argsort(seg, kind="stable")
        e, seg, as_of, ts = e[order], seg[order], as_of[order], ts[order]
        return EventRows(
            seg=seg.astype(np.int64),
            age=(as_of - ts) / DAY_S,
            etype=ev["etype"][e],
            ts=ts,
            day=np.floor(ts / DAY_S).astype(np.int64),
            ident=ev["ident"][e],
            device=ev["device"][e],
            channel=ev["channel"][e],
        )

    # -- online ----------------------------------------------------------------------------
    def transform_one(self, lead: Mapping[str, Any], events: Sequence[Mapping[str, Any]], as_of: object) -> np.ndarray:
        """Feature vector of one lead from a plain dict and its events. No DataFrame."""
        self._check_fitted()
        t_as_of = to_epoch_seconds(as_of)
        cats, nums = lead_attributes(lead)
        maps = self.category_maps_
        vec = [maps[name].code(cats[j]) for j, name in enumerate(FIT_CATEGORICAL)]
        created = lead.get("created_at")
        lead_age = (t_as_of - to_epoch_seconds(created)) / DAY_S if created is not None else math.nan
        vec += [nums[0], nums[1], lead_age]
        vec += engagement_one(events, t_as_of, normalise_one(lead.get("lead_id")), self.windows_, self.half_lives_, lead_age)
        return np.array(vec, dtype="float64")

    def encode_events(self, events: Sequence[Mapping[str, Any]], as_of_s: float, own_id: str | None) -> EventRows:
        """One request's events → :class:`EventRows` of a single segment (the online twin of
        :meth:`_event_lead_rows` + :meth:`_expand`)."""
        ts_l: list[float] = []
        et_l: list[int] = []
        id_l: list[int] = []
        dev_l: list[int] = []
        ch_l: list[int] = []
        ids: dict[str, int] = {}
        chans: dict[str, int] = {}
        for e in events:
            ts = to_epoch_seconds(e["timestamp"])
            if not ts < as_of_s:
                continue
            ident = normalise_one(e.get("identifier")) or ""
            code = ids.setdefault(ident, len(ids))
            ts_l.append(ts)
            et_l.append(TYPE_CODE.get(e.get("event_type"), OTHER_TYPE))  # type: ignore[arg-type]
            id_l.append(code)
            dev_l.append(-1 if (not ident or "@" in ident or ident == own_id) else code)
            ch = normalise_one(e.get("channel"))
            ch_l.append(-1 if ch is None else chans.setdefault(ch, len(chans)))
        ts_a = np.asarray(ts_l, dtype="float64")
        return EventRows(
            seg=np.zeros(len(ts_l), dtype=np.int64),
            age=(as_of_s - ts_a) / DAY_S,
            etype=np.asarray(et_l, dtype=np.int64),
            ts=ts_a,
            day=np.floor(ts_a / DAY_S).astype(np.int64),
            ident=np.asarray(id_l, dtype=np.int64),
            device=np.asarray(dev_l, dtype=np.int64),
            channel=np.asarray(ch_l, dtype=np.int64),
        )

    # -- helpers -----------------------------------------------------------------------------
    def to_frame(self, X: np.ndarray) -> pd.DataFrame:
        """The matrix as a DataFrame with pandas categoricals (for baselines and reports)."""
        self._check_fitted()
        df = pd.DataFrame(X, columns=self.feature_names_)
        for name in FIT_CATEGORICAL:
            cats = self.category_maps_[name].categories
            codes = df[name].to_numpy()
            df[name] = pd.Categorical.from_codes(np.where(np.isnan(codes), -1, codes).astype(int), categories=cats)
        return df

    def to_dict(self) -> dict[str, Any]:
        """Fitted state as plain JSON-able data (the bundle stores this, never a pickle)."""
        self._check_fitted()
        return {
            "params": {
                "windows": list(self.windows_),
                "half_lives": list(self.half_lives_),
                "min_category_count": self.min_category_count,
                "max_categories": self.max_categories,
                "max_people_per_identifier": self.max_people_per_identifier,
            },
            "categories": {name: m.values for name, m in self.category_maps_.items()},
            "feature_names": self.feature_names_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeaturePipeline:
        params = data["params"]
        pipe = cls(
            windows=params["windows"],
            half_lives=params["half_lives"],
            min_category_count=params["min_category_count"],
            max_categories=params["max_categories"],
            max_people_per_identifier=params["max_people_per_identifier"],
        )
        missing = [n for n in FIT_CATEGORICAL if n not in data["categories"]]
        if missing:
            raise ValueError(f"feature pipeline state lacks category maps for {missing}")
        pipe._set_fitted(data["categories"])
        if list(data.get("feature_names", pipe.feature_names_)) != pipe.feature_names_:
            raise ValueError("feature pipeline state does not match this version's feature definitions")
        return pipe

    def describe(self) -> list[dict[str, object]]:
        self._check_fitted()
        return [
            {"name": f.name, "family": f.family, "label": f.label, "categorical": f.categorical, "direction": f.direction}
            for f in self.features_
        ]

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise RuntimeError("FeaturePipeline is not fitted: call fit(leads) first")
