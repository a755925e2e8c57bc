"""Serving benchmark: BentoML vs ``mlflow models serve`` vs a bare Starlette app, one run.

Starts, one after another on loopback, (a) ``bentoml serve`` of the service, (b) ``mlflow
models serve --env-manager local`` of the same registered model version, (c) a bare
Starlette/uvicorn app calling the same in-process scorer; drives each with the same payload
(one lead with 20 events) and the same keep-alive clients: latency at concurrency 1 with
httpx's sync client (what an application calling the API would use), throughput at
concurrency 16 with the lean asyncio client of ``http_client`` (httpx's async client would
saturate a core before any server did). ``<name>_lean_p50_ms`` is latency at concurrency
1 on the lean client too: the server's share without most of the client's. Also measures the in-process scorer, the agreement of the
reasons' top three with LightGBM's exact TreeSHAP, and ``leadscore score`` throughput.

Usage (a registered model is needed; with --train one is made in the work directory)::

    python benchmarks/serving.py --work /tmp/bench --train
    python benchmarks/serving.py --work DIR_WITH_mlflow.db [--model models:/lead-scoring@champion]

The last line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/training.py would shadow the training package: import from the repo root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

from serving_helpers import exe, free_port, payload, stop, wait_ready  # noqa: E402

BARE_APP = '''
import os
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from pydantic import ValidationError
from serving.schemas import Lead, ScoreResponse
from serving.scorer import Scorer
from training.bundle import ModelBundle

scorer = Scorer(ModelBundle.load(os.environ["LEADSCORE_BUNDLE_DIR"], version=os.environ.get("LEADSCORE_VERSION", "unregistered")))
scorer.warm_up()

async def score(request: Request) -> Response:
    try:
        lead = Lead.model_validate_json(await request.body())
    except ValidationError as e:
        return Response(e.json(), status_code=400, media_type="application/json")
    out = ScoreResponse.model_validate(scorer.score(lead))
    return Response(out.model_dump_json(), media_type="application/json")

async def ready(request: Request) -> Response:
    return Response("ok")

app = Starlette(routes=[Route("/score", score, methods=["POST"]), Route("/readyz", ready)])
'''


async def drive(url: str, body: bytes, concurrency: int, n: int, seconds: float) -> dict[str, float]:
    """Latency percentiles and throughput of ``n`` POSTs (bounded by ``seconds``) from
    ``concurrency`` closed-loop senders on the lean keep-alive client of ``http_client``
    (httpx's async client costs the client ~1.5 ms of CPU per request: on 2 shared cores it,
    not the server, would set the rate)."""
    from urllib.parse import urlsplit

    from http_client import Client, post_request

    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    client = Client(host, port, post_request(host, port, u.path, body))
    for _ in range(20):  # warm up a connection and the server
        await client.post()
    lat: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    remaining = n

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            t0 = time.perf_counter()
            status, _ = await client.post()
            lat.append(time.perf_counter() - t0)
            errors += status != 200

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    await client.close()
    a = np.asarray(lat) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "rps": len(a) / wall, "n": len(a), "errors": errors}


def drive_sync(url: str, body: bytes, n: int, seconds: float) -> dict[str, float]:
    """Concurrency 1 with httpx's sync keep-alive client (less client overhead per request)."""
    import httpx

    headers = {"Content-Type": "application/json"}
    lat: list[float] = []
    errors = 0
    with httpx.Client(timeout=30) as client:
        for _ in range(50):
            client.post(url, content=body, headers=headers)
        deadline = time.perf_counter() + seconds
        t_start = time.perf_counter()
        while len(lat) < n and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            r = client.post(url, content=body, headers=headers)
            lat.append(time.perf_counter() - t0)
            errors += r.status_code != 200
        wall = time.perf_counter() - t_start
    a = np.asarray(lat) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "rps": len(a) / wall, "n": len(a), "errors": errors}


def measure_server(name: str, cmd: list[str], env: dict[str, str], port: int, path: str, body: bytes, ready: str, args: argparse.Namespace, cwd: Path) -> dict[str, Any]:
    log = open(cwd / f"{name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}{ready}", proc, timeout=120)
        url = f"http://127.0.0.1:{port}{path}"
        lat = drive_sync(url, body, args.requests, args.seconds)
        thr = asyncio.run(drive(url, body, 16, args.requests * 2, args.seconds))
        lean = asyncio.run(drive(url, body, 1, args.requests, args.seconds))
        print(f"{name}: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, {thr['rps']:.0f} req/s at c=16 (errors {lat['errors'] + thr['errors']})", file=sys.stderr)
        return {"p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"], "rps": thr["rps"], "c16_p50_ms": thr["p50_ms"],
                "lean_p50_ms": lean["p50_ms"], "errors": lat["errors"] + thr["errors"] + lean["errors"]}
    finally:
        stop(proc)
        log.close()


def timeit(f: Any, n: int) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def inproc(bundle: Any, req: dict[str, Any]) -> dict[str, float]:
    from serving.schemas import Lead
    from serving.scorer import Scorer

    scorer = Scorer(bundle)
    scorer.warm_up()
    lead = Lead.model_validate(req)
    events = [e.__dict__ for e in lead.events]
    x = bundle.vector(lead.__dict__, events, lead.as_of)
    ex = bundle.explainer()
    row = x.reshape(1, -1)
    return {
        "inproc_score_p50_us": timeit(lambda: scorer.score(lead, reasons=False), 2000) * 1e6,
        "inproc_reasons_p50_us": timeit(lambda: scorer.score(lead, reasons=True), 2000) * 1e6,
        "breakdown_features_us": timeit(lambda: bundle.vector(lead.__dict__, events, lead.as_of), 2000) * 1e6,
        "breakdown_predict_both_us": timeit(lambda: [t.booster.predict(row, num_threads=1) for t in bundle.targets.values()], 2000) * 1e6,
        "breakdown_treeshap_both_us": timeit(lambda: ex.shap_one(x), 2000) * 1e6,
        "breakdown_lightgbm_pred_contrib_both_us": timeit(lambda: [t.booster.predict(row, pred_contrib=True, num_threads=1) for t in bundle.targets.values()], 200) * 1e6,
        "breakdown_validate_us": timeit(lambda: Lead.model_validate(req), 2000) * 1e6,
    }


def agreement(bundle: Any, data_dir: Path, n: int = 1000) -> float:
    """Share of (test lead, target) where our top-3 positive and negative reasons equal exact TreeSHAP's."""
    from features.contract import load_tables
    from features.snapshots import build_snapshots

    tables = load_tables(data_dir)
    snaps = build_snapshots(tables)
    snaps = snaps[snaps["as_of"] >= snaps["as_of"].quantile(0.85)]  # the test period
    snaps = snaps.sample(min(n, len(snaps)), random_state=0).reset_index(drop=True)
    X = bundle.pipeline.transform(tables, snaps)
    ex = bundle.explainer()
    mine = ex.shap(X)
    same = total = 0
    for k, t in enumerate(bundle.targets.values()):
        ref = np.asarray(t.booster.predict(X, pred_contrib=True))
        for r in range(len(X)):
            a = bundle.explain(X[r], mine[r, k * ex.width: (k + 1) * ex.width])["reasons"]
            b = bundle.explain(X[r], ref[r])["reasons"]
            same += all([x["feature"] for x in a[s]] == [x["feature"] for x in b[s]] for s in ("positive", "negative"))
            total += 1
    return same / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=None, help="Directory with mlflow.db and data/ (default: a new temporary one).")
    ap.add_argument("--train", action="store_true", help="Generate data and train a model in --work first.")
    ap.add_argument("--leads", type=int, default=5000, help="Leads to generate with --train.")
    ap.add_argument("--batch-leads", type=int, default=50_000, help="Leads for the batch scoring measurement.")
    ap.add_argument("--model", default="models:/lead-scoring@champion")
    ap.add_argument("--requests", type=int, default=2000, help="Requests per measurement (bounded by --seconds).")
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "BENTOML_HOME": str(work / "bentoml"),
           "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1",
           # `mlflow models serve` runs `uvicorn` by name: the venv's bin must be on PATH.
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    os.environ.update(env)
    leadscore = exe("leadscore")
    if args.train or not (work / "mlflow.db").exists():
        subprocess.run([leadscore, "generate", "--leads", str(args.leads), "--out", str(work / "data")], check=True, env=env, cwd=work)
        subprocess.run([leadscore, "train", "--data", str(work / "data")], check=True, env=env, cwd=work, stdout=subprocess.DEVNULL)

    from training import tracking
    from training.registry import load_bundle

    tracking.configure("lead-scoring")
    bundle = load_bundle(args.model)
    version = bundle.version
    model_uri = f"models:/lead-scoring/{version}" if args.model.startswith("models:/lead-scoring@") else args.model
    req = payload(20)
    body = json.dumps(req).encode()
    results: dict[str, Any] = {"model_version": version, "trees": {n: t.booster.num_trees() for n, t in bundle.targets.items()}}

    # In process (no server running).
    results.update(inproc(bundle, req))
    results["reasons_top3_agreement"] = agreement(bundle, work / "data")

    # (a) BentoML, through `leadscore serve` (imports the model, runs `bentoml serve`).
    port = free_port()
    bento = measure_server("bento", [leadscore, "serve", "--model", model_uri, "--port", str(port)], env, port, "/score", body, "/readyz", args, work)
    # (b) mlflow models serve of the same version; its request format wraps the input.
    port = free_port()
    mlflow_body = json.dumps({"inputs": [req]}).encode()
    mlf = measure_server(
        "mlflow", [exe("mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        env, port, "/invocations", mlflow_body, "/ping", args, work,
    )
    # (c) the bare Starlette app calling the same scorer.
    app_dir = work / "bare"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    bundle_dir = work / "bare" / "bundle"
    bundle.save(bundle_dir)
    port = free_port()
    bare_env = {**env, "LEADSCORE_BUNDLE_DIR": str(bundle_dir), "LEADSCORE_VERSION": version, "PYTHONPATH": str(app_dir)}
    bare = measure_server("bare", [exe("uvicorn"), "bare_app:app", "--port", str(port), "--no-access-log", "--log-level", "warning"],
                          bare_env, port, "/score", body, "/readyz", args, work)

    # Batch scoring through the CLI.
    batch_dir = work / "batch_data"
    if not (batch_dir / "leads.parquet").exists():
        subprocess.run([leadscore, "generate", "--leads", str(args.batch_leads), "--out", str(batch_dir), "--seed", "5"], check=True, env=env, cwd=work, stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    out = subprocess.run([leadscore, "score", "--model", model_uri, "--data", str(batch_dir), "--out", str(work / "scores.parquet")],
                         check=True, env=env, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    results.update(
        batch_leads=summary["leads"],
        batch_leads_per_s=summary["leads_per_s"],
        batch_wall_s_including_startup=round(wall, 2),
    )
    results.update(
        bento_p50_ms=bento["p50_ms"], bento_p99_ms=bento["p99_ms"], bento_rps=bento["rps"],
        bare_p50_ms=bare["p50_ms"], bare_p99_ms=bare["p99_ms"], bare_rps=bare["rps"],
        mlflow_p50_ms=mlf["p50_ms"], mlflow_p99_ms=mlf["p99_ms"], mlflow_rps=mlf["rps"],
        bento_lean_p50_ms=bento["lean_p50_ms"], bare_lean_p50_ms=bare["lean_p50_ms"], mlflow_lean_p50_ms=mlf["lean_p50_ms"],
        errors=bento["errors"] + bare["errors"] + mlf["errors"],
    )
    results["targets"] = {
        "bento_p50 <= 1.5 x bare_p50": results["bento_p50_ms"] <= 1.5 * results["bare_p50_ms"],
        "bento_p50 <= 0.5 x mlflow_p50": results["bento_p50_ms"] <= 0.5 * results["mlflow_p50_ms"],
        "bento_rps >= 2 x mlflow_rps": results["bento_rps"] >= 2 * results["mlflow_rps"],
        "inproc_score_p50_us <= 150": results["inproc_score_p50_us"] <= 150,
        "inproc_reasons_p50_us <= 1000": results["inproc_reasons_p50_us"] <= 1000,
        "reasons_top3_agreement >= 0.9": results["reasons_top3_agreement"] >= 0.9,
        "batch_leads_per_s >= 50000": results["batch_leads_per_s"] >= 50_000,
    }
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
