"""Tests of the synthetic funnel generator (features/generate.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from features.contract import EVENT_TYPES, SCHEMAS, Tables, load_tables, validate
from features.generate import generate, oracle_probabilities, write_dataset

N = 4000
SEED = 7
START = pd.Timestamp("2024-01-01")
END = START + pd.Timedelta(days=365)


@pytest.fixture(scope="module")
def data() -> tuple[Tables, pd.DataFrame]:
    return generate(N, seed=SEED)


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    r = rankdata(score)
    pos = label.astype(bool)
    n1, n0 = pos.sum(), (~pos).sum()
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _lead_of_identifier(tables: Tables) -> pd.DataFrame:
    """identifier → lead_id, using lead ids, e-mails and one hop of identity links."""
    leads = tables.leads
    direct = pd.concat([
        pd.DataFrame({"identifier": leads["lead_id"], "lead_id": leads["lead_id"]}),
        pd.DataFrame({"identifier": leads["email"], "lead_id": leads["lead_id"]}).dropna(),
    ])
    ids = tables.identities
    hop = ids.merge(direct, left_on="identifier_b", right_on="identifier")[
        ["identifier_a", "lead_id"]
    ].rename(columns={"identifier_a": "identifier"})
    return pd.concat([direct, hop]).drop_duplicates()


def test_tables_pass_validate(data: tuple[Tables, pd.DataFrame]) -> None:
    tables, oracle = data
    out = validate(tables)
    assert len(out.leads) == N
    assert len(out.events) > 0 and len(out.identities) > 0
    assert len(out.outcomes) == N
    for name, df in tables.items():
        assert list(df.columns) == [c.name for c in SCHEMAS[name].columns], name
    assert len(oracle) == N and oracle["lead_id"].is_unique
    assert (oracle["lead_id"].to_numpy() == tables.leads["lead_id"].to_numpy()).all()


def test_deterministic_for_a_seed(data: tuple[Tables, pd.DataFrame]) -> None:
    tables, oracle = data
    again, oracle2 = generate(N, seed=SEED)
    for (name, a), (_, b) in zip(tables.items(), again.items(), strict=True):
        pd.testing.assert_frame_equal(a, b, obj=name)
    pd.testing.assert_frame_equal(oracle, oracle2)
    other, _ = generate(N, seed=SEED + 1)
    assert not other.leads.equals(tables.leads)
    assert len(other.events) != len(tables.events) or not other.events.equals(tables.events)


def test_progress_reports_each_stage() -> None:
    seen: list[str] = []
    generate(200, seed=1, progress=seen.append)
    text = " ".join(seen)
    for stage in ("companies", "people", "events", "identities", "outcomes"):
        assert stage in text


def test_conversion_rates(data: tuple[Tables, pd.DataFrame]) -> None:
    out = data[0].outcomes
    q, a = out["qualified_at"].notna().mean(), out["acquired_at"].notna().mean()
    assert 0.10 <= q <= 0.30
    assert 0.02 <= a <= 0.08
    assert out["deal_value"].notna().sum() == out["acquired_at"].notna().sum()
    assert (out["deal_value"].dropna() > 0).all()
    both = out.dropna(subset=["acquired_at"])
    assert (both["acquired_at"] >= both["qualified_at"]).all()
    assert 20 <= len(data[0].events) / N <= 40  # about 30 events per lead


def test_demo_requests_convert_more(data: tuple[Tables, pd.DataFrame]) -> None:
    tables, _ = data
    demo = tables.events[tables.events["event_type"] == "demo_request"]
    demo_leads = set(demo.merge(_lead_of_identifier(tables), on="identifier")["lead_id"])
    has_demo = tables.leads["lead_id"].isin(demo_leads).to_numpy()
    qualified = tables.outcomes["qualified_at"].notna().to_numpy()
    assert has_demo.sum() > 50
    assert qualified[has_demo].mean() >= 2 * qualified[~has_demo].mean()


def test_devices_joined_only_through_links(data: tuple[Tables, pd.DataFrame]) -> None:
    tables, _ = data
    leads, ids, ev = tables.leads, tables.identities, tables.events
    linked = ids.merge(
        leads[["lead_id", "email"]].dropna(), left_on="identifier_b", right_on="email"
    )
    linked = linked[linked["identifier_a"].str.match(r"^(ck|dv)_")]
    seen = linked.merge(
        ev[["identifier"]].drop_duplicates(), left_on="identifier_a", right_on="identifier"
    )
    per_lead = seen.groupby("lead_id")["identifier_a"].nunique()
    assert (per_lead >= 2).sum() >= 0.10 * N
    # Cookies and devices never appear in the leads table: the links are the only join.
    assert not leads.isin(set(seen["identifier_a"])).to_numpy().any()
    assert {"form_submit", "login", "crm_merge"} <= set(ids["source"])
    # Some devices are never linked: their events stay unattributed.
    dev = set(ev.loc[ev["identifier"].str.startswith("dv_"), "identifier"])
    assert dev - set(ids["identifier_a"])
    # Anonymous browsing before the form fill on the linked form cookie.
    form = ids[ids["source"] == "form_submit"].merge(
        leads[["email", "created_at"]], left_on="identifier_b", right_on="email"
    )
    assert (form["timestamp"] < form["created_at"]).mean() > 0.9
    pre = ev.merge(form[["identifier_a", "created_at"]], left_on="identifier",
                   right_on="identifier_a")
    assert (pre["timestamp"] < pre["created_at"]).mean() > 0.02


def test_shared_devices_link_many_people(data: tuple[Tables, pd.DataFrame]) -> None:
    ids = data[0].identities
    fanout = ids[ids["source"] == "login"].groupby("identifier_a")["identifier_b"].nunique()
    assert fanout.max() >= 10
    assert (fanout >= 10).sum() <= max(3, N // 1000)


def test_titles_need_normalising(data: tuple[Tables, pd.DataFrame]) -> None:
    titles = data[0].leads["job_title"]
    assert 0.07 <= titles.isna().mean() <= 0.15
    t = titles.dropna()
    assert t.nunique() > 0.2 * len(t)
    vp = t[t.str.contains(r"\b(?:vp|v\.p\.|vice[- ]president|svp|evp)\b", case=False)]
    assert vp.str.strip().str.split().str[0].nunique() >= 5
    assert vp.nunique() >= 20
    for token in ("VP", "Sr.", "Dir.", "CTO", "CMO", "Mgr", "Head of", "SVP", "EVP"):
        assert t.str.contains(token, regex=False).any(), token
    for typo in ("Maneger", "Engeneer", "Direcor", "Markting"):
        assert t.str.contains(typo, case=False).any(), typo
    assert (t == t.str.upper()).mean() > 0.03 and (t == t.str.lower()).mean() > 0.03
    assert t.str.contains(r"\|| - ", regex=True).any()
    for special in ("Student", "Intern", "Freelance", "Retired", "Owner", "Founder & CEO"):
        assert t.str.contains(special, case=False).any(), special


def test_dirt_and_email_types(data: tuple[Tables, pd.DataFrame]) -> None:
    leads, oracle = data[0].leads, data[1]
    for col, lo, hi in (("company_size", 0.10, 0.22), ("industry", 0.06, 0.16),
                        ("country", 0.03, 0.1), ("job_title", 0.07, 0.15)):
        assert lo <= leads[col].isna().mean() <= hi, col
    domain = leads["email"].str.split("@").str[1]
    assert domain.isin(["gmail.com", "yahoo.com", "hotmail.com"]).mean() > 0.1
    assert domain.isin(["mailinator.com", "yopmail.com", "guerrillamail.com", "trashmail.com",
                        "10minutemail.com", "tempmail.com"]).any()
    assert (domain == leads["company_domain"]).mean() > 0.4
    assert leads["email"].isna().any()
    assert (leads["email"] == "test@test.com").any()
    assert leads["company_domain"].dropna().str.match(r"^[a-z0-9]+(\.[a-z]+)+$").all()
    # Junk never qualifies and has no events; ~3% of leads are second leads of a person.
    junk = oracle["is_junk"].to_numpy()
    assert 0.02 <= junk.mean() <= 0.04
    assert data[0].outcomes["qualified_at"][junk].isna().all()
    real = oracle.loc[~junk, "person_id"]
    assert 0.02 <= real.duplicated().mean() <= 0.04
    cost = leads.groupby("source_channel")["acquisition_cost"].median()
    assert cost["organic_search"] < 5 and 60 <= cost["paid_search"] <= 120
    assert cost["events"] > cost["paid_search"]
    assert leads["campaign"].dropna().str.match(r"^\d{4}-q[1-4]-[a-z0-9-]+$").all()


def test_event_types(data: tuple[Tables, pd.DataFrame]) -> None:
    ev = data[0].events
    assert set(EVENT_TYPES) <= set(ev["event_type"])
    unknown = ~ev["event_type"].isin(EVENT_TYPES)
    assert 0.002 <= unknown.mean() <= 0.02
    assert set(ev["channel"].dropna()) == {"web", "email", "event", "product"}
    assert set(ev["device_type"].dropna()) == {"desktop", "mobile", "tablet"}
    assert ev["identifier"].str.startswith("L").any()  # CRM events under the lead id
    assert ev["timestamp"].is_monotonic_increasing


def test_nothing_at_or_after_export_time(data: tuple[Tables, pd.DataFrame]) -> None:
    tables, _ = data
    assert (tables.events["timestamp"] < END).all()
    assert (tables.identities["timestamp"] < END).all()
    assert (tables.leads["created_at"] < END).all() and (tables.leads["created_at"] >= START).all()
    for col in ("qualified_at", "acquired_at"):
        assert (tables.outcomes[col].dropna() < END).all()


def test_latent_variables_absent(data: tuple[Tables, pd.DataFrame]) -> None:
    tables, oracle = data
    latent = {"fit", "intent", "seniority", "department", "person_id", "tau", "p_win",
              "hazard_scale", "p_qualified_30d", "p_acquired_90d", "is_junk", "email_type"}
    assert latent <= set(oracle.columns)
    for name, df in tables.items():
        assert not latent & set(df.columns), name
        for col in df.select_dtypes("number").columns:
            assert not np.allclose(df[col].to_numpy(float)[:100],
                                   oracle["fit"].to_numpy()[:100], equal_nan=True)


def test_oracle_calibrated_and_informative(data: tuple[Tables, pd.DataFrame]) -> None:
    tables, oracle = data
    leads, out = tables.leads, tables.outcomes
    p = oracle["p_qualified_30d"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    early = (leads["created_at"] < END - pd.Timedelta(days=30)).to_numpy()
    q30 = ((out["qualified_at"] - leads["created_at"]) <= pd.Timedelta(days=30)).to_numpy()
    assert abs(p[early].mean() - q30[early].mean()) <= 0.02
    assert _auc(p[early], q30[early]) > 0.75
    pa = oracle["p_acquired_90d"].to_numpy()
    early90 = (leads["created_at"] < END - pd.Timedelta(days=90)).to_numpy()
    a90 = ((out["acquired_at"] - leads["created_at"]) <= pd.Timedelta(days=90)).to_numpy()
    assert abs(pa[early90].mean() - a90[early90].mean()) <= 0.015
    assert _auc(pa[early90], a90[early90]) > 0.75


def test_oracle_probabilities_at_creation_and_later(data: tuple[Tables, pd.DataFrame]) -> None:
    _, oracle = data
    ids, created = oracle["lead_id"], oracle["created_at"].to_numpy()
    pq, pa = oracle_probabilities(oracle, ids, created)
    np.testing.assert_allclose(pq, oracle["p_qualified_30d"].to_numpy())
    np.testing.assert_allclose(pa, oracle["p_acquired_90d"].to_numpy())
    later = created + np.timedelta64(60, "D")
    pq2, pa2 = oracle_probabilities(oracle, ids, later)
    assert ((pq2 >= 0) & (pq2 <= 1) & (pa2 >= 0) & (pa2 <= 1)).all()
    assert pq2.mean() < pq.mean()  # engagement, hence hazard, decays with lead age
    # Longer horizons can only add probability; before creation counts as at creation.
    pq3, pa3 = oracle_probabilities(oracle, ids, created, 60, 180)
    assert (pq3 >= pq - 1e-12).all() and (pa3 >= pa - 1e-9).all()
    pq4, _ = oracle_probabilities(oracle, ids, created - np.timedelta64(5, "D"))
    np.testing.assert_allclose(pq4, pq)
    with pytest.raises(KeyError):
        oracle_probabilities(oracle, ["nope"], created[:1])


def test_write_dataset_roundtrip(tmp_path, data: tuple[Tables, pd.DataFrame]) -> None:
    tables, oracle = data
    paths = write_dataset(tables, oracle, tmp_path)
    names = {p.name for p in paths}
    assert names == {"leads.parquet", "events.parquet", "identities.parquet",
                     "outcomes.parquet", "oracle.parquet", "dataset.json"}
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["generator"] == "leadscore" and meta["seed"] == SEED
    assert meta["n_leads"] == N and meta["events"] == len(tables.events)
    assert pd.Timestamp(meta["observed_until"]) == END
    assert re.match(r"^2024-01-01", meta["start"])
    loaded = load_tables(tmp_path)
    assert len(loaded.events) == len(tables.events)
    pd.testing.assert_series_equal(loaded.leads["lead_id"], tables.leads["lead_id"],
                                   check_dtype=False)
    back = pd.read_parquet(tmp_path / "oracle.parquet")
    np.testing.assert_allclose(back["p_qualified_30d"], oracle["p_qualified_30d"])
