"""The BentoML service: next-best-action decisions and live events over HTTP.

Thin on purpose: request/response models live in `serving.schemas`, all logic in
`serving.engine.DecisionEngine` (loaded once per worker). Start it with `nba serve`.
"""

from __future__ import annotations

import gc
import hmac
from datetime import datetime
from typing import Any

import bentoml
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from features.settings import Settings
from serving.schemas import BatchRequest, Decision, DecisionRequest, TriggerEvent

OPEN_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/docs", "/docs.json", "/")


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    decide: bool = Field(False, description="Also decide for the customers these events touch")


class EventsResponse(BaseModel):
    accepted: int
    rejected: int
    rejected_reasons: list[str]
    decisions: list[Decision] = Field(default_factory=list)
    error: str | None = None


class ApiKeyMiddleware:
    """Require `X-API-Key` (or `Authorization: Bearer`) when NBA_API_KEY is set (plain ASGI,
    so requests pay no extra task or body buffering)."""

    def __init__(self, app) -> None:
        self.app = app
        self.key = Settings.from_env().api_key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if self.key and scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            headers = dict(scope["headers"])
            given = headers.get(b"x-api-key") or headers.get(
                b"authorization", b"").removeprefix(b"Bearer ").strip()
            if not hmac.compare_digest(given, self.key):
                response = JSONResponse(
                    {"error": "missing or invalid API key (X-API-Key header)"}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# One decision thread per worker: a decision is a few ms of CPU, and serial calls avoid contention
# on the online-store connection; scale with workers (`bentoml serve --workers N`) instead.
# Per-request access logs are off: every decision is already in the decision log.
@bentoml.service(name="next_best_action", traffic={"timeout": 30}, threads=1,
                 logging={"access": {"enabled": False}})
class NextBestAction:
    def __init__(self) -> None:
        from features.store import StoreUnavailable
        from serving.engine import DecisionEngine

        self.settings = Settings.from_env()
        self._unavailable = StoreUnavailable
        self.engine = DecisionEngine(self.settings)
        gc.freeze()  # models, catalog and registry are long-lived: keep them out of GC scans

    def __is_ready__(self) -> bool:
        return self.engine.is_ready()

    @bentoml.api(route="/next_best_action", input_spec=DecisionRequest)
    def next_best_action(self, customer_id: str, trigger: TriggerEvent | None = None,
                         now: datetime | None = None, consent: bool | None = None) -> Decision:
        """The next best email for one customer (optionally for a trigger event)."""
        return self.engine.decide(DecisionRequest(customer_id=customer_id, trigger=trigger,
                                                  now=now, consent=consent))

    @bentoml.api(route="/next_best_action/batch", input_spec=BatchRequest)
    def next_best_action_batch(self, requests: list[DecisionRequest]) -> list[Decision]:
        """Decisions for many customers in one call."""
        return self.engine.decide_many(requests)

    @bentoml.api(route="/events", input_spec=EventsRequest)
    def events(self, events: list[dict[str, Any]], ctx: bentoml.Context,
               decide: bool = False) -> EventsResponse:
        """Live events: update online features, optionally decide for the touched customers.
        503 with `error` when the online store is down (accepted events stay in the log)."""
        try:
            result, decisions = self.engine.ingest(events, decide_triggers=decide)
        except self._unavailable as exc:
            ctx.response.status_code = 503
            return EventsResponse(accepted=0, rejected=0, rejected_reasons=[], error=str(exc))
        return EventsResponse(accepted=result.accepted, rejected=result.rejected,
                              rejected_reasons=result.reasons, decisions=decisions)


NextBestAction.add_asgi_middleware(ApiKeyMiddleware)
