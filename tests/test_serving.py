"""Serving: the scorer as a plain object, the service through its ASGI app, a real server.

One small model is trained and registered once per session (``world`` in conftest.py: a
temporary SQLite tracking store and BentoML home), and every layer is checked against it, including that HTTP,
``mlflow.pyfunc`` and ``leadscore score`` give the same probabilities for the same leads.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_helpers import exe, free_port, stop, wait_ready

from serving.schemas import Lead, example_request

# --- the attribution --------------------------------------------------------------------


def test_attribution_equals_lightgbm_treeshap(bundle: Any, world: dict[str, Any]) -> None:
    from features.snapshots import build_snapshots

    tables = world["tables"]
    snaps = build_snapshots(tables).sample(300, random_state=0).reset_index(drop=True)
    X = bundle.pipeline.transform(tables, snaps)
    ex = bundle.explainer()
    ref = np.hstack([np.asarray(t.booster.predict(X, pred_contrib=True)) for t in bundle.targets.values()])
    np.testing.assert_allclose(ex.shap(X), ref, rtol=0, atol=1e-9)
    one = np.stack([ex.shap_one(X[i]) for i in range(40)])
    np.testing.assert_allclose(one, ref[:40], rtol=0, atol=1e-9)
    # Contributions add up to the margin.
    margin = bundle.targets["qualification"].booster.predict(X, raw_score=True)
    np.testing.assert_allclose(ex.shap(X)[:, : ex.width].sum(axis=1), margin, atol=1e-9)


# --- layer 1: the scorer as a plain object ------------------------------------------------


def test_scorer_answers_with_reasons(bundle: Any, world: dict[str, Any]) -> None:
    from serving.scorer import Scorer

    scorer = Scorer(bundle)
    out = scorer.score(Lead.model_validate(example_request()))
    assert out["model"] == {"name": "lead-scoring", "version": world["version"]}
    assert out["lead_id"] == "example-lead-1"
    assert out["grade"] in "ABCD" and 0 <= out["score"] <= 100
    for target in ("qualification", "acquisition"):
        t = out[target]
        assert 0 < t["probability"] < 1
        assert 0 <= t["fit_score"] <= 100 and 0 <= t["engagement_score"] <= 100
        pos, neg = t["reasons"]["positive"], t["reasons"]["negative"]
        assert len(pos) <= 3 and len(neg) <= 3 and pos and neg
        assert all(r["contribution"] > 0 for r in pos) and all(r["contribution"] < 0 for r in neg)
        assert [r["contribution"] for r in pos] == sorted((r["contribution"] for r in pos), reverse=True)
        assert all(r["label"] and r["feature"] in bundle.pipeline.feature_names_ for r in pos + neg)
    plain = scorer.score(Lead.model_validate(example_request()), reasons=False)
    for target in ("qualification", "acquisition"):
        assert plain[target]["probability"] == pytest.approx(out[target]["probability"], abs=1e-12)
        assert "reasons" not in plain[target]


def test_scorer_reasons_match_exact_treeshap(bundle: Any, world: dict[str, Any]) -> None:
    from serving.scorer import Scorer

    scorer = Scorer(bundle)
    for req in world["requests"][:10]:
        lead = Lead.model_validate(req)
        out = scorer.score(lead)
        x = bundle.vector(lead.__dict__, [e.__dict__ for e in lead.events], lead.as_of)
        contrib = np.asarray(bundle.targets["qualification"].booster.predict(x.reshape(1, -1), pred_contrib=True))[0, :-1]
        top = [bundle.pipeline.feature_names_[i] for i in np.argsort(-contrib)[:3] if contrib[i] > 0]
        assert [r["feature"] for r in out["qualification"]["reasons"]["positive"]] == top


# --- layer 2: the service through its ASGI app --------------------------------------------


def test_service_is_ready_and_describes_the_model(client: Any, world: dict[str, Any], bundle: Any) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").status_code == 200
    info = client.get("/model").json()
    assert info["name"] == "lead-scoring" and info["version"] == world["version"]
    assert [f["name"] for f in info["features"]] == bundle.pipeline.feature_names_
    spec = client.get("/docs.json").json()
    assert {"/score", "/score_batch"} <= set(spec["paths"])


def test_score_valid_lead(client: Any, world: dict[str, Any]) -> None:
    r = client.post("/score", json=example_request())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["version"] == world["version"]
    assert set(body["qualification"]["reasons"]) == {"positive", "negative"}


def test_score_batch_keeps_input_order(client: Any, world: dict[str, Any]) -> None:
    reqs = world["requests"][:8]
    r = client.post("/score_batch", json=reqs)
    assert r.status_code == 200, r.text
    assert [a["lead_id"] for a in r.json()] == [q["lead_id"] for q in reqs]
    singles = [client.post("/score", json=q).json() for q in reqs]
    assert [a["qualification"]["probability"] for a in r.json()] == [s["qualification"]["probability"] for s in singles]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.update(company_size="lots"), "company_size"),
        (lambda r: r.update(created_at="yesterday-ish"), "created_at"),
        (lambda r: r.pop("lead_id"), "lead_id"),
        (lambda r: r.pop("created_at"), "created_at"),
        (lambda r: r["events"][0].pop("timestamp"), "timestamp"),
        (lambda r: r["events"][0].update(timestamp=[1, 2]), "timestamp"),
        (lambda r: r.update(events="many"), "events"),
        (lambda r: r.update(company_size=-5), "company_size"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(client: Any, change: Any, field: str) -> None:
    req = example_request()
    change(req)
    r = client.post("/score", json=req)
    assert 400 <= r.status_code < 500, r.text
    locs = [str(x) for d in r.json()["detail"] for x in d["loc"]]
    assert field in locs, r.text


def test_not_json_is_a_4xx(client: Any) -> None:
    r = client.post("/score", content=b"{not json", headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500


def test_lead_without_events_and_unknown_event_types(client: Any) -> None:
    req = example_request()
    req["events"] = []
    r = client.post("/score", json=req)
    assert r.status_code == 200, r.text
    quiet = r.json()["qualification"]["probability"]
    req["events"] = [{"timestamp": "2024-05-02T10:00:00", "event_type": "hologram_call"}] * 3
    r = client.post("/score", json=req)
    assert r.status_code == 200, r.text
    assert 0 < r.json()["qualification"]["probability"] < 1
    assert quiet > 0


def test_oversize_batch_is_a_clear_4xx(client: Any) -> None:
    r = client.post("/score_batch", json=[example_request()] * 51)
    assert r.status_code == 413
    assert "at most 50" in r.json()["error"]
    assert client.post("/score_batch", json=[example_request()] * 50).status_code == 200


# --- the same answers through every door ------------------------------------------------


def test_same_probabilities_through_http_pyfunc_and_batch(client: Any, world: dict[str, Any]) -> None:
    import mlflow
    from click.testing import CliRunner

    from leadscore.cli import main

    reqs = world["requests"]
    http = client.post("/score_batch", json=reqs).json()
    pyfunc = mlflow.pyfunc.load_model(world["uri"]).predict(reqs)
    out = Path(world["root"]) / "scores.parquet"
    res = CliRunner().invoke(main, ["score", "--model", world["uri"], "--data", str(Path(world["root"]) / "data"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    batch = pd.read_parquet(out).set_index("lead_id")
    assert len(batch) == len(world["tables"].leads) and set(batch["model_version"]) == {world["version"]}
    for h, p, q in zip(http, pyfunc, reqs, strict=True):
        assert h["lead_id"] == p["lead_id"] == q["lead_id"]
        for target in ("qualification", "acquisition"):
            b = batch.loc[q["lead_id"], f"{target}_probability"]
            assert h[target]["probability"] == pytest.approx(b, abs=1e-9), (q["lead_id"], target)
            assert p[target]["probability"] == pytest.approx(b, abs=1e-9)
        assert h["grade"] == batch.loc[q["lead_id"], "grade"]


def test_batch_scoring_with_reasons_and_csv(world: dict[str, Any]) -> None:
    from click.testing import CliRunner

    from leadscore.cli import main

    out = Path(world["root"]) / "scores.csv"
    res = CliRunner().invoke(main, ["score", "--model", world["uri"], "--data", str(Path(world["root"]) / "data"), "--out", str(out), "--reasons"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert len(frame) == len(world["tables"].leads)
    reasons = json.loads(frame["qualification_reasons"].iloc[0])
    assert set(reasons) == {"positive", "negative"}
    assert not list(out.parent.glob(".scores.csv*"))  # no temporary file left behind
    bad = CliRunner().invoke(main, ["score", "--model", world["uri"], "--data", str(Path(world["root"]) / "data"), "--out", str(out.with_suffix(".txt"))])
    assert bad.exit_code == 2 and ".parquet or .csv" in bad.output


def test_pyfunc_accepts_the_typed_input(world: dict[str, Any]) -> None:
    import mlflow

    model = mlflow.pyfunc.load_model(world["uri"])
    out = model.predict([example_request()])
    assert out[0]["lead_id"] == "example-lead-1" and 0 < out[0]["qualification"]["probability"] < 1


# --- layer 3: a real server -----------------------------------------------------------------


def test_real_bentoml_serve(world: dict[str, Any], bento_model: str) -> None:
    import httpx

    port = free_port()
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}
    proc = subprocess.Popen(
        [exe("leadscore"), "serve", "--model", world["uri"], "--port", str(port)],
        cwd=world["root"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", proc)
        with httpx.Client(base_url=base, timeout=10) as http:
            req = world["requests"][0]
            r = http.post("/score", json=req)
            assert r.status_code == 200, r.text
            assert r.json()["model"]["version"] == world["version"]
            again = http.post("/score_batch", json=[req]).json()[0]
            assert again["qualification"]["probability"] == r.json()["qualification"]["probability"]
            assert http.get("/model").json()["version"] == world["version"]
            bad = http.post("/score", json={"lead_id": "x"})
            assert bad.status_code == 400 and "created_at" in bad.text
            metrics = http.get("/metrics")
            assert metrics.status_code == 200 and "request" in metrics.text
    finally:
        stop(proc)


def test_scoring_endpoints_record_no_trace_span(client: Any) -> None:
    """BentoML records a span per request even with nothing exported, and its timeout timer
    keeps it alive; the scoring endpoints are left out of tracing (LEADSCORE_TRACING=1 keeps them)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from opentelemetry.sdk.trace import SpanProcessor

    started: list[str] = []
    recording = [True]

    class Record(SpanProcessor):  # sees unsampled (record-only) spans too, unlike the exporters
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            if recording[0]:
                started.append(span.name)

    BentoMLContainer.tracer_provider.get().add_span_processor(Record())  # the provider cannot remove one
    try:
        assert client.post("/score", json=example_request()).status_code == 200
        assert client.post("/score_batch", json=[example_request()]).status_code == 200
        assert started == []
        assert client.get("/docs.json").status_code == 200  # other routes keep BentoML's tracing
        assert started
    finally:
        recording[0] = False
