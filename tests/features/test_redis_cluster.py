"""The online store on a real Redis Cluster (3 primaries started by the `redis_cluster_url`
fixture): Feast materialize and the live path write into it, the service's fast read and
Feast's SDK read it back, and both equal the same steps on a single Redis node. The project's
own keys (live history, product state, decision index) work on it too."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features import schema as s
from features.online.history import RedisHistory, SqliteHistory
from features.online.product_events import ProductState, RedisProductState, interest_events
from features.online.store import StoreUnavailable, budgeted_redis
from features.simulation.behavior import SimConfig, simulate
from serving.decision_index import RedisDecisionIndex
from serving.schemas import Action
from tests.features.test_feature_store import SIM, World, _make_world
from tests.serving.test_decision_index import _decision


def _primaries_holding_keys(client: Any) -> int:
    """How many of the cluster's primaries hold at least one key."""
    return sum(node.redis_connection.dbsize() > 0 for node in client.get_primaries())


def _same(a: Any, b: Any) -> bool:
    """Equal values, floats to 1e-12 (NaN equal to NaN), lists element by element."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _assert_rows_same(got: list[dict], want: list[dict], customers: list[str]) -> None:
    for c, g, w in zip(customers, got, want, strict=True):
        assert g.keys() == w.keys(), c
        bad = [k for k in w if not _same(g[k], w[k])]
        assert not bad, f"{c}: {[(k, g[k], w[k]) for k in bad[:3]]}"


def test_project_keys_round_trip_on_the_cluster(redis_cluster_url: str, tmp_path: Path) -> None:
    """History, product state and decision index on the cluster, with the service's budgeted
    clients: the same answers as the SQLite history, keys spread over every primary."""
    from redis.cluster import RedisCluster

    ns = f"t{uuid.uuid4().hex[:10]}"
    events = simulate(SimConfig(customers=60, days=20, products=30, seed=3)).events
    history = RedisHistory(redis_cluster_url, ns, timeout=1.0)
    local = SqliteHistory(tmp_path / "history.db")
    assert isinstance(history.r, RedisCluster)
    try:
        assert history.append(events) == local.append(events) == len(events)
        customers = events[s.CUSTOMER_ID].unique().tolist()
        key = [s.CUSTOMER_ID, s.EVENT_TS, s.EVENT_ID]

        def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
            pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                          b.sort_values(key).reset_index(drop=True))

        same_frames(history.recent(customers), local.recent(customers))
        assert _primaries_holding_keys(history.r) == 3  # a customer's keys hash to one slot
        since = events[s.EVENT_TS].min() + pd.Timedelta(days=10)
        products = events[s.PRODUCT_ID].dropna().unique()[:5]
        same_frames(interest_events(history, products, since),
                    interest_events(local, products, since))
        assert history.trim(since) == local.trim(since) > 0
        same_frames(history.recent(customers), local.recent(customers))

        state = RedisProductState(redis_cluster_url, ns, timeout=1.0)
        state.put({"a": ProductState(9.5, None, 1.0)})  # a transaction over two keys
        state.put({"b": ProductState(None, False, 2.0)})
        assert state.get_all() == {"a": ProductState(9.5, None, 1.0),
                                   "b": ProductState(None, False, 2.0)}
        assert state.version() == 2
        state.clear()
        state.close()

        index = RedisDecisionIndex(redis_cluster_url, ns, timeout=1.0)
        index.put([_decision(i) for i in range(30)] + [_decision(99, Action.NONE)])
        assert index.get(f"{7:032x}")["customer_id"] == "c7"
        assert index.get(f"{99:032x}") is None
        index.close()
    finally:
        history.clear()
        assert history.recent(customers).empty
        history.close()


def test_an_unreachable_cluster_is_a_quick_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match=r"redis\+cluster://127.0.0.1:6398,127.0.0.1:6399"):
        budgeted_redis("redis+cluster://:pw@127.0.0.1:6398,127.0.0.1:6399", timeout=0.5)


@pytest.mark.slow
def test_cluster_serves_what_a_single_redis_serves(
        redis_cluster_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Materialize and live ingest into the cluster and into one Redis node: the service's fast
    read and Feast's SDK read of the cluster equal the single node's reads, for every customer."""
    from features.online.feast_internals import redis_client
    from serving.online import OnlineFeatures

    full = simulate(SIM)
    worlds: list[World] = []
    try:
        for name, url in (("one", redis_url), ("cluster", redis_cluster_url)):
            worlds.append(_make_world(tmp_path_factory.mktemp(name), full, url))
        one, cluster = worlds
        assert type(redis_client(cluster.updater.store)).__name__ == "RedisCluster"
        ev = full.events
        live = ev[(ev[s.EVENT_TS] > one.t0) & (ev[s.EVENT_TS] <= one.t1)]
        live = live.astype({s.EVENT_TYPE: str})
        for w in worlds:
            for start in range(0, len(live), 400):
                res = w.updater.ingest(live.iloc[start:start + 400])
                assert res.rejected == 0, res.rejected_by_reason
        assert _primaries_holding_keys(redis_client(cluster.updater.store)) == 3

        customers = full.customers[s.CUSTOMER_ID].tolist()
        when = [one.t1.timestamp()] * len(customers)
        want = OnlineFeatures(one.updater.store).read(customers, when)
        assert sum(r["last_event_ts"] is not None for r in want) > 0.9 * len(customers)
        _assert_rows_same(OnlineFeatures(cluster.updater.store).read(customers, when),
                          want, customers)
        _assert_rows_same(OnlineFeatures(cluster.updater.store, direct=False)
                          .read(customers, when), want, customers)
        touched = live[s.CUSTOMER_ID].unique().tolist()
        pd.testing.assert_frame_equal(
            cluster.updater.history.recent(touched).sort_values([s.CUSTOMER_ID, s.EVENT_ID])
            .reset_index(drop=True),
            one.updater.history.recent(touched).sort_values([s.CUSTOMER_ID, s.EVENT_ID])
            .reset_index(drop=True))
    finally:
        for w in worlds:
            w.updater.history.clear()
            w.updater.store.teardown()
            w.updater.close()
