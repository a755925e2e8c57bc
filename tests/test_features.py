"""Features: batch/online parity, point-in-time correctness, fitted categories."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import EVENT_TYPES, Tables, validate
from features.generate import generate
from features.identity import IdentityMap, epoch_seconds, resolve_identities
from features.pipeline import FeaturePipeline, engagement_matrix
from features.snapshots import build_snapshots


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    tables, _ = generate(1500, seed=7)
    snaps = build_snapshots(tables)
    pipe = FeaturePipeline(min_category_count=5).fit(tables.leads)
    identity = resolve_identities(tables)
    X = pipe.transform(tables, snaps, identity=identity)
    return {"tables": tables, "snaps": snaps, "pipe": pipe, "identity": identity, "X": X}


def _record(row: pd.Series) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        out[k] = None if (v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT) else v
    return out


def attributed_events(tables: Tables, identity: IdentityMap, lead: int, as_of: pd.Timestamp) -> list[dict[str, Any]]:
    """The events a snapshot may see, as plain dicts: what an application would send."""
    return [_record(r) for _, r in identity.events_for(tables.events, lead, as_of).iterrows()]


def _assert_same(online: np.ndarray, batch: np.ndarray, names: list[str]) -> None:
    both_nan = np.isnan(online) & np.isnan(batch)
    close = np.isclose(online, batch, rtol=0, atol=1e-9) | both_nan
    bad = [f"{names[i]}: online {online[i]!r} batch {batch[i]!r}" for i in np.flatnonzero(~close)]
    assert not bad, "; ".join(bad)


def test_online_equals_batch_on_generated_data(world: dict[str, Any]) -> None:
    tables, snaps, pipe, identity, X = (world[k] for k in ("tables", "snaps", "pipe", "identity", "X"))
    rng = np.random.default_rng(0)
    # Snapshots with events first: they exercise every engagement feature.
    n_events = X[:, pipe.feature_names_.index("n_events_90d")]
    rich = np.flatnonzero(n_events > 5)
    picks = np.concatenate([rng.choice(rich, 60, replace=False), rng.choice(len(snaps), 60, replace=False)])
    for i in picks:
        s = snaps.iloc[i]
        lead = _record(tables.leads.iloc[int(s["lead"])])
        events = attributed_events(tables, identity, int(s["lead"]), s["as_of"])
        _assert_same(pipe.transform_one(lead, events, s["as_of"]), X[i], pipe.feature_names_)


def test_every_feature_has_family_and_label(world: dict[str, Any]) -> None:
    pipe = world["pipe"]
    assert len(pipe.features_) == len(set(pipe.feature_names_)) >= 60
    assert {f.family for f in pipe.features_} == {"fit", "engagement"}
    assert all(f.label and f.label != f.name for f in pipe.features_)


def test_features_vary(world: dict[str, Any]) -> None:
    X, pipe = world["X"], world["pipe"]
    constant = [n for j, n in enumerate(pipe.feature_names_) if np.nanstd(X[:, j]) == 0 and not n.endswith("_1d")]
    assert not constant, f"constant features on generated data: {constant}"


def test_future_data_cannot_reach_a_snapshot(world: dict[str, Any]) -> None:
    tables, snaps, pipe, X = world["tables"], world["snaps"], world["pipe"], world["X"]
    picked = snaps[snaps["offset_days"] == 3].head(40)
    leads = tables.leads.iloc[picked["lead"].to_numpy()]
    as_of = picked["as_of"].to_numpy()
    # After every picked as_of (not only its own: a duplicate person's other lead may be
    # snapshotted later, and legitimately sees what happened before its own as_of).
    later = pd.Series([as_of.max()] * len(as_of)) + pd.Timedelta(minutes=1)
    earlier = pd.Series(as_of) - pd.Timedelta(days=2)
    ids = leads["lead_id"].to_numpy()
    emails = leads["email"].fillna("nobody@nowhere.test").to_numpy()
    cookies = [f"ck_planted_{i}" for i in range(len(ids))]
    planted_events = pd.DataFrame(
        {
            # after as_of, under the lead's own identifiers
            "timestamp": list(later) * 2 + list(earlier),
            "identifier": list(ids) + list(emails) + cookies,
            "event_type": ["demo_request"] * (2 * len(ids)) + ["pricing_page_view"] * len(ids),
            "channel": "web",
        }
    )
    # the planted cookie (events BEFORE as_of) is linked only AFTER as_of
    planted_links = pd.DataFrame(
        {"identifier_a": cookies, "identifier_b": emails, "timestamp": list(later), "source": "login"}
    )
    planted_outcomes = tables.outcomes.copy()
    future = tables.leads[["lead_id"]].iloc[picked["lead"].to_numpy()].copy()
    future["qualified_at"] = later.to_numpy()
    planted_outcomes = pd.concat(
        [planted_outcomes[~planted_outcomes["lead_id"].isin(future["lead_id"])], future], ignore_index=True
    )
    dirty = validate(
        Tables(
            leads=tables.leads,
            events=pd.concat([tables.events, planted_events], ignore_index=True),
            identities=pd.concat([tables.identities, planted_links], ignore_index=True),
            outcomes=planted_outcomes,
        )
    )
    X2 = pipe.transform(dirty, picked.reset_index(drop=True))
    np.testing.assert_array_equal(X2, X[picked.index.to_numpy()])


def test_link_after_as_of_counts_only_later() -> None:
    leads = pd.DataFrame({"lead_id": ["L1"], "created_at": ["2024-01-01"], "email": ["a@acme.com"]})
    events = pd.DataFrame(
        {"timestamp": ["2023-12-30", "2023-12-31"], "identifier": ["ck_1", "dv_1"], "event_type": ["page_view", "page_view"]}
    )
    links = pd.DataFrame(
        {"identifier_a": ["ck_1", "dv_1"], "identifier_b": ["a@acme.com", "a@acme.com"], "timestamp": ["2024-01-01", "2024-01-05"]}
    )
    t = validate(Tables(leads=leads, events=events, identities=links))
    snaps = pd.DataFrame({"lead": [0, 0, 0], "as_of": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-06"])})
    pipe = FeaturePipeline(min_category_count=1).fit(t.leads)
    X = pipe.transform(t, snaps)
    n = X[:, pipe.feature_names_.index("n_page_view_90d")]
    devices = X[:, pipe.feature_names_.index("n_devices_90d")]
    # at creation the form-submit link has the same timestamp: not yet usable (strictly after)
    assert list(n) == [0, 1, 2]
    assert list(devices) == [0, 1, 2]


def test_unknown_categories_map_to_other() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(30)],
            "created_at": ["2024-01-01"] * 30,
            "industry": ["software"] * 20 + ["retail"] * 10,
        }
    )
    pipe = FeaturePipeline(min_category_count=15).fit(validate(Tables(leads=leads)).leads)
    j = pipe.feature_names_.index("industry")
    assert pipe.category_maps_["industry"].values == ["software"]
    v = pipe.transform_one({"lead_id": "x", "created_at": "2024-01-02", "industry": "Underwater Basket Weaving"}, [], "2024-01-03")
    assert v[j] == pipe.category_maps_["industry"].other
    v = pipe.transform_one({"lead_id": "x", "created_at": "2024-01-02", "industry": " SOFTWARE "}, [], "2024-01-03")
    assert v[j] == 0
    assert math.isnan(pipe.transform_one({"lead_id": "x", "created_at": "2024-01-02"}, [], "2024-01-03")[j])
    frame = pipe.to_frame(np.vstack([v]))
    assert list(frame["industry"].cat.categories) == ["software", "other"]


def test_state_round_trips_without_pickle(world: dict[str, Any]) -> None:
    import json

    pipe = world["pipe"]
    again = FeaturePipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
    lead = _record(world["tables"].leads.iloc[3])
    assert np.array_equal(
        again.transform_one(lead, [], "2025-01-01"), pipe.transform_one(lead, [], "2025-01-01"), equal_nan=True
    )


# --- hypothesis edge cases --------------------------------------------------------------

_BASE = pd.Timestamp("2024-03-01")
_titles = st.one_of(st.none(), st.just(""), st.text(max_size=40), st.sampled_from(["VP Sales", "Sr. Dir., Mktg", "CTO", "学生", "Ingénieur"]))
_event = st.fixed_dictionaries(
    {
        "minutes": st.integers(min_value=-200 * 24 * 60, max_value=60),
        "event_type": st.one_of(st.sampled_from(EVENT_TYPES), st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)),
        "identifier": st.sampled_from(["L1", "a@acme.com", "ck_1", "ck_2", "dv_9", "A@ACME.COM"]),
        "channel": st.one_of(st.none(), st.sampled_from(["web", "email", "Web", "event"])),
    }
)


@pytest.fixture(scope="module")
def edge_pipe() -> FeaturePipeline:
    tables, _ = generate(400, seed=3)
    return FeaturePipeline(min_category_count=3).fit(tables.leads)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=_titles,
    size=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)),
    industry=st.one_of(st.none(), st.text(max_size=10)),
    events=st.lists(_event, max_size=40),
    at_as_of=st.integers(min_value=0, max_value=3),
)
def test_parity_on_edge_cases(
    edge_pipe: FeaturePipeline, title: str | None, size: float | None, industry: str | None, events: list[dict[str, Any]], at_as_of: int
) -> None:
    _check_parity(edge_pipe, title, size, industry, events, at_as_of)


def test_parity_with_thousands_of_events(edge_pipe: FeaturePipeline) -> None:
    rng = np.random.default_rng(5)
    events = [
        {
            "minutes": int(m),
            "event_type": EVENT_TYPES[int(k)] if k < len(EVENT_TYPES) else "chat_started",
            "identifier": ["L1", "a@acme.com", "ck_1", "dv_2"][int(i)],
            "channel": ["web", "email", None][int(c)],
        }
        for m, k, i, c in zip(
            rng.integers(-100 * 24 * 60, 0, 5000), rng.integers(0, 11, 5000), rng.integers(0, 4, 5000), rng.integers(0, 3, 5000), strict=True
        )
    ]
    _check_parity(edge_pipe, "Head of Growth", 250.0, "software", events, 2)


def _check_parity(
    pipe: FeaturePipeline, title: str | None, size: float | None, industry: str | None, events: list[dict[str, Any]], at_as_of: int
) -> None:
    as_of = _BASE
    lead = {
        "lead_id": "L1",
        "created_at": _BASE - pd.Timedelta(days=10),
        "email": "a@acme.com",
        "job_title": title,
        "company_size": size,
        "industry": industry,
    }
    rows = [
        {
            "timestamp": as_of + pd.Timedelta(minutes=e["minutes"]),
            "identifier": e["identifier"],
            "event_type": e["event_type"],
            "channel": e["channel"],
        }
        for e in events
    ]
    rows += [{"timestamp": as_of, "identifier": "ck_1", "event_type": "page_view", "channel": "web"}] * at_as_of
    # In batch, the request's cookies/devices are linked to the lead well before as_of.
    links = pd.DataFrame(
        {
            "identifier_a": ["ck_1", "ck_2", "dv_9", "dv_2"],
            "identifier_b": ["a@acme.com"] * 4,
            "timestamp": [_BASE - pd.Timedelta(days=400)] * 4,
        }
    )
    tables = validate(
        Tables(
            leads=pd.DataFrame([lead]),
            events=pd.DataFrame(rows, columns=["timestamp", "identifier", "event_type", "channel"]),
            identities=links,
        )
    )
    snaps = pd.DataFrame({"lead": [0], "as_of": [as_of]})
    batch = pipe.transform(tables, snaps)[0]
    online = pipe.transform_one(lead, rows, as_of.to_pydatetime())
    _assert_same(online, batch, pipe.feature_names_)
    # The numpy kernel on one request's events is the third way to the same numbers.
    t_as_of = as_of.value / 1e9
    encoded = pipe.encode_events(rows, t_as_of, "L1")
    kernel = engagement_matrix(encoded, 1, pipe.windows_, pipe.half_lives_, np.array([online[pipe.n_fit_ - 1]]))[0]
    _assert_same(online[pipe.n_fit_ :], kernel, pipe.feature_names_[pipe.n_fit_ :])
    assert epoch_seconds(pd.Series([as_of]))[0] == as_of.value / 1e9


def test_timezones_are_converted_to_utc_on_the_online_path(edge_pipe: FeaturePipeline) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    lead = {"lead_id": "L1", "created_at": datetime(2024, 2, 20, 9, 0), "email": "a@acme.com"}
    naive = [{"timestamp": datetime(2024, 2, 28, 23, 30) - timedelta(hours=h), "event_type": "page_view", "identifier": "ck_1"} for h in range(5)]
    cest = timezone(timedelta(hours=2))
    aware = [{**e, "timestamp": e["timestamp"].replace(tzinfo=UTC).astimezone(cest)} for e in naive]
    text = [{**e, "timestamp": e["timestamp"].isoformat() + "Z"} for e in naive]
    as_of = datetime(2024, 3, 1)
    a = edge_pipe.transform_one(lead, naive, as_of)
    assert np.array_equal(a, edge_pipe.transform_one(lead, aware, as_of.replace(tzinfo=UTC)), equal_nan=True)
    assert np.array_equal(a, edge_pipe.transform_one(lead, text, "2024-03-01T00:00:00Z"), equal_nan=True)
