"""Feature definitions and the fitted feature pipeline, with a batch and an online path.

One definition, two execution paths:

* *fit* features (who the lead is) come from :func:`lead_attributes`, a plain function of
  one lead record. The batch path calls it once per lead, the online path once per request.
* *engagement* features (what the person did) come from one compiled kernel,
  :func:`features.kernel.engagement_rows`, over event rows tagged with a segment
  (snapshot) number. The batch path passes millions of rows and one segment per snapshot;
  the online path passes one request's events as a single segment. Encoding events into
  rows is the only per-path code (:meth:`FeaturePipeline._encode_online` for a request,
  the vectorised attribution in :meth:`FeaturePipeline.transform` for tables), and the
  parity tests hold the two equal.

Every feature has a family (``fit`` or ``engagement``) and a human-readable label for reasons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features.contract import EVENT_TYPES, Tables
from features.domains import company_size_band, domain_type, email_domain
from features.identity import (
    IdentityMap,
    epoch_seconds,
    normalise_one,
    normalised_codes,
    resolve_identities,
)
from features.kernel import engagement_rows
from features.source import AttributeSchema
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


# Each fit value is a function of one field (or two): the online path calls them per
# request, the batch path once per distinct value of the column, so both agree by definition.


def size_value(value: object) -> float:
    """Employees as a number; missing, unparseable or negative → NaN."""
    size = clean_number(value)
    return math.nan if size < 0 else size


def size_band(size: float) -> str:
    return company_size_band(None if math.isnan(size) else size)


def email_domain_of(email: object) -> str | None:
    return email_domain(email) if isinstance(email, str) else None


def company_domain_of(value: object) -> str | None:
    d = clean_category(value)
    return None if d is None else d.removeprefix("www.")


def domain_matches(domain: str | None, company_domain: str | None) -> float:
    """1 if the email is on the company's domain (or a subdomain), 0 if not, NaN if unknown."""
    if domain is None or company_domain is None:
        return math.nan
    return 1.0 if domain == company_domain or domain.endswith("." + company_domain) else 0.0


def region_of(country: str | None) -> str | None:
    return None if country is None else _REGION_OF.get(country, "other")


def lead_attributes(lead: Mapping[str, Any]) -> tuple[list[str | None], list[float]]:
    """The raw fit values of one lead: categorical values and numbers (without lead age)."""
    seniority, department = normalise_title(lead.get("job_title"))
    size = size_value(lead.get("company_size"))
    country = clean_category(lead.get("country"))
    domain = email_domain_of(lead.get("email"))
    cats = [
        seniority,
        department,
        domain_type(domain),
        size_band(size),
        clean_category(lead.get("industry")),
        country,
        region_of(country),
        clean_category(lead.get("source_channel")),
    ]
    return cats, [size, domain_matches(domain, company_domain_of(lead.get("company_domain")))]


def per_distinct(
    values: Sequence[object] | pd.Series | np.ndarray, fn: Callable[[Any], Any], missing: object = None
) -> list[Any]:
    """``[fn(v) for v in values]``, calling ``fn`` once per distinct value; missing values
    (None, NaN) all get ``fn(missing)``."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    mapped = [fn(u) for u in np.asarray(uniques, dtype=object).tolist()]
    if (codes < 0).any():
        mapped.append(fn(missing))  # index -1
    return [mapped[c] for c in codes.tolist()]


def lead_attribute_columns(leads: pd.DataFrame) -> tuple[list[list[str | None]], np.ndarray]:
    """:func:`lead_attributes` of every lead, column-wise: each field function runs once per
    distinct value. Returns the 8 categorical columns and an ``(n, 2)`` number matrix."""
    n = len(leads)

    def col(name: str) -> pd.Series:
        return leads[name] if name in leads.columns else pd.Series([None] * n, dtype=object)

    titles = per_distinct(col("job_title"), normalise_title)
    size_series = col("company_size")
    size = np.array(per_distinct(size_series, size_value), dtype="float64")
    country = per_distinct(col("country"), clean_category)
    domain = [email_domain_of(e) for e in col("email").astype(object).tolist()]  # emails are unique
    company = per_distinct(col("company_domain"), company_domain_of)
    matches = np.array([domain_matches(d, c) for d, c in zip(domain, company, strict=True)], dtype="float64")
    cats = [
        [t[0] for t in titles],
        [t[1] for t in titles],
        per_distinct(domain, domain_type),
        per_distinct(size.tolist(), size_band, missing=math.nan),
        per_distinct(col("industry"), clean_category),
        country,
        per_distinct(country, region_of),
        per_distinct(col("source_channel"), clean_category),
    ]
    return cats, np.column_stack([size, matches]) if n else np.empty((0, 2))


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
    """All engagement features, one row per segment: the compiled kernel, for both paths.

    ``lead_age`` is each segment's days since lead creation (NaN if unknown).
    """
    data = np.vstack(
        [rows.seg, rows.age, rows.etype, rows.ts, rows.day, rows.ident, rows.device, rows.channel]
    ).astype("float64", copy=False)
    return run_kernel(data, n_seg, windows, half_lives, lead_age)


def run_kernel(
    data: np.ndarray, n_seg: int, windows: Sequence[float], half_lives: Sequence[float], lead_age: np.ndarray
) -> np.ndarray:
    return engagement_rows(
        data,
        n_seg,
        np.asarray(lead_age, dtype="float64"),
        np.asarray(windows, dtype="float64"),
        np.asarray([-math.log(2) / h for h in half_lives], dtype="float64"),
        N_TYPES,
        _HIGH_INTENT_MASK,
        TYPE_CODE["email_open"],
        TYPE_CODE["email_click"],
        TYPE_CODE["webinar_registered"],
        TYPE_CODE["webinar_attended"],
    )


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
        return np.array(per_distinct(values, self.code), dtype="float64")


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
    if type(value) is datetime:  # the common case, first
        return ((value - (_EPOCH if value.tzinfo is None else _EPOCH_UTC)) // _US) / 1e6
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
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
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
    schema : AttributeSchema, optional
        Which attribute features to build (bring-your-own data); default: the data contract's.
    """

    def __init__(
        self,
        windows: Sequence[float] = (1, 7, 30, 90),
        half_lives: Sequence[float] = (7, 30),
        min_category_count: int = 20,
        max_categories: int = 50,
        max_people_per_identifier: int = 3,
        schema: AttributeSchema | None = None,
    ) -> None:
        self.windows = windows
        self.half_lives = half_lives
        self.min_category_count = min_category_count
        self.max_categories = max_categories
        self.max_people_per_identifier = max_people_per_identifier
        self.schema = schema

    # -- fit -----------------------------------------------------------------------------
    def fit(self, leads: pd.DataFrame) -> FeaturePipeline:
        """Learn category maps (and example values) from the training leads."""
        windows = [float(w) for w in self.windows]
        if not windows or sorted(windows) != windows or windows[0] <= 0:
            raise ValueError("windows must be positive and ascending")
        if not self.half_lives or min(self.half_lives) <= 0:
            raise ValueError("half_lives must be positive")
        self._set_layout()
        cats, nums = self._lead_frame(leads)
        maps: dict[str, list[str]] = {}
        for j, name in enumerate(self.categorical_names_):
            counts = pd.Series([c for c in cats[j] if c is not None], dtype=object).value_counts()
            counts = counts[counts >= self.min_category_count]
            maps[name] = [str(v) for v in sorted(counts.index, key=lambda v: (-counts[v], v))[: self.max_categories]]
        examples: dict[str, Any] = {}
        for j, name in enumerate(self.numeric_names_):
            col = nums[:, j]
            examples[name] = float(np.nanmedian(col)) if np.isfinite(col).any() else None
        return self._set_fitted(maps, examples)

    def _set_layout(self) -> None:
        s = self.schema_ = self.schema if self.schema is not None else AttributeSchema()
        std = set(FIT_CATEGORICAL + FIT_NUMERIC) if s.standard is None else set(s.standard)
        self._std_cat = [j for j, n in enumerate(FIT_CATEGORICAL) if n in std]
        self._std_num = [j for j, n in enumerate(FIT_NUMERIC[:2]) if n in std]
        self._uses_standard = bool(self._std_cat or self._std_num)
        self.categorical_names_ = [FIT_CATEGORICAL[j] for j in self._std_cat] + list(s.categorical)
        self.numeric_names_ = [FIT_NUMERIC[j] for j in self._std_num] + list(s.numeric) + list(s.behaviour)
        self._extra_num = list(s.numeric) + list(s.behaviour)

    def _set_fitted(self, maps: Mapping[str, Sequence[str]], examples: Mapping[str, Any] | None = None) -> FeaturePipeline:
        self._set_layout()
        s = self.schema_
        windows = [float(w) for w in self.windows]
        self.category_maps_ = {name: CategoryMap(maps[name]) for name in self.categorical_names_}
        self.examples_ = dict(examples or {})
        self.windows_ = windows
        self.half_lives_ = [float(h) for h in self.half_lives]
        label = s.aliases.get
        infos = [FeatureInfo(n, "fit", FIT_LABELS[n], True) for n in self.categorical_names_[: len(self._std_cat)]]
        infos += [FeatureInfo(n, "fit", label(n, n), True) for n in s.categorical]
        infos += [FeatureInfo(FIT_NUMERIC[j], "fit", FIT_LABELS[FIT_NUMERIC[j]], False) for j in self._std_num]
        infos += [FeatureInfo(n, "fit", label(n, n), False) for n in s.numeric]
        infos += [FeatureInfo(n, "engagement", label(n, n), False, 1) for n in s.behaviour]
        self.n_attr_ = len(infos)
        if s.lead_age:
            infos.append(FeatureInfo("lead_age_days", "fit", FIT_LABELS["lead_age_days"], False))
        self.events_start_ = len(infos)
        if s.events:
            infos += [
                FeatureInfo(n, "engagement", lbl, False, direction)
                for n, lbl, direction in engagement_names(self.windows_, self.half_lives_)
            ]
        names = [f.name for f in infos]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"feature names clash: {dup}; rename those columns")
        self.features_ = infos
        self.feature_names_ = names
        self.n_fit_ = self.n_attr_ + (1 if s.lead_age else 0)
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
        s = self.schema_
        if identity is None and s.events:
            identity = resolve_identities(tables, self.max_people_per_identifier)
        fit_block = self._fit_block(tables.leads)
        n = len(snapshots)
        out = np.empty((n, len(self.features_)), dtype="float64")
        lead = snapshots["lead"].to_numpy().astype(np.int64)
        as_of = epoch_seconds(snapshots["as_of"])
        order = np.argsort(lead, kind="stable")
        lead_sorted, as_of_sorted = lead[order], as_of[order]
        created = epoch_seconds(tables.leads["created_at"])
        n_leads = len(tables.leads)
        ev = self._event_lead_rows(tables, identity) if identity is not None and s.events else None
        ev_bounds = np.searchsorted(ev["lead"], np.arange(n_leads + 1)) if ev is not None else None
        snap_bounds = np.searchsorted(lead_sorted, np.arange(n_leads + 1))
        na, e0 = self.n_attr_, self.events_start_
        for lo in range(0, n_leads, chunk_leads):
            hi = min(n_leads, lo + chunk_leads)
            s0, s1 = snap_bounds[lo], snap_bounds[hi]
            if s1 > s0:
                rows_out = order[s0:s1]
                sl = lead_sorted[s0:s1]
                block = out[rows_out]
                block[:, :na] = fit_block[sl]
                age = (as_of_sorted[s0:s1] - created[sl]) / DAY_S
                if s.lead_age:
                    block[:, na] = age
                if ev is not None and ev_bounds is not None:
                    rows = self._expand(ev, ev_bounds[lo], ev_bounds[hi], sl, as_of_sorted[s0:s1], snap_bounds[lo:hi + 1] - s0, lo)
                    block[:, e0:] = engagement_matrix(rows, s1 - s0, self.windows_, self.half_lives_, age)
                out[rows_out] = block
            if progress is not None:
                progress(hi - lo)
        return out

    def _lead_frame(self, leads: pd.DataFrame) -> tuple[list[list[str | None]], np.ndarray]:
        """Raw attribute values of every lead: one list per categorical feature, a number matrix."""
        n = len(leads)
        cats: list[list[str | None]] = [[] for _ in self._std_cat]
        std_nums = np.empty((n, len(self._std_num)), dtype="float64")
        if self._uses_standard:
            all_cats, all_nums = lead_attribute_columns(leads)
            cats = [all_cats[j] for j in self._std_cat]
            std_nums = all_nums[:, self._std_num]
        for name in self.schema_.categorical:
            col = leads[name] if name in leads.columns else pd.Series([None] * n, dtype=object)
            cats.append(per_distinct(col, clean_category))
        extra = [
            pd.to_numeric(leads[name], errors="coerce").to_numpy(dtype="float64") if name in leads.columns else np.full(n, np.nan)
            for name in self._extra_num
        ]
        nums = np.column_stack([std_nums, *extra]) if extra else std_nums
        return cats, np.where(np.isfinite(nums), nums, np.nan)

    def _fit_block(self, leads: pd.DataFrame) -> np.ndarray:
        """The attribute columns (everything before lead age) of every lead."""
        cats, nums = self._lead_frame(leads)
        codes = [self.category_maps_[name].codes(cats[j]) for j, name in enumerate(self.categorical_names_)]
        return np.column_stack([*codes, nums]) if codes else nums

    def _event_lead_rows(self, tables: Tables, identity: IdentityMap) -> dict[str, np.ndarray]:
        """Events joined to the leads they may belong to, sorted by lead."""
        events = tables.events
        nodes = identity.event_nodes_of(events)
        pairs = identity.pairs
        pn = pairs["node"].to_numpy()
        porder = np.argsort(pn, kind="stable")
        pn = pn[porder]
        # pairs of node k are pn[first[k]:first[k + 1]]: one gather per event, no search
        first = np.searchsorted(pn, np.arange(len(identity.node_index) + 1), side="left")
        safe = np.maximum(nodes, 0)
        lo = first[safe]
        cnt = np.where(nodes >= 0, first[safe + 1] - lo, 0)
        ev_idx = np.repeat(np.arange(len(nodes)), cnt)
        starts = np.repeat(lo, cnt)
        within = np.arange(len(ev_idx)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pidx = porder[starts + within]
        lead = pairs["lead"].to_numpy()[pidx].astype(np.int64)
        ts = epoch_seconds(events["timestamp"])[ev_idx]
        type_codes, type_names = pd.factorize(events["event_type"], use_na_sentinel=True)
        type_lut = np.array([TYPE_CODE.get(t, OTHER_TYPE) for t in np.asarray(type_names, dtype=object).tolist()] + [OTHER_TYPE])
        etype = type_lut[type_codes[ev_idx]].astype(np.int64)  # -1 (missing) → the last entry
        ident = nodes[ev_idx]
        ident_names = identity.node_index
        node_is_email = identity.node_is_email
        if node_is_email is None:
            node_is_email = np.array(["@" in v for v in ident_names.tolist()], dtype=bool)
        is_email = node_is_email[ident]
        own = identity.lead_nodes[lead] == ident
        device = np.where(is_email | own, -1, ident)
        if "channel" in events:
            raw_codes, names = normalised_codes(events["channel"])
            # distinct raw values may normalise alike ("Web", "web "): one code per name
            name_codes, _ = pd.factorize(names, use_na_sentinel=True) if len(names) else (np.array([], dtype=np.int64), None)
            lut = np.append(np.asarray(name_codes, dtype=np.int64), -1)
            channel = lut[raw_codes[ev_idx]]
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
        s = self.schema_
        maps = self.category_maps_
        names = self.categorical_names_
        vec: list[float] = []
        if self._uses_standard:
            cats, nums = lead_attributes(lead)
            vec = [maps[names[k]].code(cats[j]) for k, j in enumerate(self._std_cat)]
        for name in s.categorical:
            vec.append(maps[name].code(clean_category(lead.get(name))))
        if self._uses_standard:
            vec += [nums[j] for j in self._std_num]
        for name in self._extra_num:
            vec.append(clean_number(lead.get(name)))
        if not (s.lead_age or s.events):
            return np.array(vec, dtype="float64")
        t_as_of = to_epoch_seconds(as_of)
        created = lead.get("created_at")
        lead_age = (t_as_of - to_epoch_seconds(created)) / DAY_S if created is not None else math.nan
        if s.lead_age:
            vec.append(lead_age)
        if not s.events:
            return np.array(vec, dtype="float64")
        data = self._encode_online(events, t_as_of, normalise_one(lead.get("lead_id")))
        eng = run_kernel(data, 1, self.windows_, self.half_lives_, np.array([lead_age]))[0]
        return np.concatenate([np.array(vec, dtype="float64"), eng])

    @staticmethod
    def _encode_online(events: Sequence[Mapping[str, Any]], as_of_s: float, own_id: str | None) -> np.ndarray:
        """One request's events → the kernel's row matrix (one segment), in one pass."""
        cols: list[list[float]] = [[], [], [], [], [], [], [], []]
        seg_c, age_c, type_c, ts_c, day_c, id_c, dev_c, ch_c = cols
        ids: dict[object, int] = {}
        names: dict[object, str] = {}
        chan_names: dict[object, str] = {}
        chans: dict[str, int] = {}
        type_code, epoch, epoch_utc, us, floor = TYPE_CODE, _EPOCH, _EPOCH_UTC, _US, math.floor
        for e in events:
            t = e["timestamp"]
            if type(t) is datetime:
                ts = ((t - (epoch if t.tzinfo is None else epoch_utc)) // us) / 1e6
            else:
                ts = to_epoch_seconds(t)
            if not ts < as_of_s:
                continue
            raw = e.get("identifier")
            ident = names.get(raw)
            if ident is None:
                ident = names[raw] = normalise_one(raw) or ""
            code = ids.get(ident)
            if code is None:
                code = ids[ident] = len(ids)
            raw_ch = e.get("channel")
            ch = -1
            if raw_ch is not None:
                norm = chan_names.get(raw_ch)
                if norm is None:
                    norm = chan_names[raw_ch] = normalise_one(raw_ch) or ""
                if norm:
                    ch = chans.get(norm, -1)
                    if ch < 0:
                        ch = chans[norm] = len(chans)
            seg_c.append(0.0)
            age_c.append((as_of_s - ts) / DAY_S)
            type_c.append(type_code.get(e.get("event_type"), OTHER_TYPE))  # type: ignore[arg-type]
            ts_c.append(ts)
            day_c.append(floor(ts / DAY_S))
            id_c.append(code)
            dev_c.append(-1 if (not ident or "@" in ident or ident == own_id) else code)
            ch_c.append(ch)
        return np.array(cols, dtype="float64").reshape(8, -1)

    def encode_events(self, events: Sequence[Mapping[str, Any]], as_of_s: float, own_id: str | None) -> EventRows:
        """One request's events as :class:`EventRows` of a single segment (the same encoding
        :meth:`transform_one` uses, as typed arrays)."""
        d = self._encode_online(events, as_of_s, own_id)
        as_int = [d[i].astype(np.int64) for i in (0, 2, 4, 5, 6, 7)]
        seg, etype, day, ident, device, channel = as_int
        return EventRows(seg=seg, age=d[1], etype=etype, ts=d[3], day=day, ident=ident, device=device, channel=channel)

    # -- helpers -----------------------------------------------------------------------------
    def to_frame(self, X: np.ndarray) -> pd.DataFrame:
        """The matrix as a DataFrame with pandas categoricals (for baselines and reports)."""
        self._check_fitted()
        df = pd.DataFrame(X, columns=self.feature_names_)
        for name in self.categorical_names_:
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
            "schema": self.schema_.to_dict(),
            "categories": {name: m.values for name, m in self.category_maps_.items()},
            "examples": self.examples_,
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
            schema=AttributeSchema.from_dict(data.get("schema")),
        )
        pipe._set_layout()
        missing = [n for n in pipe.categorical_names_ if n not in data["categories"]]
        if missing:
            raise ValueError(f"feature pipeline state lacks category maps for {missing}")
        pipe._set_fitted(data["categories"], data.get("examples"))
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
