"""Identity resolution: links join devices to leads only from the time they were observed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import Tables, validate
from features.identity import IdentityMap, resolve_identities


def _tables(links: list[tuple[str, str, str]], events: list[tuple[str, str]] | None = None) -> Tables:
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4", "L5"],
            "created_at": ["2024-01-10"] * 5,
            "email": ["ann@acme.com", "bob@beta.io", "cy@gamma.org", "dee@delta.com", "Ann.Other@Gmail.com"],
        }
    )
    ident = pd.DataFrame(links, columns=["identifier_a", "identifier_b", "timestamp"])
    ev = pd.DataFrame(events or [("ck_x", "2024-01-01")], columns=["identifier", "timestamp"])
    ev["event_type"] = "page_view"
    return validate(Tables(leads=leads, events=ev, identities=ident))


def _window(idmap: IdentityMap, identifier: str, lead: int) -> tuple[float, float] | None:
    node = idmap.node_index.get_loc(identifier)
    p = idmap.pairs
    row = p[(p["node"] == node) & (p["lead"] == lead)]
    if row.empty:
        return None
    return float(row["join_start"].iloc[0]), float(row["join_end"].iloc[0])


def _ts(s: str) -> float:
    return pd.Timestamp(s).value / 1e9


def test_device_joins_lead_only_from_link_time() -> None:
    t = _tables([("ck_desktop", "ann@acme.com", "2024-01-10"), ("dv_phone", "ANN@acme.com ", "2024-02-01")])
    idmap = resolve_identities(t)
    assert _window(idmap, "ck_desktop", 0) == (_ts("2024-01-10"), np.inf)
    # email matching is case-insensitive and whitespace-tolerant
    assert _window(idmap, "dv_phone", 0) == (_ts("2024-02-01"), np.inf)
    assert _window(idmap, "ck_desktop", 1) is None


def test_chain_counts_from_its_latest_link() -> None:
    # cookie → device (Feb 1) → email (Jan 15): the cookie reaches the lead only from Feb 1.
    t = _tables([("ck_a", "dv_b", "2024-02-01"), ("dv_b", "bob@beta.io", "2024-01-15")])
    idmap = resolve_identities(t)
    assert _window(idmap, "dv_b", 1) == (_ts("2024-01-15"), np.inf)
    assert _window(idmap, "ck_a", 1) == (_ts("2024-02-01"), np.inf)


def test_earliest_path_wins() -> None:
    t = _tables(
        [
            ("ck_a", "bob@beta.io", "2024-03-01"),
            ("ck_a", "dv_b", "2024-01-20"),
            ("dv_b", "bob@beta.io", "2024-01-25"),
        ]
    )
    assert _window(resolve_identities(t), "ck_a", 1) == (_ts("2024-01-25"), np.inf)


def test_shared_device_stops_merging_people() -> None:
    links = [
        ("dv_kiosk", "ann@acme.com", "2024-01-11"),
        ("dv_kiosk", "bob@beta.io", "2024-01-12"),
        ("dv_kiosk", "cy@gamma.org", "2024-01-13"),
        ("dv_kiosk", "dee@delta.com", "2024-01-14"),
    ]
    idmap = resolve_identities(_tables(links), max_people=2)
    # shared from its third person on (Jan 13): earlier links count only until then
    start, end = _window(idmap, "dv_kiosk", 0) or (None, None)
    assert start == _ts("2024-01-11") and end == _ts("2024-01-13")
    assert _window(idmap, "dv_kiosk", 2) is None  # the link that made it shared merges nobody
    assert _window(idmap, "dv_kiosk", 3) is None
    # Through the kiosk, ann's lead reached bob's email only while it was not yet shared.
    assert _window(idmap, "bob@beta.io", 0) == (_ts("2024-01-12"), _ts("2024-01-13"))
    assert idmap.node_index.get_loc("dv_kiosk") in set(idmap.shared.tolist())
    # With a larger K it is an ordinary device.
    assert _window(resolve_identities(_tables(links), max_people=10), "dv_kiosk", 3) == (_ts("2024-01-14"), np.inf)


def test_same_person_two_leads_via_crm_merge() -> None:
    t = _tables([("ann@acme.com", "ann.other@gmail.com", "2024-02-10"), ("ck_1", "ann@acme.com", "2024-01-09")])
    idmap = resolve_identities(t)
    # lead 5 (ann.other) reaches ann's cookie only after the merge
    assert _window(idmap, "ck_1", 4) == (_ts("2024-02-10"), np.inf)
    assert _window(idmap, "ck_1", 0) == (_ts("2024-01-09"), np.inf)
    assert idmap.component[idmap.node_index.get_loc("ck_1")] == idmap.component[idmap.node_index.get_loc("L5")]


def test_report() -> None:
    t = _tables(
        [("ck_1", "ann@acme.com", "2024-01-09")],
        events=[("ck_1", "2024-01-05"), ("ck_unknown", "2024-01-05"), ("ann@acme.com", "2024-01-06")],
    )
    rep = resolve_identities(t).report(t.events)
    assert rep["events_attributed_share"] == 2 / 3
    assert rep["people"] >= 5
    assert isinstance(rep["component_sizes"], dict)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.none(), st.integers(), st.floats(allow_nan=True)), max_size=30))
def test_vectorised_normalisation_equals_the_scalar(values: list[object]) -> None:
    """The batch path normalises identifiers column-wise; the online path one at a time."""
    import numpy as np

    from features.identity import _normalise_many, normalise_one

    raw = np.array(values, dtype=object)
    assert _normalise_many(raw).tolist() == [normalise_one(v) for v in values]


@pytest.mark.parametrize(
    "parts",
    [
        [pd.Series(["a", None, "b"], dtype="str"), pd.Series(["b", "c", None], dtype="str")],
        [pd.Series(["x@y.com", None, np.nan, " X@y.com "], dtype=object), pd.Series([], dtype="str")],
        [pd.Series([None, None], dtype=object), pd.Series(["é", "", "é"], dtype="str")],
        [pd.Series([], dtype=object), pd.Series([], dtype="str")],
        [pd.Series([1, "1", 2.5, None], dtype=object), pd.Series(["1"], dtype="str")],  # not all text
        [pd.Series([1, 2, 1], dtype=object), pd.Series(["1"], dtype="str")],  # numbers stay apart from text
        [pd.Series([b"ab", "ab"], dtype=object)],  # so do bytes
        [pd.Series(["a\udcff", "b", "a\udcff"], dtype=object)],  # a lone surrogate (undecodable CSV bytes)
    ],
)
def test_identifier_codes_equal_pandas_factorize(parts: list[pd.Series]) -> None:
    from features.identity import factorize_text

    codes, uniques = factorize_text(parts)
    want_codes, want_uniques = pd.factorize(pd.concat([p.astype(object) for p in parts], ignore_index=True), use_na_sentinel=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == np.int64
    assert list(uniques) == list(want_uniques)
