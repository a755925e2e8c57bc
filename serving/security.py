"""Limits and access control of the scoring service: API key, request size, log hygiene.

Two plain ASGI middlewares, added to the BentoML service with ``add_asgi_middleware`` (they
sit inside BentoML's own traffic limits, so refused requests still count against the
concurrency cap and the timeout):

- :class:`ApiKeyMiddleware`: when a key is configured (``LEADSCORE_API_KEY``, or the first
  line of the file named by ``LEADSCORE_API_KEY_FILE``), every path except the health and
  documentation endpoints needs ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; a
  missing or wrong key is a 401. The comparison is constant-time (:func:`hmac.compare_digest`).
- :class:`BodyLimitMiddleware`: a request body larger than ``LEADSCORE_MAX_REQUEST_BYTES``
  (default 8 MiB) is a 413, refused from its ``Content-Length`` before it is read, or as
  soon as a streamed body passes the limit. A body whose media type is not JSON (forms,
  multipart, BentoML's pickle format, ...) is a 415, and a body that is not JSON a 400:
  the service reads JSON only.

:class:`RedactValidationErrors` keeps the payloads of rejected requests out of the server
log: BentoML logs a rejected request with its pydantic traceback, whose text quotes the
input (emails, names). The record keeps the path and the fields that failed.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from features.contract import UserError
from features.privacy import secret_setting

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_KEY_ENV = "LEADSCORE_API_KEY"
API_KEY_FILE_ENV = "LEADSCORE_API_KEY_FILE"
MAX_REQUEST_BYTES_ENV = "LEADSCORE_MAX_REQUEST_BYTES"
MAX_BATCH_ENV = "LEADSCORE_MAX_BATCH"
DEFAULT_MAX_BATCH = 1000
HARD_MAX_BATCH = 100_000  # the request model's own bound, whatever the setting
DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
# Health, metrics and the API documentation stay open: probes and schema tools need no key.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/docs", "/docs.json", "/"})
OPEN_PREFIXES = ("/static_content/",)
MIN_KEY_LENGTH = 16
# BentoML reads bodies of any other media type as JSON too; these are refused (415).
JSON_MEDIA_TYPES = frozenset({b"application/json", b"text/plain", b"text/json"})


class SecurityConfigError(UserError):
    """An API key or limit setting that cannot be used; the service refuses to start."""


def api_key(environ: MutableMapping[str, str] | None = None) -> str | None:
    """The configured API key, or None when authentication is off."""
    env = os.environ if environ is None else environ
    try:
        key = secret_setting(env, API_KEY_ENV, API_KEY_FILE_ENV, "key")
    except UserError as e:
        raise SecurityConfigError(str(e)) from None
    if key is not None and len(key) < MIN_KEY_LENGTH:
        raise SecurityConfigError(f"the API key must be at least {MIN_KEY_LENGTH} characters long")
    return key


def _whole_number(environ: MutableMapping[str, str] | None, name: str, default: int, unit: str, low: int, high: int | None = None) -> int:
    """The setting ``name`` as a whole number from ``low`` to ``high`` (``default`` if unset)."""
    env = os.environ if environ is None else environ
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SecurityConfigError(f"{name} must be a whole number of {unit}, got {raw!r}") from None
    if high is None and value < low:
        raise SecurityConfigError(f"{name} must be at least {low}, got {value}")
    if high is not None and not low <= value <= high:
        raise SecurityConfigError(f"{name} must be from {low} to {high:,}, got {value}")
    return value


def max_request_bytes(environ: MutableMapping[str, str] | None = None) -> int:
    return _whole_number(environ, MAX_REQUEST_BYTES_ENV, DEFAULT_MAX_REQUEST_BYTES, "bytes", 1024)


def max_batch(environ: MutableMapping[str, str] | None = None) -> int:
    """Most leads per ``/score_batch`` request: ``LEADSCORE_MAX_BATCH``, 1 to ``HARD_MAX_BATCH``."""
    return _whole_number(environ, MAX_BATCH_ENV, DEFAULT_MAX_BATCH, "leads", 1, HARD_MAX_BATCH)


def check_settings() -> None:
    """Raise :class:`SecurityConfigError` for unusable settings (called before serving)."""
    api_key()
    max_request_bytes()
    max_batch()


async def _reply(send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return bytes(v)
    return None


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def json_problem(body: bytes) -> str | None:
    """Why ``body`` is not a JSON document (UTF-8, nested at most ~1,000 deep), or None.

    BentoML answers some unparseable bodies with a 500 (a list input's parser fails
    outside pydantic), so the syntax is checked here, once, before the body reaches it.
    """
    if not body.strip():
        return "empty body"
    try:
        json.loads(body)
    except UnicodeDecodeError as e:
        return f"not UTF-8 text ({e.reason} at byte {e.start})"
    except json.JSONDecodeError as e:
        return f"{e.msg} at line {e.lineno} column {e.colno}"
    except RecursionError:
        return "nested too deeply"
    return None


class ApiKeyMiddleware:
    """401 for requests without the right API key (when a key is configured)."""

    def __init__(self, app: ASGIApp, key: str | None = None) -> None:
        self.app = app
        self.key = (key if key is not None else api_key() or "").encode()

    def presented(self, scope: Scope) -> bytes:
        auth = _header(scope, b"authorization") or b""
        if auth[:7].lower() == b"bearer ":
            return auth[7:].strip()
        return (_header(scope, b"x-api-key") or b"").strip()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.key or scope["type"] != "http" or is_open(scope["path"]):
            return await self.app(scope, receive, send)
        if hmac.compare_digest(self.presented(scope), self.key):
            return await self.app(scope, receive, send)
        await _reply(
            send,
            401,
            {
                "error": "missing or wrong API key",
                "detail": [{"loc": ["header", "authorization"], "msg": "send Authorization: Bearer <key> or X-API-Key: <key>", "type": "unauthorized"}],
            },
            [(b"www-authenticate", b"Bearer")],
        )


class BodyLimitMiddleware:
    """413 for request bodies over ``limit`` bytes; smaller bodies are passed on unchanged."""

    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit if limit is not None else max_request_bytes()

    def too_large(self) -> dict[str, Any]:
        return {
            "error": f"request body too large: at most {self.limit} bytes",
            "detail": [{"loc": ["body"], "msg": f"at most {self.limit} bytes per request", "type": "too_large"}],
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        media = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if media and media not in JSON_MEDIA_TYPES and not media.endswith(b"+json"):
            return await _reply(
                send,
                415,
                {
                    "error": f"unsupported media type {media.decode('latin-1')!r}: send application/json",
                    "detail": [{"loc": ["header", "content-type"], "msg": "expected application/json", "type": "unsupported_media_type"}],
                },
            )
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                declared_n = int(declared)
            except ValueError:
                return await _reply(send, 400, {"error": "invalid Content-Length header", "detail": [{"loc": ["header", "content-length"], "msg": "not a number", "type": "invalid"}]})
            if declared_n > self.limit:
                return await _reply(send, 413, self.too_large())
        # Read the body here (bounded), then hand it to the app in one piece.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _reply(send, 413, self.too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_problem(body)
        if problem is not None:
            return await _reply(send, 400, {"error": f"the body is not valid JSON: {problem}", "detail": [{"loc": ["body"], "msg": problem, "type": "json_invalid"}]})
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RedactValidationErrors(logging.Filter):
    """Log a rejected request as its path and failing fields, without the input or traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        errors = getattr(exc, "errors", None)
        if exc is None or type(exc).__name__ != "ValidationError" or not callable(errors):
            return True
        try:
            fields = sorted({".".join(str(x) for x in e["loc"]) or "(body)" for e in errors(include_input=False)})
        except Exception:  # never let log hygiene break the request
            fields = []
        path = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "rejected request on %s: %d invalid field(s): %s"
        record.args = (path, len(fields), ", ".join(fields[:10]))
        record.exc_info = None
        record.exc_text = None
        return True


BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"


def install_log_redaction() -> None:
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, RedactValidationErrors) for f in logger.filters):
        logger.addFilter(RedactValidationErrors())
