"""Decisions by id, for `GET /open/{decision_id}`: what an email was decided with (action,
offer, products, times), found in one keyed read by any API worker.

The decision log (JSON lines per day) is for learning and audit, not for lookups; this index
keeps only decisions that send an email, in a compact form, for `KEEP_DAYS`: a SQLite table
next to the online store (shared by the workers of a machine) by default, Redis keys with an
expiry when the online store is Redis (shared by every worker).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson

from serving.schemas import Action, Decision

KEEP_DAYS = 30  # an email opened later than this renders 404 (the decision is forgotten)
PRUNE_EVERY_S = 3_600.0


def compact(d: Decision) -> dict[str, Any]:
    """What rendering the email at open needs from its decision."""
    return {
        "customer_id": d.customer_id, "decided_at": d.decided_at.isoformat(),
        "send_at": d.send_at.isoformat() if d.send_at else None, "action": d.action.value,
        "variant": d.variant.value if d.variant else None,
        "offer": [d.offer.type.value, d.offer.value],
        "recs": [[r.product_id, r.reason] for r in d.recommendations],
    }


def worth_indexing(d: Decision) -> bool:
    return d.action != Action.NONE


class DecisionIndex(Protocol):
    def put(self, decisions: Iterable[Decision]) -> None: ...
    def get(self, decision_id: str) -> dict[str, Any] | None: ...
    def close(self) -> None: ...


class SqliteDecisionIndex:
    """Decisions by id in a local SQLite file (WAL: workers write and read concurrently)."""

    def __init__(self, path: Path, keep_days: float = KEEP_DAYS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=2.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # no fsync (checkpoints included): an fsync cost the decision p99 3-4 ms; a machine
        # crash may forget the last decisions, whose opens then render 404
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("CREATE TABLE IF NOT EXISTS decisions (decision_id TEXT PRIMARY KEY, "
                          "at REAL, record BLOB)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS by_time ON decisions (at)")
        self.keep_s = keep_days * 86_400
        self._pruned = 0.0

    def put(self, decisions: Iterable[Decision]) -> None:
        now = time.time()
        rows = [(d.decision_id, now, orjson.dumps(compact(d))) for d in decisions
                if worth_indexing(d)]
        if not rows:
            return
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?)", rows)
            if now - self._pruned > PRUNE_EVERY_S:  # bounded: forget decisions past KEEP_DAYS
                self.conn.execute("DELETE FROM decisions WHERE at < ?", (now - self.keep_s,))
                self._pruned = now

    def get(self, decision_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT at, record FROM decisions WHERE decision_id = ?",
                                (decision_id,)).fetchone()
        if row is None or row[0] < time.time() - self.keep_s:
            return None
        return orjson.loads(row[1])

    def close(self) -> None:
        self.conn.close()


class RedisDecisionIndex:
    """Decisions by id as Redis keys expiring after KEEP_DAYS."""

    def __init__(self, url: str, namespace: str, timeout: float | None = None,
                 keep_days: float = KEEP_DAYS) -> None:
        from features.online.store import budgeted_redis

        self.r = budgeted_redis(url, timeout)
        self.prefix = f"nba:{namespace}:decision:"
        self.ttl = int(keep_days * 86_400)

    def put(self, decisions: Iterable[Decision]) -> None:
        pipe = self.r.pipeline(transaction=False)
        n = 0
        for d in decisions:
            if worth_indexing(d):
                pipe.set(self.prefix + d.decision_id, orjson.dumps(compact(d)), ex=self.ttl)
                n += 1
        if n:
            pipe.execute()

    def get(self, decision_id: str) -> dict[str, Any] | None:
        blob = self.r.get(self.prefix + decision_id)
        return None if blob is None else orjson.loads(blob)

    def close(self) -> None:
        self.r.close()


def open_index(settings, timeout: float | None = None) -> DecisionIndex:
    """The index matching the online store setting (`timeout`: a budgeted caller's limit)."""
    if settings.redis_online:
        return RedisDecisionIndex(settings.online_store, settings.feast_project, timeout)
    return SqliteDecisionIndex(settings.feature_repo_dir / "decision_index.db")
