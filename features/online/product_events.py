"""Business events about products (price changes, stock changes): validation, the shared
product state, the triggers they raise and the audience a trigger reaches.

A product event is `{product_id, event_type, timestamp, price | in_stock}`:

- `price_change` with the new `price` (> 0);
- `stock_change` with `in_stock` (true / false).

The latest state of every changed product is kept in a small store shared by every process
(SQLite next to the online store, a Redis hash with a Redis online store), so API workers and
batch jobs see the same prices and stock. A change is compared with the state before it (the
store, else the catalog): a price drop of at least `min_drop` of the old price raises a
`price_drop` trigger, a product going from out of stock to in stock a `back_in_stock` one.
The audience of a trigger: customers who viewed or carted the product within a window and did
not buy it since (`interested_customers`, a pure function over an event log).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import pandas as pd

from features import schema as s

PRICE_CHANGE = "price_change"
STOCK_CHANGE = "stock_change"
PRODUCT_EVENT_TYPES = (PRICE_CHANGE, STOCK_CHANGE)
PRICE_DROP = "price_drop"
BACK_IN_STOCK = "back_in_stock"
INTEREST_EVENTS = (s.EventType.PRODUCT_VIEW, s.EventType.ADD_TO_CART)
MAX_ID = 200


@dataclass(frozen=True)
class ProductChange:
    """One valid product event."""

    product_id: str
    event_type: str
    timestamp: pd.Timestamp
    price: float | None = None
    in_stock: bool | None = None


@dataclass(frozen=True)
class ProductState:
    """A product's latest known price and stock (None: unknown) and when it changed."""

    price: float | None
    in_stock: bool | None
    ts: float = 0.0


@dataclass(frozen=True)
class Trigger:
    """A business event worth telling interested customers about."""

    kind: str  # PRICE_DROP or BACK_IN_STOCK
    product_id: str
    at: pd.Timestamp
    price: float | None
    old_price: float | None = None

    @property
    def drop(self) -> float:
        """The price drop as a share of the old price (0 for a restock)."""
        if self.price is None or not self.old_price:
            return 0.0
        return max(0.0, 1 - self.price / self.old_price)


def _reason(row: Mapping[str, Any], now: pd.Timestamp) -> str | ProductChange:
    """A ProductChange, or why the row is refused (one short line naming the field)."""
    pid = row.get(s.PRODUCT_ID)
    if not isinstance(pid, str) or not pid.strip():
        return "product_id: missing" if pid is None else "product_id: expected non-blank text"
    if len(pid) > MAX_ID:
        return f"product_id: longer than {MAX_ID} characters"
    etype = row.get(s.EVENT_TYPE)
    if etype not in PRODUCT_EVENT_TYPES:
        return ("event_type: missing" if etype is None else
                f"event_type: unknown {str(etype)[:40]!r}; expected price_change or stock_change")
    raw_ts = row.get(s.EVENT_TS)
    if isinstance(raw_ts, pd.Timestamp | datetime):  # a file reader parsed it already
        raw_ts = raw_ts.isoformat()
    if raw_ts is None:
        ts = now
    elif not isinstance(raw_ts, str):
        return "timestamp: expected an ISO 8601 string, e.g. 2026-07-04T12:00:00Z"
    else:
        try:
            ts = pd.Timestamp(raw_ts)
        except (ValueError, TypeError):
            return f"timestamp: cannot parse {raw_ts[:40]!r}"
        if ts is pd.NaT or not 1900 <= ts.year < 2200:
            return f"timestamp: out of range {raw_ts[:40]!r}"
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        if ts > now + pd.Timedelta("1h"):
            return f"timestamp: in the future ({ts.isoformat()})"
    extra = sorted(set(row) - {s.PRODUCT_ID, s.EVENT_TYPE, s.EVENT_TS, s.PRICE, s.IN_STOCK})
    if extra:
        return f"{extra[0]}: unknown field"
    pid = pid.strip()
    if etype == PRICE_CHANGE:
        price = row.get(s.PRICE)
        if isinstance(price, bool) or not isinstance(price, int | float):
            return "price: missing" if price is None else "price: expected a number"
        if not math.isfinite(price) or price <= 0 or price > 1e9:
            return f"price: expected 0 < price <= 1e9, got {price!r}"
        return ProductChange(pid, etype, ts, price=float(price))
    stock = row.get(s.IN_STOCK)
    stock = bool(stock) if isinstance(stock, np.bool_) else stock
    if not isinstance(stock, bool):
        return "in_stock: missing" if stock is None else "in_stock: expected true or false"
    return ProductChange(pid, etype, ts, in_stock=stock)


def validate_product_events(rows: Iterable[Any], now: pd.Timestamp | None = None
                            ) -> tuple[list[ProductChange], list[tuple[int, str]]]:
    """Valid changes (in time order) and the refused rows as (0-based index, reason)."""
    now = now or pd.Timestamp.now(tz="UTC")
    valid: list[ProductChange] = []
    rejects: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        out = _reason(row, now) if isinstance(row, Mapping) else "row: expected an object"
        if isinstance(out, str):
            rejects.append((i, out))
        else:
            valid.append(out)
    valid.sort(key=lambda c: c.timestamp)
    return valid, rejects


def detect_triggers(changes: list[ProductChange], before: Mapping[str, ProductState],
                    min_drop: float) -> tuple[list[Trigger], dict[str, ProductState]]:
    """Triggers raised by `changes` (time order) against the states `before` them, and the
    states after. A change older than the product's known state is ignored (stale)."""
    state = dict(before)
    triggers: list[Trigger] = []
    for c in changes:
        prev = state.get(c.product_id, ProductState(None, None))
        ts = c.timestamp.timestamp()
        if ts < prev.ts:
            continue
        if c.event_type == PRICE_CHANGE:
            if prev.price and c.price is not None and c.price <= prev.price * (1 - min_drop):
                triggers.append(Trigger(PRICE_DROP, c.product_id, c.timestamp, c.price,
                                        prev.price))
            state[c.product_id] = ProductState(c.price, prev.in_stock, ts)
        else:
            if c.in_stock and prev.in_stock is False:
                triggers.append(Trigger(BACK_IN_STOCK, c.product_id, c.timestamp, prev.price))
            state[c.product_id] = ProductState(prev.price, c.in_stock, ts)
    return triggers, state


def interested_customers(events: pd.DataFrame, product_ids: Iterable[str],
                         until: pd.Timestamp, window: pd.Timedelta) -> pd.DataFrame:
    """Customers who viewed or carted each product in (until - window, until] and have not
    bought it since their last interest: columns customer_id, product_id, interest
    (`cart` when carted, else `view`), last_interest_ts; most recent interest first."""
    cols = [s.CUSTOMER_ID, s.PRODUCT_ID, "interest", "last_interest_ts"]
    wanted = set(map(str, product_ids))
    if events.empty or not wanted:
        return pd.DataFrame(columns=cols)
    ev = events[events[s.PRODUCT_ID].astype(str).isin(wanted)
                & (events[s.EVENT_TS] <= until)]
    types = ev[s.EVENT_TYPE].astype(str)
    seen = ev[types.isin([str(t) for t in INTEREST_EVENTS])
              & (ev[s.EVENT_TS] > until - window)]
    if seen.empty:
        return pd.DataFrame(columns=cols)
    key = [s.CUSTOMER_ID, s.PRODUCT_ID]
    carted = seen[s.EVENT_TYPE].astype(str) == str(s.EventType.ADD_TO_CART)
    g = seen.assign(cart=carted).groupby(key, observed=True)
    interest = g.agg(last_interest_ts=(s.EVENT_TS, "max"), cart=("cart", "any")).reset_index()
    bought = ev[types == str(s.EventType.PURCHASE)].groupby(key, observed=True)[s.EVENT_TS].max()
    interest = interest.merge(bought.rename("bought_ts").reset_index(), on=key, how="left")
    keep = interest["bought_ts"].isna() | (interest["bought_ts"] < interest["last_interest_ts"])
    out = interest[keep].assign(interest=np.where(interest.loc[keep, "cart"], "cart", "view"))
    out = out.astype({s.CUSTOMER_ID: str, s.PRODUCT_ID: str})
    return out.sort_values("last_interest_ts", ascending=False)[cols].reset_index(drop=True)


# --- the shared product state -----------------------------------------------------------------
class ProductStateStore(Protocol):
    def get_all(self) -> dict[str, ProductState]: ...
    def put(self, states: Mapping[str, ProductState]) -> None: ...
    def version(self) -> int: ...
    def close(self) -> None: ...


def _encode(st: ProductState) -> bytes:
    return orjson.dumps([st.price, st.in_stock, st.ts])


def _decode(blob: bytes | str) -> ProductState:
    price, stock, ts = orjson.loads(blob)
    return ProductState(price, stock, ts)


class SqliteProductState:
    """The product state in a local SQLite file (embedded default); `version` counts writes so
    readers refresh only after a change."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS products (product_id TEXT PRIMARY KEY, "
                          "state BLOB)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS version (id INTEGER PRIMARY KEY, n INTEGER)")

    def get_all(self) -> dict[str, ProductState]:
        return {p: _decode(b) for p, b in self.conn.execute("SELECT product_id, state FROM "
                                                            "products")}

    def put(self, states: Mapping[str, ProductState]) -> None:
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO products VALUES (?, ?)",
                                  [(p, _encode(st)) for p, st in states.items()])
            self.conn.execute("INSERT INTO version VALUES (1, 1) ON CONFLICT(id) DO UPDATE SET "
                              "n = n + 1")

    def version(self) -> int:
        row = self.conn.execute("SELECT n FROM version WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.conn.close()


class RedisProductState:
    """The product state in Redis: a hash product_id -> state and a write counter, updated in
    one transaction. On a Redis Cluster both keys carry the namespace as a hash tag
    (`nba:{ns}:...`) so they share a slot, as a cluster transaction requires."""

    def __init__(self, url: str, namespace: str, timeout: float | None = None) -> None:
        from redis.cluster import RedisCluster

        from features.online.store import budgeted_redis

        self.r = budgeted_redis(url, timeout)
        tag = f"{{{namespace}}}" if isinstance(self.r, RedisCluster) else namespace
        self.key = f"nba:{tag}:product_state"
        self.counter = f"nba:{tag}:product_state_version"

    def get_all(self) -> dict[str, ProductState]:
        return {p.decode(): _decode(b) for p, b in self.r.hgetall(self.key).items()}

    def put(self, states: Mapping[str, ProductState]) -> None:
        if not states:
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.key, mapping={p: _encode(st) for p, st in states.items()})
        pipe.incr(self.counter)
        pipe.execute()

    def version(self) -> int:
        return int(self.r.get(self.counter) or 0)

    def clear(self) -> None:
        self.r.delete(self.key, self.counter)

    def close(self) -> None:
        self.r.close()


def open_product_state(settings, timeout: float | None = None) -> ProductStateStore:
    """The product-state store matching the online store setting (like the event history)."""
    if settings.redis_online:
        return RedisProductState(settings.online_store, settings.feast_project, timeout)
    return SqliteProductState(settings.feature_repo_dir / "product_state.db")


def interest_events(history, product_ids: Iterable[str], since: pd.Timestamp) -> pd.DataFrame:
    """Views, cart adds and purchases of `product_ids` since `since` from the live event
    history (every customer's recent events, features/online/history.py): the input of
    `interested_customers`. One indexed scan on SQLite; on Redis a scan of every customer's
    history (a batch cost, bounded by the history's lookback)."""
    from features.online.history import RedisHistory, SqliteHistory, _frame

    wanted = {str(p) for p in product_ids}
    types = {str(t) for t in (*INTEREST_EVENTS, s.EventType.PURCHASE)}
    found: tuple[list[str], list[float], list[list]] = ([], [], [])  # customer, time, payload

    def keep(customer: str, t: float, blob: bytes) -> None:
        p = orjson.loads(blob)  # event_id, event_type, product_id, ...
        if p[1] in types and p[2] in wanted:
            found[0].append(customer)
            found[1].append(t)
            found[2].append(p)

    cutoff = int(since.timestamp())
    if isinstance(history, SqliteHistory):
        ids = sorted(wanted)
        for i in range(0, len(ids), 50):  # a byte search on the payload narrows the scan
            chunk = ids[i:i + 50]
            match = " OR ".join(["instr(payload, ?) > 0"] * len(chunk))
            q = f"SELECT customer_id, ts, payload FROM events WHERE ts >= ? AND ({match})"
            for c, t, blob in history.conn.execute(q, [cutoff, *(orjson.dumps(p)
                                                                for p in chunk)]):
                keep(c, t, blob)
    elif isinstance(history, RedisHistory):
        keys = list(history.r.scan_iter(match=history.prefix + "*", count=1000))
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            pipe = history.r.pipeline(transaction=False)
            for k in chunk:
                pipe.zrangebyscore(k, cutoff, "+inf", withscores=True)
            members = pipe.execute()
            pipe = history.r.pipeline(transaction=False)
            customers = [k.decode()[len(history.prefix):] for k in chunk]
            for c, m in zip(customers, members, strict=True):
                if m:
                    pipe.hmget(history.payloads + c, [e for e, _ in m])
            payloads = iter(pipe.execute())
            for c, m in zip(customers, members, strict=True):
                if m:
                    for (_, t), blob in zip(m, next(payloads), strict=True):
                        if blob is not None:
                            keep(c, t, blob)
    else:
        raise TypeError(f"no product scan for {type(history).__name__}")
    return _frame(*found)
