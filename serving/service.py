"""The BentoML service: a thin class over :class:`serving.scorer.Scorer`.

Endpoints: ``POST /score`` (one lead), ``POST /score_batch`` (a list, answers in input
order), ``GET /model`` (what is loaded), plus BentoML's ``/livez``, ``/readyz``,
``/metrics`` and the OpenAPI document at ``/docs.json``.

The model is declared at class level, so ``bentoml build`` packs it into the Bento. Which
model: the BentoML model tag in ``LEADSCORE_BENTO_MODEL`` (default
``lead-scoring:latest``); ``leadscore serve`` imports the registry's champion under that
name first. ``LEADSCORE_MAX_BATCH`` (default 1000) bounds ``/score_batch``.

Limits (read when the service is loaded): BentoML's traffic limits shed load instead of
queueing it without bound — at most ``LEADSCORE_MAX_CONCURRENCY`` requests in flight
(default 48; more get a 429 at once) and ``LEADSCORE_TIMEOUT`` seconds per request (default
2; a request still waiting after it gets a 504, see ``DEFAULT_TIMEOUT_S``).
``LEADSCORE_TRACING=1`` keeps the scoring endpoints in BentoML's tracing, which leaves them
out by default (see ``TRACING``). The API key and the request size limit:
:mod:`serving.security`.
A missing, corrupt or inconsistent model, or an unusable security setting, stops
``bentoml serve`` before any worker starts, with one line saying why.

The request path is kept short: ``async`` endpoints (the scoring is CPU work of well
under a millisecond, cheaper than a hop to a worker thread), no per-request logging of
payloads, the access log off (BentoML's metrics still count every request).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
from pathlib import Path
from typing import Annotated, TypeVar

import bentoml
from bentoml.validators import ContentType
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving.openapi import ErrorShapeMiddleware, OpenAPIMiddleware
from serving.schemas import Lead, ModelInfo, ScoreResponse, request_models
from serving.security import (
    HARD_MAX_BATCH,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    check_settings,
    install_log_redaction,
    max_batch,
)

MODEL_TAG = os.environ.get("LEADSCORE_BENTO_MODEL", "lead-scoring:latest")
# BentoML's timeout timer is never cancelled: it keeps each request's context (trace span,
# request objects) alive for the whole timeout. At 10 s and a few hundred requests a second
# that is over 100,000 live objects, and the collector's full passes over them paused the
# worker for 25-100 ms every few seconds (p99 under load 28 ms, 10 s to recover from an
# overload). At 2 s, and without the span (TRACING below), benchmarks/load.py sustains
# 700 req/s at a p99 of 8 ms. The timer starts when the request's headers are in: a request
# still waiting after it (a slow upload, or its turn behind other requests' CPU work, such as
# several concurrent 1,000-lead batches) gets a 504; one already being scored runs to its end.
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MAX_CONCURRENCY = 48

N = TypeVar("N", int, float)


def _positive(name: str, default: N, kind: type[N]) -> N:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = kind(0)
    if not (value > 0 and math.isfinite(value)):
        raise SystemExit(f"leadscore: refusing to start: {name} must be a positive {'whole number' if kind is int else 'number'}, got {raw!r}")
    return value


TRAFFIC = {
    "timeout": _positive("LEADSCORE_TIMEOUT", DEFAULT_TIMEOUT_S, float),
    "max_concurrency": _positive("LEADSCORE_MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY, int),
}

# BentoML records an OpenTelemetry span for every request even when none is exported
# (sample rate 0, its default), and its timeout timer keeps that span alive. The scoring
# endpoints are left out of tracing unless LEADSCORE_TRACING=1 (for a deployment that
# configures an exporter and wants a span per scored lead). Without a span BentoML sets no
# request id, so their answers carry no X-BentoML-Request-ID header.
TRACING = {} if os.environ.get("LEADSCORE_TRACING", "") == "1" else {"excluded_urls": ["/score$", "/score_batch$"]}


def bundle_dir(model_path: str | Path) -> Path:
    """The bundle directory inside a BentoML model imported from the MLflow registry."""
    root = Path(model_path)
    for candidate in (root / "mlflow_model" / "artifacts" / "bundle", root / "artifacts" / "bundle", root):
        if (candidate / "bundle.json").exists():
            return candidate
    found = next(root.rglob("bundle.json"), None)
    if found is None:
        raise FileNotFoundError(f"no leadscore bundle (bundle.json) inside the BentoML model at {root}")
    return found.parent


def _api_models() -> tuple[type[BaseModel], type[BaseModel]]:
    """The request/response models of the model being served: the API must be declared at
    import time, so read the bundle's schema from the BentoML model store. A model trained
    on your own data (a config's data section) accepts the attributes its config declares
    and answers for its targets only; without a model in the store, the contract's API."""
    try:
        path = bentoml.models.get(MODEL_TAG).path
        doc = json.loads((bundle_dir(path) / "bundle.json").read_text(encoding="utf-8"))
        from features.pipeline import FeaturePipeline

        return request_models(FeaturePipeline.from_dict(doc["pipeline"]))
    except Exception:  # no model or an unreadable one: __init__ reports it clearly
        return Lead, ScoreResponse


async def yield_to_arrivals() -> None:
    """Let the event loop read requests that have arrived before this one is scored.

    Scoring is CPU work that never awaits: without this pause each request would run to
    its end before the server even reads the next, so BentoML's concurrency limit would
    never see more than one in flight and an overload would queue, unbounded, in the
    sockets. With it, requests beyond ``max_concurrency`` are shed with a 429 at once.
    """
    await asyncio.sleep(0)


async def _model_endpoint(request: Request) -> Response:
    service = bentoml.get_current_service()
    return Response(service.info_json, media_type="application/json")


LeadRequest, LeadResponse = _api_models()

# BentoML APIs answer POST only; GET /model is a plain Starlette route mounted beside them.
model_app = Starlette(routes=[Route("/model", _model_endpoint, methods=["GET"])])


@bentoml.asgi_app(model_app, path="/")
@bentoml.service(
    name="leadscore",
    traffic=TRAFFIC,
    workers=1,
    logging={"access": {"enabled": False}},
    tracing=TRACING,
)
class LeadScoring:
    """Lead scoring: calibrated qualification and acquisition probabilities with reasons."""

    model = bentoml.models.BentoModel(MODEL_TAG)

    @bentoml.on_deployment
    def refuse_bad_model() -> None:
        """Before any worker starts: a bad bundle or setting stops the server with one line."""
        from features.contract import UserError
        from training.bundle import ModelBundle

        try:
            check_settings()
            ModelBundle.load(bundle_dir(bentoml.models.get(MODEL_TAG).path))
        except (UserError, FileNotFoundError) as e:
            raise SystemExit(f"leadscore: refusing to start: {e}") from None

    def __init__(self) -> None:
        from serving.scorer import Scorer
        from training.bundle import ModelBundle

        install_log_redaction()
        self.ready = False
        self.max_batch = max_batch()
        bundle = ModelBundle.load(bundle_dir(self.model.path))
        labels = dict(self.model.info.labels or {})
        bundle.name = labels.get("registered_model", bundle.name)
        bundle.version = labels.get("registered_version", bundle.version)
        self.scorer = Scorer(bundle)
        self.scorer.warm_up()
        self.info_json = ModelInfo.model_validate(bundle.describe()).model_dump_json().encode()
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall a request for ~100 ms now and then.
        gc.collect()
        gc.freeze()
        self.ready = True

    def __is_ready__(self) -> bool:
        return self.ready

    @bentoml.api(route="/score")
    async def score(self, lead: LeadRequest, /) -> LeadResponse:  # type: ignore[valid-type]
        """Score one lead: probabilities, score, grade, action, sub-scores and reasons."""
        await yield_to_arrivals()
        return LeadResponse.model_validate(self.scorer.score(lead))

    @bentoml.api(route="/score_batch")
    async def score_batch(
        self, leads: Annotated[list[LeadRequest], Field(max_length=HARD_MAX_BATCH)], /  # type: ignore[valid-type]
    ) -> Annotated[list[LeadResponse], ContentType("application/json")]:  # type: ignore[valid-type]
        """Score many leads; the answers are in input order. At most ``LEADSCORE_MAX_BATCH`` leads."""
        await yield_to_arrivals()
        if len(leads) > self.max_batch:
            return JSONResponse(  # type: ignore[return-value]
                {
                    "error": f"batch too large: {len(leads)} leads, at most {self.max_batch} per request",
                    "detail": [{"loc": ["body"], "msg": f"at most {self.max_batch} leads per request", "type": "too_long"}],
                },
                status_code=413,
            )
        return [LeadResponse.model_validate(r) for r in self.scorer.score_many(leads)]


# Outermost first: the key is checked before the body is read; errors get one shape.
for _middleware in (OpenAPIMiddleware, ApiKeyMiddleware, BodyLimitMiddleware, ErrorShapeMiddleware):
    LeadScoring.add_asgi_middleware(_middleware)  # type: ignore[attr-defined]
