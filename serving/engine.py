"""The decision engine: online features + champion models + policy, in one process.

The BentoML service, batch scoring and replay all call this class; nothing here knows about
HTTP. A store outage never fails a decision: it is decided on defaults and flagged `degraded`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from features.settings import Settings
from serving.catalog import load_catalog, read_popularity, with_popularity
from serving.decision_log import daily_log, log_inputs
from serving.online import OnlineFeatures, is_known
from serving.policy import PolicyConfig, PolicyInputs, decide
from serving.product_events import ProductSync
from serving.schemas import Decision, DecisionRequest, TriggerEvent
from serving.scoring import Scorer

log = logging.getLogger(__name__)
READ_TIMEOUT_S = 0.5  # an online read slower than this is abandoned: decide on defaults
WRITE_TIMEOUT_S = 1.0  # one live-path call (history, push) gets this long
COOLDOWN_S = 10.0  # after a store failure, skip the store this long (then try again)
KEPT_FOR_REPLAY = ("online store unavailable; the accepted events are kept in the live event log "
                   "for replay")


def _why(exc: BaseException) -> str:
    """An exception as one short line for logs and /readyz: its type and first line."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"


class Breaker:
    """A circuit breaker: after a store failure the store is skipped for a cool-down, so
    degraded answers stay fast; the next call after it tries again. Time budgets come from the
    clients' own socket timeouts (the call runs on the caller's thread: no hand-off)."""

    def __init__(self, name: str, cooldown: float = COOLDOWN_S) -> None:
        self.name, self.cooldown = name, cooldown
        self.open_until = 0.0
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def call(self, fn, *args):
        """fn(*args), or StoreUnavailable: at once while open, or when fn fails on the store.
        Other exceptions (bugs) propagate."""
        from features.online.store import StoreUnavailable, store_errors

        if self.is_open:
            raise StoreUnavailable(f"{self.name} skipped after a recent failure "
                                   f"({self.last_error}); retrying in "
                                   f"{self.open_until - time.monotonic():.0f} s")
        try:
            out = fn(*args)
        except store_errors() as exc:
            self.trip(_why(exc))
            raise StoreUnavailable(f"{self.name} failed ({self.last_error})") from exc
        self.last_error = None
        return out

    def trip(self, why: str) -> None:
        self.open_until = time.monotonic() + self.cooldown
        self.last_error = why


class DecisionEngine:
    """Decisions from online features, champion models and the policy. It starts whatever is
    down: an unreachable online store or model registry leaves it answering degraded decisions
    (and not ready, with the reason) until they come back; it reconnects by itself."""

    def __init__(self, settings: Settings, *, scorer: Scorer | None = None,
                 log_decisions: bool = True) -> None:
        self.settings = settings
        self.catalog = load_catalog(settings.data_dir)  # popularity: on connecting
        self.config = PolicyConfig.from_settings(settings)
        self.log = daily_log(settings, "decisions") if log_decisions else None
        self.breaker = Breaker("online store")
        self.live_breaker = Breaker("live path")
        self.bandit = load_bandit(settings, self.config)
        # product events (prices, stock) shared by every worker; decisions by id for /open
        self.products = ProductSync(settings, self.catalog, self._timeout(READ_TIMEOUT_S))
        self.catalog = self.products.current(force=True)
        self.index_breaker = Breaker("decision index")
        self._index = None
        self.store = self.online = None
        self.store_error: str | None = None
        self.models_error: str | None = None
        self._fixed_scorer = scorer is not None
        self.scorer = scorer if scorer is not None else Scorer()
        self._retry_at = 0.0
        self._live = None
        self._recover(force=True)

    # ------------------------------------------------------------------ dependencies
    def _recover(self, force: bool = False) -> None:
        """(Re)connect what is missing: the online store, the models. At most once per
        cool-down, so an outage never costs every request a connection attempt."""
        if not force and time.monotonic() < self._retry_at:
            return
        self._retry_at = time.monotonic() + COOLDOWN_S
        if self.online is None:
            self._connect()
        if not self._fixed_scorer and (self.models_error is not None or force):
            self._load_models()

    def _connect(self) -> None:
        from features.online.store import open_store, redacted

        try:
            store = open_store(self.settings, timeout=self._timeout(READ_TIMEOUT_S))
            online = OnlineFeatures(store)
            online.read(["__warm_up__"], [datetime.now(UTC).timestamp()])  # pays set-up now
        except Exception as exc:  # any failure to set up the store: degrade, say why, retry
            where = redacted(self.settings.online_store)
            self.store_error = f"online store {where} unavailable: {_why(exc)}"
            log.warning("%s; deciding on defaults until it is back", self.store_error)
            return
        self.store, self.online, self.store_error = store, online, None
        self.breaker.open_until = 0.0
        log.info("online store connected")
        self._read_popularity()

    def _read_popularity(self) -> None:
        """Product popularity from the online store (`product_stats`); the catalog keeps the
        last known (0 at start) when the read fails."""
        from features.online.store import store_errors

        base = self.products.base
        try:
            popularity = read_popularity(self.store, list(base.products))
        except store_errors() as exc:
            log.warning("product popularity unavailable, keeping the last known: %s", _why(exc))
            return
        self.catalog = self.products.rebase(with_popularity(base, popularity))

    def _load_models(self) -> None:
        from training import lgbm_compiled

        try:
            # the champions' compiled code where `nba serve` or a batch left it
            lgbm_compiled.enable_cached(self.settings.compiled_models_dir)
            self.scorer = Scorer.from_registry(self.settings)
            self.scorer.compile()
            log.info("champion boosters: %d compiled, %d with LightGBM", *lgbm_compiled.counts())
            self.models_error = None
        except Exception as exc:  # the registry is a server: any failure to reach it
            self.models_error = f"model registry unavailable: {_why(exc)}"
            log.warning("%s; deciding without models until it is back", self.models_error)

    def _timeout(self, seconds: float) -> float | None:
        """Socket budgets for network stores (SQLite is a local file: no network to hang)."""
        return seconds if self.settings.redis_online else None

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason): ready when the catalog, the online store and the models are."""
        if not self.catalog.products:
            return False, "product catalog is empty"
        self._recover()
        if self.online is None:
            return False, self.store_error or "online store not connected"
        if self.breaker.is_open:
            return False, f"online store failing: {self.breaker.last_error}"
        if self.models_error:
            return False, self.models_error
        return True, "ready"

    def is_ready(self) -> bool:
        return self.readiness()[0]

    # ------------------------------------------------------------------ decisions
    def decide(self, request: DecisionRequest) -> Decision:
        return self.decide_many([request])[0]

    def read_features(self, customer_ids: list[str], moments: list[datetime]
                      ) -> tuple[list[dict[str, Any]], bool]:
        """Online features per customer, or ({} each, degraded=True) when the store is out."""
        from features.online.store import StoreUnavailable

        self._recover()
        if self.online is not None:
            try:
                rows = self.breaker.call(self.online.read, customer_ids,
                                         [m.timestamp() for m in moments])
                return rows, False
            except StoreUnavailable as exc:
                log.warning("online store read failed, deciding on defaults: %s", exc)
        return [{} for _ in customer_ids], True

    def decide_many(self, requests: Sequence[DecisionRequest],
                    product_triggers: Sequence[Any] | None = None) -> list[Decision]:
        """Decisions for many customers: one feature read and one call per model
        (`product_triggers`: a business event per request, serving/product_events.py)."""
        if not requests:
            return []
        self.catalog = self.products.current()
        triggers = product_triggers or [None] * len(requests)
        moments = [r.moment() for r in requests]
        rows, degraded = self.read_features([r.customer_id for r in requests], moments)
        scores = self.scorer.score(rows)
        decisions = []
        records = []
        versions = dict(self.scorer.versions)
        for req, now, feats, sc, pt in zip(requests, moments, rows, scores, triggers,
                                           strict=True):
            inp = PolicyInputs(req.customer_id, now, feats, sc, trigger=req.trigger,
                               known=(not degraded) and is_known(feats), degraded=degraded,
                               consent_override=req.consent, product_trigger=pt)
            d = decide(inp, self.config, self.catalog, decision_id=uuid.uuid4().hex,
                       model_versions=versions, bandit=self.bandit)
            decisions.append(d)
            records.append(d.log_record(log_inputs(feats)))
        if self.log is not None:
            self.log.write(records, datetime.now(UTC))
            self._index_put(decisions)
        return decisions

    @property
    def index(self):
        """Decisions by id (serving/decision_index.py), with the read budget."""
        if self._index is None:
            from serving.decision_index import open_index

            self._index = open_index(self.settings, self._timeout(READ_TIMEOUT_S))
        return self._index

    def _index_put(self, decisions: list[Decision]) -> None:
        """Index the decisions for /open; a failing index never fails a decision."""
        from features.online.store import StoreUnavailable

        try:
            self.index_breaker.call(self.index.put, decisions)
        except StoreUnavailable as exc:
            log.warning("decision index write skipped: %s", exc)

    # ------------------------------------------------------------------ live events
    @property
    def live(self):
        """The live updater: its own store and history clients with the write budget."""
        if self._live is None:
            from features.online.history import open_history
            from features.online.live import LiveUpdater
            from features.online.store import open_store

            timeout = self._timeout(WRITE_TIMEOUT_S)
            store = open_store(self.settings, timeout=timeout)
            self._live = LiveUpdater(self.settings, store=store,
                                     history=open_history(self.settings, timeout))
        return self._live

    def ingest(self, events: list[dict[str, Any]], decide_triggers: bool = False
               ) -> tuple[Any, list[Decision]]:
        """Live events -> online features; then decisions for the customers they touched.
        Behind its own breaker: while the store fails, events are validated and kept in the
        live log (for `nba events ingest --replay`) and StoreUnavailable is raised at once."""
        from features.online.live import LiveUpdater
        from features.online.store import StoreUnavailable, store_errors

        frame = pd.DataFrame(events)
        if self.live_breaker.is_open or (self._live is None and self.online is None):
            LiveUpdater.rejects_only(self.settings).keep(frame)
            raise StoreUnavailable(KEPT_FOR_REPLAY)
        try:
            result = self.live_breaker.call(self.live.ingest, frame)
        except store_errors() as exc:
            # the breaker trips on the ingest's own failures; connecting fails before it runs
            if not isinstance(exc, StoreUnavailable):
                self.live_breaker.trip(_why(exc))
            if self._live is None:  # could not even connect: keep the events here
                LiveUpdater.rejects_only(self.settings).keep(frame)
            raise StoreUnavailable(KEPT_FOR_REPLAY) from None
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

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self._index is not None:
            self._index.close()
        self.products.close()
        if self._live is not None:
            self._live.close()


BANDIT_FILE = "bandit/arms.json"


def load_bandit(settings: Settings, config: PolicyConfig):
    """Thompson sampling state when `NBA_EXPLORE_METHOD=thompson`: the arm statistics written
    by `nba bandit update` (none yet: every treatment equally likely, a uniform start)."""
    if config.explore_method != "thompson":
        return None
    import orjson

    from serving.policy.exploration import Thompson
    from training.arm_stats import ArmStats

    path = settings.data_dir / BANDIT_FILE
    stats = ArmStats.from_json(orjson.loads(path.read_bytes())) if path.exists() else ArmStats()
    return Thompson(stats, config.explore_treatments, config.propensity_draws)


def _trigger(event: dict[str, Any]) -> TriggerEvent | None:
    try:
        ts = pd.Timestamp(event.get("timestamp"))
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return TriggerEvent(event_type=str(event.get("event_type")),
                            timestamp=ts.to_pydatetime(), product_id=event.get("product_id"))
    except (ValueError, TypeError):
        return None
