"""Security: API key, request size and media type limits, no unpickling, no personal data leaks.

The service through its ASGI app with the settings under test, and one end-to-end run on
data with planted personal data: ``leadscore train`` → ``leadscore serve`` (real BentoML)
→ requests → ``leadscore score``; then the tracking database, the artifact store, the
BentoML model store and every log are searched for the planted emails, names and phones.
"""

from __future__ import annotations

import hmac
import io
import os
import pickle
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_helpers import bentoml_server, exe, free_port, stop, wait_ready

from serving import security
from serving.schemas import example_request

KEY = "test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def secured(world: dict[str, Any], bento_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``bentoml serve`` with an API key and a 64 KiB request limit, and a client."""
    import httpx

    env = {"LEADSCORE_API_KEY": KEY, "LEADSCORE_MAX_REQUEST_BYTES": str(64 * 1024)}
    log = tmp_path_factory.mktemp("secured") / "service.log"
    with bentoml_server(bento_model, world["root"], log, env) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield http


# --- settings -------------------------------------------------------------------------------


def test_api_key_settings(tmp_path: Path) -> None:
    assert security.api_key({}) is None
    assert security.api_key({"LEADSCORE_API_KEY": f"  {KEY}\n"}) == KEY
    key_file = tmp_path / "key"
    key_file.write_text(f"{KEY}\n")
    assert security.api_key({"LEADSCORE_API_KEY_FILE": str(key_file)}) == KEY
    for env, message in [
        ({"LEADSCORE_API_KEY": "short"}, "at least 16"),
        ({"LEADSCORE_API_KEY": KEY, "LEADSCORE_API_KEY_FILE": str(key_file)}, "only one"),
        ({"LEADSCORE_API_KEY_FILE": str(tmp_path / "missing")}, "cannot read"),
        ({"LEADSCORE_MAX_REQUEST_BYTES": "lots"}, "whole number"),
    ]:
        with pytest.raises(security.SecurityConfigError, match=message):
            security.api_key(env)
            security.max_request_bytes(env)
    assert security.max_batch({}) == 1000 and security.max_batch({"LEADSCORE_MAX_BATCH": " 250 "}) == 250
    for raw, message in [("abc", "whole number of leads, got 'abc'"), ("0", "from 1 to 100,000, got 0"),
                         ("-5", "got -5"), ("100001", "got 100001")]:
        with pytest.raises(security.SecurityConfigError, match=message):
            security.max_batch({"LEADSCORE_MAX_BATCH": raw})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(security.SecurityConfigError, match="empty"):
        security.api_key({"LEADSCORE_API_KEY_FILE": str(tmp_path / "empty")})


def test_identity_key_hashes(tmp_path: Path) -> None:
    from features.privacy import hash_key, hash_keys, salt_from

    salt_file = tmp_path / "salt"
    salt_file.write_text("s3cret\n")
    salt = salt_from({"LEADSCORE_HASH_SALT_FILE": str(salt_file)})
    assert salt == b"s3cret" == salt_from({"LEADSCORE_HASH_SALT": "s3cret"})
    assert salt_from({}) is None
    a = hash_key("Jane.Doe@Example.com ", salt)
    assert a == hash_key("jane.doe@example.com", salt) != hash_key("jane.doe@example.com", b"other")
    assert a.startswith("h1:") and "jane" not in a
    assert hmac.compare_digest(a[3:], hmac.new(b"s3cret", b"jane.doe@example.com", "sha256").hexdigest())
    hashed = hash_keys(pd.Series(["L1", None, "L1", "L2"]), salt)
    assert hashed[0] == hashed[2] == hash_key("L1", salt) and hashed[1] is None and hashed[3] != hashed[0]


# --- the API key ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", "/score"), ("POST", "/score_batch"), ("GET", "/model")])
def test_protected_endpoints_need_the_key(secured: Any, method: str, path: str) -> None:
    body = example_request() if path == "/score" else [example_request()]
    kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789abcdef"}, {"X-API-Key": KEY[:-1]}, {"Authorization": KEY}):
        r = secured.request(method, path, headers=headers, **kwargs)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["detail"][0]["loc"] == ["header", "authorization"]
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
        r = secured.request(method, path, headers=headers, **kwargs)
        assert r.status_code == 200, r.text


def test_health_and_docs_stay_open(secured: Any) -> None:
    for path in ("/livez", "/readyz", "/metrics", "/docs.json"):
        assert secured.get(path).status_code == 200, path
    spec = secured.get("/docs.json").json()
    assert spec["paths"]["/score"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in spec["paths"]["/readyz"]["get"]
    assert {"401", "413", "415", "429"} <= set(spec["paths"]["/score"]["post"]["responses"])


def test_key_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.testclient import TestClient

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    app = security.ApiKeyMiddleware(PlainTextResponse("scored"), key=KEY)  # type: ignore[arg-type]
    c = TestClient(app)  # no lifespan: the inner app is a bare response
    assert c.post("/score", headers={"X-API-Key": "x" * 30}).status_code == 401
    assert c.post("/score", headers={"Authorization": f"Bearer {KEY}"}).text == "scored"
    assert calls == [(b"x" * 30, KEY.encode()), (KEY.encode(), KEY.encode())]


# --- request limits ---------------------------------------------------------------------------


def test_request_size_limit(secured: Any) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    big = example_request()
    big["job_title"] = "x" * (70 * 1024)
    r = secured.post("/score", json=big, headers=auth)
    assert r.status_code == 413 and r.json()["detail"][0]["loc"] == ["body"], r.text
    # Without Content-Length (chunked): refused once the body passes the limit.
    chunks = (b"[" + b'{"lead_id": "x", "created_at": "2024-05-01"},' * 2000 + b"]",)
    r = secured.post("/score_batch", content=iter(chunks), headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert secured.post("/score", json=example_request(), headers=auth).status_code == 200


class _Planted:
    """Unpickling this creates a file: proof that a payload was (not) unpickled."""

    path = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.path).touch, ())


@pytest.mark.parametrize("media_type", ["application/vnd.bentoml+pickle", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"])
def test_no_unpickling_and_json_only(secured: Any, tmp_path: Path, media_type: str) -> None:
    _Planted.path = str(tmp_path / "unpickled")
    payload = pickle.dumps(_Planted())
    r = secured.post("/score", content=payload, headers={"Authorization": f"Bearer {KEY}", "Content-Type": media_type})
    assert r.status_code == 415, r.text
    assert r.json()["detail"][0]["loc"] == ["header", "content-type"]
    assert not Path(_Planted.path).exists()


def test_stored_models_hold_no_pickle(world: dict[str, Any], bento_model: str) -> None:
    """The registered model and its BentoML copy: code, JSON and LightGBM text, no pickle."""
    import bentoml
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(world["uri"]))
    roots = [local, Path(bentoml.models.get(bento_model).path)]
    files = [p for root in roots for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "bundle.json" for p in files)
    pickled = [p for p in files if p.suffix in (".pkl", ".pickle", ".joblib") or p.read_bytes()[:1] == b"\x80"]
    assert not pickled


# --- personal data -----------------------------------------------------------------------------

MARK = "zqpii"
PHONE = re.compile(rb"555-019-\d{4}")


def plant(tables: Any) -> Any:
    """Unique emails, names, company names and phone numbers in every lead, event and link."""
    leads = tables.leads.copy()
    n = len(leads)
    old = leads["email"].astype(object)
    new = pd.Series([f"first{i}.{MARK}{i}@acme{i % 7}-works.com" for i in range(n)], index=leads.index)
    leads["email"] = new.where(old.notna(), None)
    leads["company_name"] = [f"Zqpii Company {i}" for i in range(n)]
    leads["first_name"] = [f"Zqpiifirst{i}" for i in range(n)]
    leads["last_name"] = [f"Zqpiilast{i}" for i in range(n)]
    leads["phone"] = [f"+1-555-019-{i % 10_000:04d}" for i in range(n)]
    mapping = dict(zip(old.dropna().str.lower(), new[old.notna()], strict=True))
    events = tables.events.copy()
    events["identifier"] = events["identifier"].map(lambda v: mapping.get(str(v).lower(), v))
    identities = tables.identities.copy()
    for col in ("identifier_a", "identifier_b"):
        identities[col] = identities[col].map(lambda v: mapping.get(str(v).lower(), v))
    assert events["identifier"].str.contains(MARK).sum() > 100
    return type(tables)(leads=leads, events=events, identities=identities, outcomes=tables.outcomes)


def has_pii(data: bytes) -> bool:
    return MARK.encode() in data.lower() or PHONE.search(data) is not None


def leaks(path: Path) -> list[str]:
    """Files at or under ``path`` holding a planted value (Parquet is read, not grepped)."""
    found = []
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if not p.is_file():
            continue
        data = p.read_bytes()
        if p.suffix == ".parquet":
            frame = pd.read_parquet(io.BytesIO(data))
            data = (" ".join(map(str, frame.columns)) + frame.astype(str).to_csv(index=False)).encode()
        if has_pii(data):
            found.append(str(p))
    return found


@pytest.mark.slow
def test_personal_data_reaches_no_store_and_no_log(tmp_path: Path) -> None:
    import httpx
    import mlflow

    from features.contract import write_tables
    from features.generate import generate
    from features.privacy import hash_key

    tables, _ = generate(2500, seed=5)
    planted_tables = plant(tables)
    write_tables(planted_tables, tmp_path / "data-in")
    salt = "pii-test-salt"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "LEADSCORE_HASH_SALT": salt,
        "LEADSCORE_API_KEY": KEY,
    }
    env.pop("MLFLOW_REGISTRY_URI", None)
    texts = []
    train = subprocess.run(
        [exe("leadscore"), "-v", "train", "--data", str(tmp_path / "data-in"), "--set", "lightgbm.max_rounds=80", "--set", "lightgbm.early_stopping_rounds=20"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    texts += [train.stdout, train.stderr]

    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([exe("leadscore"), "-v", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/readyz", proc)
            planted = planted_tables.leads.dropna(subset=["email"]).iloc[:20]
            auth = {"Authorization": f"Bearer {KEY}"}
            assert httpx.get(base + "/metrics").status_code == 200  # open without the key
            with httpx.Client(base_url=base, timeout=30, headers=auth) as http:
                for _, row in planted.iterrows():
                    req = example_request()
                    req.update(email=row["email"], company_name=row["company_name"], first_name=row["first_name"], phone=row["phone"])
                    req["events"][0]["identifier"] = row["email"]
                    assert http.post("/score", json=req).status_code == 200
                    bad = {**req, "created_at": "not a time", "company_size": "many"}  # rejected: logged without input
                    assert http.post("/score", json=bad).status_code == 400
                    bad_events = {**req, "events": [{"identifier": row["email"], "timestamp": "yesterday"}]}
                    assert http.post("/score_batch", json=[bad_events]).status_code == 400
                    assert http.post("/score", json=req, headers={"Authorization": f"Bearer {row['email']}"}).status_code == 401
        finally:
            stop(proc)
    texts.append(log.read_text(encoding="utf-8", errors="replace"))
    assert "rejected request on /score" in texts[-1]  # the service did log the rejections

    (tmp_path / "out").mkdir()
    score = subprocess.run(
        [exe("leadscore"), "-v", "score", "--data", str(tmp_path / "data-in"), "--out", str(tmp_path / "out" / "scores.parquet"), "--reasons"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert score.returncode == 0, score.stderr[-3000:]
    texts += [score.stdout, score.stderr]

    # The stores: tracking database, artifacts (mlruns), BentoML store; not the input data,
    # nor the scores file the user asked for. And every log.
    stores = [p for p in tmp_path.iterdir() if p.name not in ("data-in", "out")]
    assert {p.name for p in stores} >= {"mlflow.db", "mlruns", "bentoml"}
    found = [f for store in stores for f in leaks(store)]
    found += [f"log {i}: {t[:200]}" for i, t in enumerate(texts) if has_pii(t.encode())]
    assert not found, found
    assert leaks(tmp_path / "data-in")  # the search does find what was planted

    # Identity keys are stored hashed with the configured salt: the run's snapshot manifest.
    uri = env["MLFLOW_TRACKING_URI"]  # not set globally: later tests use the session's store
    tracking = mlflow.MlflowClient(tracking_uri=uri)
    experiment = tracking.get_experiment_by_name("lead-scoring")
    run_id = tracking.search_runs([experiment.experiment_id], "tags.`leadscore.role` = 'model'")[0].info.run_id
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data/snapshots.parquet", dst_path=str(tmp_path / "dl"), tracking_uri=uri)
    manifest = pd.read_parquet(path)
    lead_ids = tables.leads["lead_id"].astype(str)
    assert set(manifest["lead_key"]) <= {hash_key(v, salt.encode()) for v in lead_ids}
    assert not set(manifest["lead_key"]) & set(lead_ids)
    assert {"train", "validation", "test"} <= set(np.unique(manifest["qualification_period"]))
