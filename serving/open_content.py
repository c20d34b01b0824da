"""`GET /open/{decision_id}` in the engine: find the decision, read the customer's features and
scores now, render the email's blocks (serving/policy/open_content.py) and record the open.

The lookup is one keyed read in the decision index (serving/decision_index.py) behind its own
breaker and the read budget; the features come through the engine's budgeted, breaker-guarded
read (a store outage renders the blocks as sent, flagged `degraded`). The open is recorded as an
`email_open` event through the live path, off the request: `OpenRecorder` batches opens and
ingests them from a background thread every `FLUSH_S` (the feature update costs several ms, the
open must not wait for it). Its event id is derived from the decision id, so a mail client
fetching the email five times records one open.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from serving.policy.inputs import PolicyInputs
from serving.policy.open_content import OpenContent, render
from serving.policy.product_events import LEAD_REASON, ProductTrigger
from serving.schemas import Action

if TYPE_CHECKING:
    from serving.engine import DecisionEngine

log = logging.getLogger(__name__)
DECISION_ID = re.compile(r"^[0-9a-f]{32}$")  # uuid4().hex, as the engine makes them
FLUSH_S = 0.25
MAX_PENDING = 10_000  # opens waiting for the live path (beyond: dropped, counted)


class UnknownDecision(LookupError):
    """No email decision with this id (never made, no email, or older than the index keeps)."""


def open_event(decision_id: str, customer_id: str, at: datetime) -> dict[str, Any]:
    return {"event_id": f"open-{decision_id}", "customer_id": customer_id,
            "event_type": "email_open", "timestamp": at.isoformat(),
            "campaign_id": decision_id}


class OpenRecorder:
    """Records opens through the live path in batches, from one background thread."""

    def __init__(self, engine: DecisionEngine, flush_s: float = FLUSH_S) -> None:
        self.engine, self.flush_s = engine, flush_s
        self._pending: dict[str, dict[str, Any]] = {}  # by event id: repeats collapse
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def add(self, event: dict[str, Any]) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING and event["event_id"] not in self._pending:
                self.dropped += 1
                return
            self._pending.setdefault(event["event_id"], event)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="open-recorder", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Ingest the pending opens now; returns how many were handed to the live path."""
        from features.store import StoreUnavailable

        with self._lock:
            batch, self._pending = list(self._pending.values()), {}
        if not batch:
            return 0
        try:
            self.engine.ingest(batch)
        except StoreUnavailable as exc:  # kept in the live log for replay by the engine
            log.warning("opens not recorded live (%d kept for replay): %s", len(batch), exc)
        except Exception:  # a bug must not kill the recorder thread
            log.exception("recording %d opens failed", len(batch))
        return len(batch)


def lookup(engine: DecisionEngine, decision_id: str) -> dict[str, Any]:
    """The decision's compact record; UnknownDecision, or StoreUnavailable (index down)."""
    stored = engine.index_breaker.call(engine.index.get, decision_id)
    if stored is None:
        raise UnknownDecision(f"no email decision {decision_id} (unknown, no email, or older "
                              "than the index keeps)")
    return stored


def open_content(engine: DecisionEngine, decision_id: str, now: datetime,
                 recorder: OpenRecorder | None = None) -> OpenContent:
    """The email's blocks at `now`, and the open recorded (when a recorder is given)."""
    stored = lookup(engine, decision_id)
    cid = stored["customer_id"]
    engine.catalog = engine.products.current()
    rows, degraded = engine.read_features([cid], [now])
    scores = engine.scorer.score(rows)[0]
    action = Action(stored["action"])
    lead = next((p for p, why in stored["recs"] if why == LEAD_REASON.get(action)), None)
    trigger = ProductTrigger(action.value, lead) if lead is not None else None
    inp = PolicyInputs(cid, now, rows[0], scores, degraded=degraded, product_trigger=trigger)
    content = render(decision_id, stored, inp, engine.config, engine.catalog)
    if recorder is not None:
        recorder.add(open_event(decision_id, cid, now))
    return content


# --- the HTTP route: a FastAPI app mounted on the BentoML service at /open ---------------------
ERROR_DOC = {"content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}


def make_open_app():
    """`GET /open/{decision_id}[?now=ISO]`: BentoML routes are POST only, so the GET a mail
    client makes is a FastAPI app mounted on the service (same guards: API key, load shedding).
    The worker's engine and recorder are found in `serving.guards.STATE`."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from features.store import StoreUnavailable
    from serving import guards

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def error(status: int, message: str, retry: str | None = None) -> JSONResponse:
        headers = {"Retry-After": retry} if retry else None
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.get("/{decision_id}", response_model=OpenContent, responses={
        400: {"description": "Malformed decision id or time", **ERROR_DOC},
        404: {"description": "No email decision with this id", **ERROR_DOC},
        503: {"description": "Decision index unavailable (retry after Retry-After)",
              **ERROR_DOC}})
    def open_email(decision_id: str, now: str | None = None):
        """The email's dynamic blocks as they should be now (recommendations re-ranked with
        the customer's latest events, bought or out-of-stock items removed, the offer with its
        countdown or removed when expired, the headline for the current intent tier); records
        the open."""
        if not DECISION_ID.match(decision_id):
            return error(400, "decision_id: expected the 32 hex digits of a decision_id")
        try:
            at = parse_now(now)
        except ValueError as exc:
            return error(400, f"now: {exc}")
        engine = guards.STATE.engine
        if engine is None:
            return error(503, "starting", "1")
        try:
            return open_content(engine, decision_id, at, guards.STATE.recorder)
        except UnknownDecision as exc:
            return error(404, str(exc))
        except StoreUnavailable:
            return error(503, "decision index unavailable; retry", "10")

    return app


def parse_now(text: str | None) -> datetime:
    """The open's time: the server clock, or an ISO 8601 time (1900..2199) for replays."""
    from datetime import UTC

    from serving.schemas import _in_range

    if text is None:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an ISO 8601 date-time, got {text[:40]!r}") from None
    _in_range(t)
    return t if t.tzinfo else t.replace(tzinfo=UTC)
