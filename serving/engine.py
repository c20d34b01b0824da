"""The decision engine: online features + champion models + policy, in one process.

The BentoML service, batch scoring and replay all call this class; nothing here knows about
HTTP. A store outage never fails a decision: it is decided on defaults and flagged `degraded`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from features.settings import Settings
from features.store import offline_paths, open_store
from serving.catalog import load_catalog
from serving.decision_log import DecisionLog, log_inputs
from serving.online import OnlineFeatures, is_known
from serving.policy import PolicyConfig, PolicyInputs, decide
from serving.schemas import Decision, DecisionRequest, TriggerEvent
from serving.scoring import Scorer

log = logging.getLogger(__name__)
READ_BUDGET_S = 0.2  # an online read slower than this is abandoned: decide on defaults
PER_CUSTOMER_S = 0.005  # batch reads get more time
COOLDOWN_S = 10.0  # after a failed read, skip the store this long (then try again)


class StoreBreaker:
    """Bounds the cost of an online-store outage: each read gets a time budget, and after a
    failure the store is skipped for a cool-down, so degraded decisions stay fast."""

    def __init__(self, budget: float = READ_BUDGET_S, cooldown: float = COOLDOWN_S) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.budget, self.cooldown = budget, cooldown
        self.open_until = 0.0
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="online-read")

    def call(self, n: int, fn, *args):
        """fn(*args) for `n` customers, or raise `StoreUnavailable` (fast while open)."""
        import time as _time
        from concurrent.futures import TimeoutError as FutureTimeout

        from features.store import StoreUnavailable

        now = _time.monotonic()
        if now < self.open_until:
            raise StoreUnavailable("online store skipped (recent failure, cooling down)")
        future = self.pool.submit(fn, *args)
        budget = self.budget + PER_CUSTOMER_S * n
        try:
            return future.result(timeout=budget)
        except FutureTimeout:
            self.open_until = _time.monotonic() + self.cooldown
            raise StoreUnavailable(f"online read exceeded {budget * 1000:.0f} ms") from None
        except Exception as exc:
            self.open_until = _time.monotonic() + self.cooldown
            raise StoreUnavailable(f"online read failed: {exc}") from exc


class DecisionEngine:
    def __init__(self, settings: Settings, *, scorer: Scorer | None = None,
                 log_decisions: bool = True) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.online = OnlineFeatures(self.store)
        self.scorer = scorer if scorer is not None else Scorer.from_registry(settings)
        self.catalog = load_catalog(settings.data_dir, offline_paths(settings))
        self.config = PolicyConfig.from_settings(settings)
        self.log = DecisionLog(settings.data_dir / "decisions") if log_decisions else None
        self.breaker = StoreBreaker()
        self.bandit = load_bandit(settings, self.config)
        self._live = None
        self._warm_up()

    def _warm_up(self) -> None:
        """One read at start-up: first reads pay connection and registry set-up costs."""
        try:
            self.online.read(["__warm_up__"], [datetime.now(UTC).timestamp()])
        except Exception as exc:
            log.warning("online store not readable at start-up: %s", exc)

    # ------------------------------------------------------------------ decisions
    def decide(self, request: DecisionRequest) -> Decision:
        return self.decide_many([request])[0]

    def decide_many(self, requests: Sequence[DecisionRequest]) -> list[Decision]:
        """Decisions for many customers: one feature read and one call per model."""
        if not requests:
            return []
        moments = [r.moment() for r in requests]
        degraded = False
        try:
            rows = self.breaker.call(len(requests), self.online.read,
                                     [r.customer_id for r in requests],
                                     [m.timestamp() for m in moments])
        except Exception as exc:
            log.warning("online store read failed, deciding on defaults: %s", exc)
            rows = [{} for _ in requests]
            degraded = True
        scores = self.scorer.score(rows)
        decisions = []
        records = []
        versions = dict(self.scorer.versions)
        for req, now, feats, sc in zip(requests, moments, rows, scores, strict=True):
            inp = PolicyInputs(req.customer_id, now, feats, sc, trigger=req.trigger,
                               known=(not degraded) and is_known(feats), degraded=degraded,
                               consent_override=req.consent)
            d = decide(inp, self.config, self.catalog, decision_id=uuid.uuid4().hex,
                       model_versions=versions, bandit=self.bandit)
            decisions.append(d)
            records.append(d.log_record(log_inputs(feats)))
        if self.log is not None:
            self.log.write(records, datetime.now(UTC))
        return decisions

    # ------------------------------------------------------------------ live events
    @property
    def live(self):
        if self._live is None:
            from features.live import LiveUpdater

            self._live = LiveUpdater(self.settings, store=self.store)
        return self._live

    def ingest(self, events: list[dict[str, Any]], decide_triggers: bool = False
               ) -> tuple[Any, list[Decision]]:
        """Live events -> online features; then decisions for the customers they touched."""
        result = self.live.ingest(pd.DataFrame(events))
        decisions: list[Decision] = []
        if decide_triggers and result.customers:
            last: dict[str, dict[str, Any]] = {}
            for e in events:  # the customer's last valid event is the trigger
                if e.get("customer_id") in result.customers and _trigger(e) is not None:
                    last[e["customer_id"]] = e
            reqs = []
            for c, e in last.items():
                trig = _trigger(e)  # decided as of the event (the live clock in production)
                reqs.append(DecisionRequest(customer_id=c, trigger=trig,
                                            now=trig.timestamp if trig else None))
            decisions = self.decide_many(reqs)
        return result, decisions

    def is_ready(self) -> bool:
        return bool(self.catalog.products)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self._live is not None:
            self._live.close()


BANDIT_FILE = "bandit/arms.json"


def load_bandit(settings: Settings, config: PolicyConfig):
    """Thompson sampling state when `NBA_EXPLORE_METHOD=thompson`: the arm statistics written
    by `nba bandit update` (none yet: every treatment equally likely, a uniform start)."""
    if config.explore_method != "thompson":
        return None
    import orjson

    from serving.policy.exploration import ArmStats, Thompson

    path = settings.data_dir / BANDIT_FILE
    stats = ArmStats.from_json(orjson.loads(path.read_bytes())) if path.exists() else ArmStats()
    return Thompson(stats, config.explore_treatments)


def _trigger(event: dict[str, Any]) -> TriggerEvent | None:
    try:
        ts = pd.Timestamp(event.get("timestamp"))
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return TriggerEvent(event_type=str(event.get("event_type")),
                            timestamp=ts.to_pydatetime(), product_id=event.get("product_id"))
    except (ValueError, TypeError):
        return None
