"""The BentoML service: next-best-action decisions and live events over HTTP.

Thin on purpose: request/response models live in `serving.schemas`, all logic in
`serving.engine.DecisionEngine` (loaded once per worker), the HTTP guards (API key, content
type, body size, readiness with its reason, one-line client-error logs) in `serving.guards`.
Start it with `nba serve`.
"""

from __future__ import annotations

import gc
import sys
from datetime import datetime
from typing import Any

import bentoml
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from features.settings import Settings
from serving import guards
from serving.open_content import make_open_app
from serving.product_events import ProductEventsRequest, ProductEventsResponse
from serving.schemas import BatchRequest, Decision, DecisionRequest, TriggerEvent

MAX_EVENTS = 1_000  # events per /events call (documented in docs/operations.md)
SWITCH_INTERVAL_S = 0.001


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EVENTS)
    decide: StrictBool = Field(False, description="Also decide for the customers these events "
                               "touch")


class EventsResponse(BaseModel):
    accepted: int
    rejected: int
    rejected_reasons: list[str]
    decisions: list[Decision] = Field(default_factory=list)
    error: str | None = None


WORKERS = Settings.from_env().workers


# One decision thread per worker: a decision is a few ms of CPU, and serial calls avoid contention
# on the online-store connection; scale with worker processes (NBA_WORKERS, default 2: one per
# core here, and while one restarts the other answers). Per-request access logs are off: every
# decision is already in the decision log.
@bentoml.service(name="next_best_action", traffic={"timeout": 30}, threads=1, workers=WORKERS,
                 logging={"access": {"enabled": False}})
@bentoml.asgi_app(make_open_app(), path="/open")  # GET /open/{decision_id}
class NextBestAction:
    def __init__(self) -> None:
        from features.online.store import StoreUnavailable
        from serving.engine import DecisionEngine
        from serving.open_content import OpenRecorder

        self.settings = Settings.from_env()
        self._unavailable = StoreUnavailable
        # never fails for an unreachable store or registry: it answers degraded decisions and
        # reports not ready (with the reason) until they are back
        self.engine = DecisionEngine(self.settings)
        guards.STATE.engine = self.engine
        guards.STATE.recorder = OpenRecorder(self.settings)
        guards.STATE.recorder.start()
        # the decision thread would hold the GIL for up to 5 ms slices while the event loop
        # waits to accept, shed or answer: 1 ms slices keep overload answers fast
        sys.setswitchinterval(SWITCH_INTERVAL_S)
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
        """Decisions for many customers in one call (at most 1,000)."""
        return self.engine.decide_many(requests)

    @bentoml.api(route="/events", input_spec=EventsRequest)
    def events(self, events: list[dict[str, Any]], ctx: bentoml.Context,
               decide: bool = False) -> EventsResponse:
        """Live events (at most 1,000 per call): update online features, optionally decide for
        the touched customers. 503 with `error` when the online store is down (accepted events
        are kept in the live log for replay)."""
        try:
            result, decisions = self.engine.ingest(events, decide_triggers=decide)
        except self._unavailable as exc:
            ctx.response.status_code = 503
            ctx.response.headers["Retry-After"] = "10"
            return EventsResponse(accepted=0, rejected=0, rejected_reasons=[], error=str(exc))
        return EventsResponse(accepted=result.accepted, rejected=result.rejected,
                              rejected_reasons=result.reasons, decisions=decisions)

    @bentoml.api(route="/product_events", input_spec=ProductEventsRequest)
    def product_events(self, events: list[dict[str, Any]], ctx: bentoml.Context,
                       decide: bool = False) -> ProductEventsResponse:
        """Price and stock changes (at most 1,000 per call): update the product state every
        worker decides with; a price drop or restock raises a trigger; with `decide`, its
        audience is decided through the policy. 503 with `error` when a store is down."""
        from serving.product_events import apply_product_events

        try:
            result = apply_product_events(self.engine, events, decide,
                                          limit=self.engine.config.max_product_audience)
        except self._unavailable as exc:
            ctx.response.status_code = 503
            ctx.response.headers["Retry-After"] = "10"
            return ProductEventsResponse(error=str(exc))
        return ProductEventsResponse.of(result)


for middleware in guards.MIDDLEWARE:  # the last added runs first
    NextBestAction.add_asgi_middleware(middleware)
guards.quiet_client_errors()
guards.describe_errors_in_openapi()
