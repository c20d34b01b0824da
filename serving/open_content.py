"""`GET /open/{decision_id}` in the engine: find the decision, read the customer's features and
scores now, render the email's blocks (serving/policy/open_content.py) and record the open.

The lookup is one keyed read in the decision index (serving/decision_index.py) behind its own
breaker and the read budget; the features come through the engine's budgeted, breaker-guarded
read (a store outage renders the blocks as sent, flagged `degraded`). The open is recorded off
the request: `OpenRecorder` hands each render to a child process that batches them every
`FLUSH_S`, appends what was shown to the open log (`DATA/opens/opens-YYYY-MM-DD.jsonl`, one
line per fetch, like the decision log) and ingests an `email_open` event through the live path
(the feature update costs tens of ms of pandas per batch: the open must not wait for it nor
share the worker's GIL). The event id is derived from the decision id, so a mail client
fetching the email five times records one open (and five lines of what it showed).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Path, Query

from serving.policy.inputs import PolicyInputs, Scores
from serving.policy.open_content import OpenContent, render
from serving.policy.product_events import LEAD_REASON, ProductTrigger
from serving.schemas import TIME_DOC, YEAR_PATTERN, Action

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


def open_record(content: OpenContent) -> dict[str, Any]:
    """One line of the open log: what the open showed (decision, time, headline, offer and its
    countdown, products and those removed, scores, reasons, whether degraded)."""
    return content.model_dump(mode="json")


class OpenRecorder:
    """Records opens from a child process: the feature update is pandas work that would hold
    this worker's GIL for tens of ms per batch and double the opens' latency (measured: p50
    5 -> 11 ms, p99 20 -> 48 ms with a thread). The worker only puts the event and what was
    shown on a queue; the child batches what arrived within `FLUSH_S` and, at a lower CPU
    priority, appends what was shown to the open log, ingests the events (`LiveUpdater`, the
    `nba events ingest` path), and keeps them in the live log for replay when the store is
    down."""

    def __init__(self, settings, flush_s: float = FLUSH_S) -> None:
        self.settings, self.flush_s = settings, flush_s
        self._queue = None
        self._process = None
        self.dropped = 0

    def add(self, event: dict[str, Any], shown: dict[str, Any]) -> None:
        """Queue an open: its `email_open` event and its open-log line."""
        import queue

        if self._process is None or not self._process.is_alive():
            self.start()
        try:
            self._queue.put_nowait((event, shown))
        except queue.Full:
            self.dropped += 1

    def start(self) -> None:
        """Start the recorder process (the service does at start-up: its imports take seconds
        of CPU that an open should not wait behind)."""
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._queue = ctx.Queue(MAX_PENDING)
        self._process = ctx.Process(target=record_opens, name="nba-open-recorder", daemon=True,
                                    args=(self.settings, self._queue, self.flush_s))
        self._process.start()

    def close(self) -> None:
        if self._process is not None:
            self._queue.put(None)
            self._process.join(timeout=10)


def record_opens(settings, opens, flush_s: float = FLUSH_S, nice: int = 5) -> None:
    """The recorder process: batches of (event, shown) -> the open log and the live path, until
    told to stop (None) or its parent is gone."""
    import os

    from features.online.live import LiveUpdater
    from features.online.store import store_errors
    from serving.decision_log import daily_log

    for name in ("feast", "urllib3", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.nice(nice)  # decisions first: opens are recorded when a core is free
    parent = os.getppid()
    shown_log = daily_log(settings, "opens")
    try:  # set up now (seconds of imports and connections), not at the first open
        updater = LiveUpdater(settings)
    except store_errors() as exc:
        log.warning("open recorder: live path unavailable at start (%s); retrying per batch", exc)
        updater = None
    while os.getppid() == parent:
        batch, stop = _next_batch(opens, flush_s)
        if batch:
            updater = _record(settings, batch, shown_log, updater)
        if stop:
            break
        if batch:
            time.sleep(flush_s)  # let opens accumulate: one feature update per batch
    shown_log.close()


def _next_batch(opens, flush_s: float) -> tuple[list[tuple[dict, dict]], bool]:
    """The opens waiting (the first within `flush_s`), and whether the stop sign (None) came."""
    import queue

    batch: list[tuple[dict, dict]] = []
    try:
        item = opens.get(timeout=flush_s)
        while item is not None:
            batch.append(item)
            item = opens.get_nowait()
    except queue.Empty:
        return batch, False
    return batch, True


def _record(settings, batch: list[tuple[dict, dict]], shown_log, updater):
    """One batch: every render to the open log, one `email_open` per decision to the live path
    (kept for replay when the store is down). Returns the updater (None after a failure)."""
    from datetime import UTC

    import pandas as pd

    from features.online.live import LiveUpdater
    from features.online.store import store_errors

    try:
        shown_log.write([shown for _, shown in batch], datetime.now(UTC))
    except OSError as exc:  # a full disk must not stop the opens reaching the features
        log.warning("open log not written (%d opens): %s", len(batch), exc)
    events: dict[str, dict] = {}
    for event, _ in batch:
        events.setdefault(event["event_id"], event)  # repeated fetches: one open
    frame = pd.DataFrame(list(events.values()))
    try:
        updater = updater or LiveUpdater(settings)
        updater.ingest(frame)
    except store_errors() as exc:
        log.warning("opens not recorded live (%d kept for replay): %s", len(events), exc)
        LiveUpdater.rejects_only(settings).keep(frame)
        updater = None
    return updater


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
    scores = Scores() if degraded else engine.scorer.score(rows)[0]  # outage: blocks as sent
    action = Action(stored["action"])
    lead = next((p for p, why in stored["recs"] if why == LEAD_REASON.get(action)), None)
    trigger = ProductTrigger(action.value, lead) if lead is not None else None
    inp = PolicyInputs(cid, now, rows[0], scores, degraded=degraded, product_trigger=trigger)
    content = render(decision_id, stored, inp, engine.config, engine.catalog)
    if recorder is not None:
        recorder.add(open_event(decision_id, cid, now), open_record(content))
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

    from features.online.store import StoreUnavailable
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
    def open_email(
        decision_id: Annotated[str, Path(json_schema_extra={"pattern": DECISION_ID.pattern})],
        now: Annotated[str | None, Query(description=f"Open time (default: the server clock); "
                                         f"{TIME_DOC}", json_schema_extra={
                                             "format": "date-time", "pattern": YEAR_PATTERN})
                       ] = None):
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
