"""Recent-event history per customer, the input of live feature updates.

The live path recomputes a customer's features with the same transforms as the offline build,
over that customer's recent events; this store keeps them (the lookback window plus the sticky
signup/unsubscribe events). SQLite next to the online store by default, Redis sorted sets when
the online store is Redis.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import orjson
import pandas as pd

from features import schema as s
from features.transforms import STICKY_EVENTS, epoch_seconds

COLUMNS = (s.EVENT_ID, s.CUSTOMER_ID, s.EVENT_TYPE, s.EVENT_TS, s.PRODUCT_ID, s.CATEGORY,
           s.PRICE, s.QUANTITY, s.CAMPAIGN_ID)
_PAYLOAD = (s.EVENT_ID, s.EVENT_TYPE, s.PRODUCT_ID, s.CATEGORY, s.PRICE, s.QUANTITY,
            s.CAMPAIGN_ID)


class EventHistory(Protocol):
    def append(self, events: pd.DataFrame) -> int: ...
    def recent(self, customer_ids: Iterable[str]) -> pd.DataFrame: ...
    def trim(self, before: pd.Timestamp) -> int: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


def _frame(customers: list[str], ts: Iterable[float], payloads: list[list]) -> pd.DataFrame:
    """Events frame (schema columns) from parallel customer ids, epoch seconds and decoded
    payloads (`_PAYLOAD` order), built column by column."""
    if not payloads:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}).astype(
            {s.EVENT_TS: "datetime64[ns, UTC]", s.PRICE: float, s.QUANTITY: "int64"})
    cols = dict(zip(_PAYLOAD, zip(*payloads, strict=True), strict=True))
    qty = np.array(cols[s.QUANTITY], dtype=np.float64)
    data = {**{c: np.array(v, dtype=object) for c, v in cols.items()
               if c not in (s.PRICE, s.QUANTITY)},
            s.CUSTOMER_ID: np.array(customers, dtype=object),
            s.EVENT_TS: pd.to_datetime(np.asarray(ts, dtype=np.float64).astype(np.int64),
                                       unit="s", utc=True),
            s.PRICE: np.array(cols[s.PRICE], dtype=np.float64),
            s.QUANTITY: np.where(np.isnan(qty), 0, qty).astype(np.int64)}
    return pd.DataFrame({c: data[c] for c in COLUMNS}, copy=False)


def _decode(blobs: list[bytes]) -> list[list]:
    """Stored payloads (JSON arrays) decoded in one call."""
    return orjson.loads(b"[" + b",".join(blobs) + b"]")


def _chunks(events: pd.DataFrame, size: int = 50_000):
    """Bulk writes in bounded pieces (a few million events would not fit as Python objects)."""
    for start in range(0, len(events), size):
        yield events.iloc[start:start + size]


def _values(events: pd.DataFrame, column: str) -> list:
    """A column's values as Python objects, a missing value (or column) None: one `isna`
    instead of pandas' astype / where per column, which was most of a live batch's history
    append (a few ms per call, whatever the batch size)."""
    if column not in events.columns:
        return [None] * len(events)
    col = events[column]
    values = col.tolist()
    # numpy integers and booleans have no missing values (pandas' nullable Int64 and boolean
    # have the same kinds, and do)
    if not (isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub"):
        for i in np.flatnonzero(col.isna().to_numpy()).tolist():
            values[i] = None
    return values


def _records(events: pd.DataFrame) -> tuple[list[str], np.ndarray, list[list]]:
    """Customer ids, epoch seconds and payloads (`_PAYLOAD` order, a missing value None) of
    events, built column by column."""
    cols = [[str(v) for v in events[c].tolist()] if c == s.EVENT_TYPE else _values(events, c)
            for c in _PAYLOAD]
    return (events[s.CUSTOMER_ID].astype(str).tolist(), epoch_seconds(events[s.EVENT_TS]),
            [list(p) for p in zip(*cols, strict=True)])


class SqliteHistory:
    """History in a local SQLite file (embedded default)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, customer_id TEXT, "
            "ts INTEGER, sticky INTEGER, payload BLOB)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS by_customer ON events (customer_id, ts)")

    def append(self, events: pd.DataFrame) -> int:
        for chunk in _chunks(events):
            cust, ts, payload = _records(chunk)
            sticky = chunk[s.EVENT_TYPE].astype(str).isin([str(e) for e in STICKY_EVENTS])
            rows = [(p[0], c, int(t), int(k), orjson.dumps(p))
                    for c, t, p, k in zip(cust, ts, payload, sticky, strict=True)]
            with self.conn:
                self.conn.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?)",
                                      rows)
        return len(events)

    def recent(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        ids = list(dict.fromkeys(customer_ids))
        found: list[tuple] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = ("SELECT customer_id, ts, payload FROM events WHERE customer_id IN "
                 f"({','.join('?' * len(chunk))})")
            found.extend(self.conn.execute(q, chunk))
        if not found:
            return _frame([], [], [])
        customers, ts, blobs = zip(*found, strict=True)
        return _frame(list(customers), ts, _decode(list(blobs)))

    def trim(self, before: pd.Timestamp) -> int:
        with self.conn:
            cur = self.conn.execute("DELETE FROM events WHERE ts < ? AND sticky = 0",
                                    (int(before.timestamp()),))
        return cur.rowcount

    def clear(self) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM events")

    def close(self) -> None:
        self.conn.close()


class RedisHistory:
    """History in Redis, one row per event id like the SQLite store: per customer a sorted set
    of event ids (score: epoch seconds) and a hash of id -> payload. Appending an event id that
    is already there changes nothing, so a retried batch is never counted twice."""

    def __init__(self, url: str, namespace: str, timeout: float | None = None) -> None:
        """`timeout`: the caller's budget per call (the service), with one try and no retry,
        its breaker taking over; None: 5 s per call with redis-py's retries (batch jobs)."""
        from features.online.store import budgeted_redis

        self.r = budgeted_redis(url, timeout)
        self.prefix = f"nba:{namespace}:history:"
        self.payloads = f"nba:{namespace}:events:"

    def _key(self, customer_id: str) -> str:
        return self.prefix + customer_id

    def append(self, events: pd.DataFrame) -> int:
        for chunk in _chunks(events):
            cust, ts, payload = _records(chunk)
            by_customer: dict[str, tuple[dict, dict]] = {}
            for c, t, p in zip(cust, ts.tolist(), payload, strict=True):
                scores, blobs = by_customer.setdefault(c, ({}, {}))
                event_id = str(p[0])
                scores[event_id] = t
                blobs[event_id] = orjson.dumps(p)
            pipe = self.r.pipeline(transaction=False)
            for i, (c, (scores, blobs)) in enumerate(by_customer.items()):
                pipe.zadd(self._key(c), scores)  # one command per customer, not per event
                pipe.hset(self.payloads + c, mapping=blobs)
                if i % 2500 == 2499:
                    pipe.execute()
            pipe.execute()
        return len(events)

    def recent(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        ids = list(dict.fromkeys(customer_ids))
        pipe = self.r.pipeline(transaction=False)
        for c in ids:
            # raw ZRANGE ... WITHSCORES (a flat member, score list: redis-py's pairing of it
            # was a fifth of this read), then the payloads by event id
            pipe.execute_command("ZRANGE", self._key(c), 0, -1, "WITHSCORES")
            pipe.hgetall(self.payloads + c)
        replies = pipe.execute()
        customers: list[str] = []
        ts: list[bytes] = []  # scores as Redis sends them (float() reads bytes)
        blobs: list[bytes] = []
        for i, c in enumerate(ids):
            flat, payloads = replies[2 * i], replies[2 * i + 1]
            found = list(map(payloads.get, flat[0::2]))
            if None in found:  # an id whose payload is gone (trimmed meanwhile): skip it
                kept = [j for j, p in enumerate(found) if p is not None]
                found, scores = [found[j] for j in kept], [flat[2 * j + 1] for j in kept]
            else:
                scores = flat[1::2]
            blobs.extend(found)
            ts.extend(scores)
            customers.extend([c] * len(found))
        return _frame(customers, list(map(float, ts)), _decode(blobs))

    def trim(self, before: pd.Timestamp) -> int:
        cutoff = int(before.timestamp())
        sticky = {str(e) for e in STICKY_EVENTS}
        removed = 0
        for key in self.r.scan_iter(match=self.prefix + "*", count=1000):
            customer = key.decode()[len(self.prefix):]
            old = self.r.zrangebyscore(key, "-inf", f"({cutoff}")
            if not old:
                continue
            payloads = self.r.hmget(self.payloads + customer, old)
            drop = [m for m, p in zip(old, payloads, strict=True)
                    if p is None or orjson.loads(p)[1] not in sticky]
            if drop:
                removed += self.r.zrem(key, *drop)
                self.r.hdel(self.payloads + customer, *drop)
        return removed

    def clear(self) -> None:
        for prefix in (self.prefix, self.payloads):
            keys = list(self.r.scan_iter(match=prefix + "*", count=1000))
            for i in range(0, len(keys), 1000):
                self.r.delete(*keys[i:i + 1000])

    def close(self) -> None:
        self.r.close()


def open_history(settings, timeout: float | None = None) -> EventHistory:
    """The history store matching the online store setting (`timeout`: the budget per Redis
    call of a budgeted caller, the service)."""
    if settings.redis_online:
        return RedisHistory(settings.online_store, settings.feast_project, timeout)
    return SqliteHistory(settings.feature_repo_dir / "history.db")
