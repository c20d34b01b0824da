"""HTTP guards of the service, as plain ASGI middleware (no extra task or buffering per request):

- `ApiKey`: `X-API-Key: <key>` or `Authorization: Bearer <key>` when NBA_API_KEY is set
  (timing-safe; probes and docs stay open);
- `RequestLimits`: API bodies must be JSON (another declared content type is a 415) and at most
  NBA_MAX_BODY_MB (413), counted as they arrive whatever Content-Length says;
- `LoadShedding`: past NBA_MAX_IN_FLIGHT requests in a worker, or NBA_MAX_QUEUE_MS waited for
  a turn, 503 + `Retry-After` (fast, instead of a queue of seconds);
- `Readiness`: `GET /readyz` answers 503 with the reason (online store down, registry down)
  instead of a bare status;
- `quiet_client_errors`: a 4xx is one log line, not a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from features.settings import Settings

OPEN_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/docs", "/docs.json", "/")
API_PATHS = ("/next_best_action", "/next_best_action/batch", "/events", "/product_events")
OPEN_PREFIX = "/open/"  # GET /open/{decision_id}: shed like the other API routes


def is_api(path: str) -> bool:
    return path in API_PATHS or path.startswith(OPEN_PREFIX)


@dataclass
class _State:
    engine: Any = None  # the worker's DecisionEngine, set by the service
    recorder: Any = None  # the worker's OpenRecorder (serving/open_content.py)


STATE = _State()


async def _json(send, status: int, body: dict[str, Any],
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class ApiKey:
    def __init__(self, app) -> None:
        self.app = app
        self.key = Settings.from_env().api_key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if self.key and scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            headers = dict(scope["headers"])
            given = headers.get(b"x-api-key")
            if given is None:
                auth = headers.get(b"authorization", b"")
                given = auth[7:].strip() if auth[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(given, self.key):
                await _json(send, 401, {"error": "missing or invalid API key (X-API-Key "
                                                 "header or Authorization: Bearer)"})
                return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    pass


class RequestLimits:
    def __init__(self, app) -> None:
        self.app = app
        self.max_bytes = int(Settings.from_env().max_body_mb * 1024 * 1024)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in API_PATHS:
            await self.app(scope, receive, send)  # other routes: the framework answers (405)
            return
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype and ctype != b"application/json":
            await _json(send, 415, {"error": "content-type must be application/json, got "
                                             f"{ctype.decode('latin-1') or 'none'!r}"})
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        # count what arrives (a client may lie or stream): read it all, then hand it on
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._too_large(send)
                return
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send) -> None:
        await _json(send, 413, {"error": f"request body above {self.max_bytes:,} bytes "
                                         "(NBA_MAX_BODY_MB)"})


class Readiness:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        engine = STATE.engine
        if scope["type"] == "http" and scope["path"] == "/readyz" and engine is not None:
            ready, reason = engine.readiness()
            if not ready:
                await _json(send, 503, {"ready": False, "reason": reason},
                            [(b"retry-after", b"10")])
                return
        await self.app(scope, receive, send)


class LoadShedding:
    """Bounded queueing per worker, so overload costs callers a fast retry instead of seconds
    in a queue, and the accepted requests keep their latency:

    - at most NBA_MAX_IN_FLIGHT API requests in the worker (queued or running); one more is
      answered 503 with `Retry-After` at once;
    - requests take turns (one at a time per decision thread); one that waited more than
      NBA_MAX_QUEUE_MS for its turn is answered 503 instead of being decided late.

    BentoML's own `traffic.max_concurrency` bounds concurrency too, but answers 429 without
    `Retry-After`, has no queue-time bound, and counts the probes' neighbours; this one counts
    only the decision and event routes."""

    def __init__(self, app) -> None:
        settings = Settings.from_env()
        self.app = app
        self.limit = settings.max_in_flight
        self.max_wait = settings.max_queue_ms / 1000.0
        self.turn = asyncio.Semaphore(1)  # the service runs one decision thread per worker
        self.in_flight = 0
        self.shed = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._shed(send, f"{self.in_flight} requests in flight in this worker "
                                   "(NBA_MAX_IN_FLIGHT)")
            return
        self.in_flight += 1
        arrived = time.perf_counter()
        try:
            async with self.turn:
                waited = time.perf_counter() - arrived
                if waited > self.max_wait:
                    await self._shed(send, f"waited {waited * 1000:.0f} ms for its turn "
                                           "(NBA_MAX_QUEUE_MS)")
                    return
                await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _shed(self, send, why: str) -> None:
        self.shed += 1
        await _json(send, 503, {"error": f"overloaded: {why}; retry"}, [(b"retry-after", b"1")])


# add_asgi_middleware wraps in order: the last one added runs first
MIDDLEWARE = (RequestLimits, Readiness, ApiKey, LoadShedding)


class _ClientErrorsOneLine(logging.Filter):
    """BentoML logs a traceback for every invalid request; keep one line for those."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            status = getattr(getattr(exc, "error_code", None), "value", None)
            if type(exc).__name__ == "ValidationError" or (status is not None and status < 500):
                first = str(exc).splitlines()[0][:300] if str(exc) else ""
                record.msg = f"{record.getMessage()}: client error {type(exc).__name__}: {first}"
                record.args, record.exc_info, record.exc_text = (), None, None
        return True


def quiet_client_errors() -> None:
    logging.getLogger("bentoml._internal.server.http_app").addFilter(_ClientErrorsOneLine())


def _mark_nullable(schema):
    """The schema with `nullable: true` on every property whose default is None (BentoML's
    schema objects are frozen: rebuilt with attrs.evolve)."""
    import attrs

    if isinstance(schema, dict):
        props = schema.get("properties") or {}
        for name, prop in props.items():
            prop = _mark_nullable(prop)
            if isinstance(prop, dict) and "default" in prop and prop["default"] is None:
                prop = {**prop, "nullable": True}
            props[name] = prop
        if isinstance(schema.get("items"), dict):
            schema["items"] = _mark_nullable(schema["items"])
        return schema
    if not attrs.has(type(schema)):
        return schema
    changes = {}
    props = getattr(schema, "properties", None)
    if props:
        new = {}
        for name, prop in props.items():
            prop = _mark_nullable(prop)
            if attrs.has(type(prop)) and hasattr(prop, "nullable") and \
                    getattr(prop, "default", "unset") is None:
                prop = attrs.evolve(prop, nullable=True)
            elif isinstance(prop, dict) and "default" in prop and prop["default"] is None:
                prop = {**prop, "nullable": True}
            new[name] = prop
        changes["properties"] = new
    items = getattr(schema, "items", None)
    if items is not None and not isinstance(items, list):
        changes["items"] = _mark_nullable(items)
    return attrs.evolve(schema, **changes) if changes else schema


def _with_nullable_content(part):
    """A response or request body (a dict or BentoML's attrs objects) with nullable marks."""
    import attrs

    def media(m):
        if isinstance(m, dict) and m.get("schema") is not None:
            return {**m, "schema": _mark_nullable(m["schema"])}
        if attrs.has(type(m)) and getattr(m, "schema", None) is not None:
            return attrs.evolve(m, schema=_mark_nullable(m.schema))
        return m

    if isinstance(part, dict) and part.get("content"):
        return {**part, "content": {k: media(m) for k, m in part["content"].items()}}
    if attrs.has(type(part)) and getattr(part, "content", None):
        return attrs.evolve(part, content={k: media(m) for k, m in part.content.items()})
    return part


def describe_errors_in_openapi() -> None:
    """Make the OpenAPI spec say what the service answers: BentoML declares a 400 `detail` as
    a string while it sends pydantic's list of errors, and does not declare the 401, 413, 415
    and 503 the guards and the live path answer. Both are corrected where BentoML builds the
    spec (tests/serving/test_service.py runs schemathesis against it, so a BentoML change that
    breaks this fails the suite)."""
    from _bentoml_sdk.service import openapi
    from bentoml._internal.service.openapi.specification import (
        MediaType,
        Reference,
        Response,
        Schema,
    )

    original = openapi.exception_components_schema
    if getattr(original, "__nba_fixed__", False):
        return
    detail = Schema(title="Error Detail", anyOf=[
        Schema(type="string"), Schema(type="array", items=Schema(type="object"))])

    def fixed() -> dict:
        comps = original()
        for schema in comps.values():
            schema.properties["detail"] = detail
        comps["ServiceError"] = Schema(
            title="ServiceError", type="object", required=["error"],
            description="Refused by a guard or a dependency (API key, size, content type, "
                        "online store)",
            properties={"error": Schema(type="string"), "ready": Schema(type="boolean"),
                        "reason": Schema(type="string")})
        return comps

    fixed.__nba_fixed__ = True  # type: ignore[attr-defined]
    openapi.exception_components_schema = fixed
    components = openapi.generate_service_components

    def with_nullables(svc) -> dict:
        """BentoML turns pydantic's `X | None` into plain X: say `nullable` where the field's
        default is None (OpenAPI 3.0's way), in requests and responses alike."""
        out = components(svc)
        out["schemas"] = {k: _mark_nullable(v) for k, v in out["schemas"].items()}
        return out

    openapi.generate_service_components = with_nullables
    routes = openapi._get_api_routes

    def routes_with_nullables(svc) -> dict:
        """The same for the request and response schemas BentoML writes inline per route; a
        body is required."""
        import attrs

        out = routes(svc)
        for item in out.values():
            op = getattr(item, "post", None)
            if not isinstance(op, dict):
                continue
            for code, resp in list((op.get("responses") or {}).items()):
                op["responses"][code] = _with_nullable_content(resp)
            if op.get("requestBody") is not None:
                body = _with_nullable_content(op["requestBody"])
                op["requestBody"] = ({**body, "required": True} if isinstance(body, dict)
                                     else attrs.evolve(body, required=True))
        return out

    openapi._get_api_routes = routes_with_nullables
    for code, what in ((401, "Missing or invalid API key"), (413, "Request body too large"),
                       (415, "Not JSON"),
                       (503, "Overloaded (retry after Retry-After) or online store unavailable")):
        openapi.error_responses[code] = Response(description=what, content={
            "application/json": MediaType(schema=Reference("#/components/schemas/ServiceError"))})
