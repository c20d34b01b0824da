"""Business events in the engine: product changes -> shared product state -> the catalog every
worker decides with -> triggers -> audiences decided through the policy.

`ProductSync` keeps a worker's catalog in step with the shared product state (prices and stock
from product events, checked at most once a second). `apply_product_events` is the one path of
`POST /product_events` and `nba product-events ingest FILE`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from features.online.product_events import (
    ProductState,
    Trigger,
    detect_triggers,
    interest_events,
    interested_customers,
    open_product_state,
    validate_product_events,
)
from serving.policy.inputs import Catalog
from serving.policy.product_events import ProductTrigger
from serving.schemas import Decision, DecisionRequest

if TYPE_CHECKING:
    from serving.engine import DecisionEngine

log = logging.getLogger(__name__)
REFRESH_S = 1.0  # a worker sees another worker's product changes within this long
COOLDOWN_S = 10.0  # after a failure to read the product state, keep the last catalog this long
CHUNK = 1_000


def with_state(base: Catalog, states: dict[str, ProductState]) -> Catalog:
    """The catalog with the product events' prices and stock applied (unknown products
    ignored: the catalog file defines what can be recommended)."""
    products = dict(base.products)
    for pid, st in states.items():
        prod = products.get(pid)
        if prod is None:
            continue
        products[pid] = replace(prod, price=prod.price if st.price is None else st.price,
                                in_stock=prod.in_stock if st.in_stock is None else st.in_stock)
    popular = [p for p in base.popular if products[p].in_stock]
    back = sorted((p for p in products.values() if p.in_stock and not base.products[
        p.product_id].in_stock), key=lambda p: (-p.popularity, p.product_id))
    return Catalog(products, popular + [p.product_id for p in back])


class ProductSync:
    """A worker's view of the product state: the base catalog plus product events."""

    def __init__(self, settings, base: Catalog, timeout: float | None = None) -> None:
        self.settings, self.base, self.timeout = settings, base, timeout
        self.catalog = base
        self._store = None
        self._version = -1
        self._checked = 0.0

    @property
    def store(self):
        if self._store is None:
            self._store = open_product_state(self.settings, self.timeout)
        return self._store

    def current(self, force: bool = False) -> Catalog:
        """The catalog with the latest product state (the last known one if the store
        fails: a price change is not worth a failed decision)."""
        from features.online.store import store_errors

        if not force and time.monotonic() - self._checked < REFRESH_S:
            return self.catalog
        self._checked = time.monotonic()
        try:
            version = self.store.version()
            if version != self._version:
                self.catalog = with_state(self.base, self.store.get_all())
                self._version = version
        except store_errors() as exc:  # skip the store for a cool-down, like the breakers
            self._checked = time.monotonic() + COOLDOWN_S - REFRESH_S
            log.warning("product state unavailable, keeping the last catalog: %s", exc)
        return self.catalog

    def rebase(self, base: Catalog) -> Catalog:
        """A new base catalog (popularity read from the online store), state re-applied."""
        self.base, self._version = base, -1
        return self.current(force=True)

    def states_before(self, product_ids: set[str]) -> dict[str, ProductState]:
        """The state each product had before new events: the store, else the catalog."""
        stored = self.store.get_all()
        out = {}
        for pid in product_ids:
            if pid in stored:
                out[pid] = stored[pid]
            elif (prod := self.base.get(pid)) is not None:
                out[pid] = ProductState(prod.price or None, prod.in_stock)
        return out

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@dataclass
class ProductEventsResult:
    accepted: int = 0
    rejected: int = 0
    rejected_reasons: list[str] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    audience: int = 0  # customers interested in a triggered product
    decisions: list[Decision] = field(default_factory=list)


def audience_requests(triggers: list[Trigger], events: pd.DataFrame, window: pd.Timedelta,
                      limit: int | None = None
                      ) -> tuple[list[DecisionRequest], list[ProductTrigger], int]:
    """One decision request per interested customer (a customer interested in several
    triggered products gets the one they showed interest in last), most recent first."""
    parts = []
    for t in triggers:
        who = interested_customers(events, [t.product_id], t.at, window)
        if len(who):
            parts.append(who.assign(kind=t.kind, price=t.price, old_price=t.old_price, at=t.at))
    if not parts:
        return [], [], 0
    aud = pd.concat(parts).sort_values("last_interest_ts", ascending=False)
    aud = aud.drop_duplicates("customer_id")
    size = len(aud)
    if limit is not None:
        aud = aud.head(limit)
    reqs, trigs = [], []
    for r in aud.itertuples(index=False):
        reqs.append(DecisionRequest(customer_id=r.customer_id, now=r.at.to_pydatetime()))
        trigs.append(ProductTrigger(r.kind, r.product_id, r.price, r.old_price, r.interest))
    return reqs, trigs, size


def apply_product_events(engine: DecisionEngine, rows: list[Any], decide: bool,
                         limit: int | None = None, now: pd.Timestamp | None = None
                         ) -> ProductEventsResult:
    """Validate product events, update the shared product state, detect triggers and (when
    `decide`) decide for their audiences through the policy, at most `limit` customers.
    Store failures raise StoreUnavailable (the caller answers 503 / one-line error)."""
    from features.online.store import StoreUnavailable, store_errors

    cfg = engine.config
    changes, rejects = validate_product_events(rows, now=now)
    result = ProductEventsResult(accepted=len(changes), rejected=len(rejects),
                                 rejected_reasons=[f"row {i}: {why}" for i, why in rejects])
    if not changes:
        return result
    sync = engine.products
    try:
        before = sync.states_before({c.product_id for c in changes})
        triggers, after = detect_triggers(changes, before, cfg.price_drop_min)
        sync.store.put({c.product_id: after[c.product_id] for c in changes})
        engine.catalog = sync.current(force=True)
    except store_errors() as exc:
        raise StoreUnavailable(f"product state unavailable ({type(exc).__name__})") from None
    result.triggers = [{"kind": t.kind, "product_id": t.product_id, "at": t.at.isoformat(),
                        "price": t.price, "old_price": t.old_price, "drop": round(t.drop, 4)}
                       for t in triggers]
    if not decide or not triggers:
        return result
    window = pd.Timedelta(days=cfg.product_interest_days)
    try:
        events = interest_events(engine.live.history, {t.product_id for t in triggers},
                                 min(t.at for t in triggers) - window)
    except store_errors() as exc:
        raise StoreUnavailable(f"event history unavailable ({type(exc).__name__})") from None
    reqs, trigs, result.audience = audience_requests(triggers, events, window, limit)
    for i in range(0, len(reqs), CHUNK):
        result.decisions += engine.decide_many(reqs[i:i + CHUNK], trigs[i:i + CHUNK])
    return result


MAX_PRODUCT_EVENTS = 1_000  # per POST /product_events call (docs/operations.md)


class ProductEventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_PRODUCT_EVENTS,
                                         description="{product_id, event_type: price_change | "
                                         "stock_change, timestamp, price | in_stock}")
    decide: StrictBool = Field(False, description="Also decide for the audiences of the "
                               "triggers (at most max_product_audience customers)")


class TriggerInfo(BaseModel):
    kind: str
    product_id: str
    at: str
    price: float | None = None
    old_price: float | None = None
    drop: float = 0.0


class ProductEventsResponse(BaseModel):
    accepted: int = 0
    rejected: int = 0
    rejected_reasons: list[str] = Field(default_factory=list)
    triggers: list[TriggerInfo] = Field(default_factory=list)
    audience: int = Field(0, description="Customers interested in a triggered product (those "
                          "beyond the per-call limit are left to `nba product-events ingest`)")
    decisions: list[Decision] = Field(default_factory=list)
    error: str | None = None

    @classmethod
    def of(cls, r: ProductEventsResult) -> ProductEventsResponse:
        return cls(accepted=r.accepted, rejected=r.rejected, rejected_reasons=r.rejected_reasons,
                   triggers=[TriggerInfo(**t) for t in r.triggers], audience=r.audience,
                   decisions=r.decisions)
