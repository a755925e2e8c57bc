"""What the API documents is what it answers: one error shape, and an OpenAPI document to match.

BentoML answers rejected input in a few shapes (a validation error with an empty ``loc``
for a body that is not JSON, a list for an unsupported media type) and documents its 400s
with a ``detail`` string. :class:`ErrorShapeMiddleware` turns every 4xx of the scoring
endpoints into one shape::

    {"error": "...", "detail": [{"loc": ["body", "events", 0, "timestamp"], "msg": "...", "type": "..."}]}

where ``loc`` always names the field (``body`` for the body as a whole), and
:class:`OpenAPIMiddleware` amends ``/docs.json`` to document it: the error schema, the 401,
413, 415, 429 and 504 answers, ``GET /model`` (served beside the BentoML APIs) and, when
an API key is configured, the security schemes.
"""

from __future__ import annotations

import json
from typing import Any

from serving.security import ASGIApp, Message, Receive, Scope, Send, is_open

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "title": "Message"},
        "detail": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "minItems": 1, "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
# BentoML's traffic limits answer before the service's middlewares: only a message.
OVERLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Overload",
    "required": ["error"],
    "properties": {"error": {"type": "string", "title": "Message"}},
}
ERROR_ANSWERS = {
    "400": "Invalid input; every problem names its field",
    "401": "Missing or wrong API key",
    "413": "Request body or batch too large",
    "415": "Unsupported media type (send application/json)",
}
OVERLOAD_ANSWERS = {
    "429": "Too many requests in flight: shed by the concurrency limit; retry later",
    "504": "Not answered within the request timeout",
}
SCORING_PATHS = ("/score", "/score_batch")


def _error_ref(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def amend(spec: dict[str, Any], model_info_schema: dict[str, Any], secured: bool) -> dict[str, Any]:
    """The BentoML OpenAPI document with the service's real error answers and ``GET /model``."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["Overload"] = OVERLOAD_SCHEMA
    schemas.update(model_info_schema.pop("$defs", {}))
    schemas["ModelInfo"] = model_info_schema
    for path in SCORING_PATHS:
        op = spec.get("paths", {}).get(path, {}).get("post")
        if op is None:
            continue
        responses = op.setdefault("responses", {})
        for code, text in ERROR_ANSWERS.items():
            responses[code] = _error_ref(text)
        for code, text in OVERLOAD_ANSWERS.items():
            responses[code] = _error_ref(text, "Overload")
        responses.pop("404", None)  # no path parameters: a scoring endpoint is never 404
    model_get: dict[str, Any] = {
        "summary": "What is loaded",
        "description": "The loaded model: name, version, targets, training time, test metrics and features.",
        "tags": ["Service APIs"],
        "responses": {
            "200": {"description": "The loaded model", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelInfo"}}}},
            "401": _error_ref(ERROR_ANSWERS["401"]),
            "429": _error_ref(OVERLOAD_ANSWERS["429"], "Overload"),
        },
    }
    spec.setdefault("paths", {})["/model"] = {"get": model_get}
    if secured:
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path, ops in spec["paths"].items():
            if is_open(path):
                continue
            for op in ops.values():
                op["security"] = [{"bearer": []}, {"apiKey": []}]
    return spec


def _rewrite_json_refs(schema: Any) -> Any:
    """pydantic's ``#/$defs/X`` references → OpenAPI's ``#/components/schemas/X``."""
    if isinstance(schema, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" and isinstance(v, str) else _rewrite_json_refs(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rewrite_json_refs(v) for v in schema]
    return schema


def model_info_schema() -> dict[str, Any]:
    from serving.schemas import ModelInfo

    out: dict[str, Any] = _rewrite_json_refs(ModelInfo.model_json_schema(mode="serialization"))
    return out


def error_body(raw: bytes, status: int) -> dict[str, Any]:
    """Any 4xx body BentoML produces → the one documented error shape, ``loc`` naming a field."""
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        doc = {"error": raw.decode("utf-8", "replace")[:500]}
    if isinstance(doc, list):  # BentoML answers some errors as a one-element list
        doc = doc[0] if doc and isinstance(doc[0], dict) else {"error": str(doc)}
    if not isinstance(doc, dict):
        doc = {"error": str(doc)}
    message = str(doc.get("error") or f"HTTP {status}")
    details = doc.get("detail")
    out = []
    if isinstance(details, list):
        for d in details:
            if not isinstance(d, dict):
                continue
            loc = [x for x in d.get("loc", []) if isinstance(x, str | int)]
            if not loc or loc[0] == "root":
                loc = ["body", *loc[1:]]
            out.append({"loc": loc, "msg": str(d.get("msg", message)), "type": str(d.get("type", "invalid"))})
    if not out:
        out = [{"loc": ["body"], "msg": message, "type": "invalid"}]
    return {"error": message, "detail": out}


class ErrorShapeMiddleware:
    """Rewrites 4xx answers of the scoring endpoints into the documented error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            return await self.app(scope, receive, send)
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if 400 <= message["status"] < 500:
                    start = message
                    return
                await send(message)
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = json.dumps(error_body(b"".join(chunks), start["status"])).encode()
                    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
                    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
            else:
                await send(message)

        await self.app(scope, receive, capture)


class OpenAPIMiddleware:
    """Serves the amended OpenAPI document at ``/docs.json`` (built once, on first request)."""

    def __init__(self, app: ASGIApp, secured: bool | None = None) -> None:
        from serving.security import api_key

        self.app = app
        self.secured = bool(api_key()) if secured is None else secured
        self.document: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/docs.json" or scope.get("method") != "GET":
            return await self.app(scope, receive, send)
        if self.document is None:
            start: Message = {}
            chunks: list[bytes] = []

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            await self.app(scope, receive, capture)
            if start.get("status") != 200:
                return await self.app(scope, receive, send)
            spec = amend(json.loads(b"".join(chunks)), model_info_schema(), self.secured)
            self.document = json.dumps(spec).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(self.document)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self.document})
