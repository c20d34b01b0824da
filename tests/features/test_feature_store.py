"""Feast feature store: point-in-time joins, live updates on SQLite and Redis, bad events, outages.

The same tests run against the embedded SQLite online store and the machine's real Redis.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import schema as s
from features.online.history import RedisHistory
from features.online.live import LiveUpdater
from features.online.store import StoreUnavailable, offline_paths, open_store
from features.settings import Settings
from features.simulation.behavior import SimConfig, simulate
from features.sources.dataset import Dataset, write_dataset
from features.transforms import (
    ENTITY_TS,
    POLICY_ONLY_FEATURES,
    REQUEST_TS,
    activity_feature_names,
    customer_activity_rows,
    customer_items,
    engagement_score,
    latest_per_customer,
)
from pipelines.feature_steps import apply_step, build_step, materialize_step

SIM = SimConfig(customers=300, days=60, products=80, seed=5)
SPLIT_DAY = 40  # the online store is materialized up to here; later events arrive live
LIVE_DAYS = 3


@dataclass
class World:
    settings: Settings
    full: Dataset
    t0: pd.Timestamp
    t1: pd.Timestamp
    updater: LiveUpdater


@pytest.fixture(scope="module")
def full_dataset() -> Dataset:
    return simulate(SIM)


def _make_world(tmp: Path, full: Dataset, online_store: str) -> World:
    settings = Settings.from_env(env={}, data_dir=tmp / "data", online_store=online_store,
                                 feast_project=f"t{uuid.uuid4().hex[:10]}")
    t0 = full.start + pd.Timedelta(days=SPLIT_DAY)
    past = Dataset(events=full.events[full.events[s.EVENT_TS] <= t0], customers=full.customers,
                   products=full.products, manifest={**full.manifest, "end": str(t0)})
    write_dataset(settings.data_dir, past)
    build_step(settings)
    apply_step(settings)
    materialize_step(settings)
    return World(settings, full, t0, t0 + pd.Timedelta(days=LIVE_DAYS), LiveUpdater(settings))


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("redis", marks=pytest.mark.slow)])
def world(request, tmp_path_factory, full_dataset):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else "sqlite"
    w = _make_world(tmp_path_factory.mktemp(request.param), full_dataset, url)
    yield w
    w.updater.history.clear()
    w.updater.store.teardown()
    w.updater.close()


def _online(store, customers: list[str], at: pd.Timestamp) -> pd.DataFrame:
    rows = [{s.CUSTOMER_ID: c, REQUEST_TS: at.timestamp()} for c in customers]
    resp = store.get_online_features(store.get_feature_service("policy_v1"), entity_rows=rows)
    return pd.DataFrame(resp.to_dict()).set_index(s.CUSTOMER_ID)


def _assert_same(got: pd.DataFrame, want: pd.DataFrame, cols: list[str]) -> None:
    g = got.loc[want.index, cols].astype(float).to_numpy()
    w = want[cols].astype(float).to_numpy()
    bad = ~np.isclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise AssertionError(f"{want.index[i]} {cols[j]}: online {g[i, j]} != offline {w[i, j]}"
                             f" ({bad.sum()} mismatches)")


def test_live_replay_matches_the_offline_build(world: World) -> None:
    """Training/serving skew guard: events replayed live give the offline build's values."""
    ev = world.full.events
    live = ev[(ev[s.EVENT_TS] > world.t0) & (ev[s.EVENT_TS] <= world.t1)]
    touched = live[s.CUSTOMER_ID].unique().tolist()
    assert len(touched) > 50
    for start in range(0, len(live), 400):  # time-ordered micro-batches, as the consumer sends
        res = world.updater.ingest(live.iloc[start:start + 400].astype({s.EVENT_TYPE: str}))
        assert res.rejected == 0, res.rejected_by_reason
    upto = ev[ev[s.EVENT_TS] <= world.t1]
    want = latest_per_customer(customer_activity_rows(upto[upto[s.CUSTOMER_ID].isin(touched)]))
    want = want.set_index(s.CUSTOMER_ID)
    got = _online(world.updater.store, touched, world.t1)
    _assert_same(got, want, activity_feature_names())

    items = customer_items(upto[upto[s.CUSTOMER_ID].isin(touched)]).set_index(s.CUSTOMER_ID)
    for c in touched:
        for col in ("cart_products", "recent_views", "recent_purchases"):
            assert list(got.at[c, col]) == list(items.at[c, col]), (c, col)
        assert np.allclose(got.at[c, "open_hour_hist"], items.at[c, "open_hour_hist"])
    # Request-time features come from the same stored values and the request moment.
    hours = (world.t1.timestamp() - want["last_event_ts"]) / 3600
    assert np.allclose(got.loc[want.index, "hours_since_last_event"], hours)
    # the engagement score is the stored decayed sum decayed on to the request moment
    score = engagement_score(want["engagement_decayed"].to_numpy(), hours.to_numpy() / 24)
    assert np.allclose(got.loc[want.index, "engagement_score"], score)


def test_materialized_values_equal_the_offline_rows(world: World) -> None:
    ev = world.full.events
    past = ev[ev[s.EVENT_TS] <= world.t0]
    quiet = sorted(set(past[s.CUSTOMER_ID]) - set(ev[(ev[s.EVENT_TS] > world.t0)][s.CUSTOMER_ID]))
    assert quiet, "need customers without live events"
    want = latest_per_customer(customer_activity_rows(past[past[s.CUSTOMER_ID].isin(quiet)]))
    got = _online(world.updater.store, quiet, world.t1)
    _assert_same(got, want.set_index(s.CUSTOMER_ID), activity_feature_names())


def test_every_view_records_its_materialization(world: World) -> None:
    """Feast's record of what was materialized (read by `feast materialize-incremental`): with
    Redis the views are materialized by two processes, which must not rewrite the shared
    registry file under each other (a partial read lost entities; one write lost the other's)."""
    from features.online.store_ops import VIEW_GROUPS

    store = open_store(world.settings)
    for name in (v for g in VIEW_GROUPS for v in g):
        intervals = store.get_feature_view(name).materialization_intervals
        assert intervals, f"{name}: no materialization recorded"
        assert intervals[-1][1] >= world.t0.to_pydatetime()


def test_cart_add_is_visible_on_the_next_read_and_bad_events_are_kept(world: World) -> None:
    cust = world.full.customers[s.CUSTOMER_ID].iloc[7]
    when = world.t1 + pd.Timedelta(hours=2)
    before = _online(world.updater.store, [cust], when)
    events = [
        {s.CUSTOMER_ID: cust, s.EVENT_TYPE: "add_to_cart", s.EVENT_TS: when.isoformat(),
         s.PRODUCT_ID: "p00003", s.PRICE: 12.5, s.QUANTITY: 2},
        {s.CUSTOMER_ID: cust, s.EVENT_TYPE: "teleport", s.EVENT_TS: when.isoformat()},
        {s.CUSTOMER_ID: None, s.EVENT_TYPE: "product_view", s.EVENT_TS: when.isoformat(),
         s.PRODUCT_ID: "p00001"},
        {s.CUSTOMER_ID: cust, s.EVENT_TYPE: "product_view", s.PRODUCT_ID: "p00001",
         s.EVENT_TS: (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=30)).isoformat()},
    ]
    res = world.updater.ingest(events)
    assert (res.accepted, res.rejected) == (1, 3)
    assert res.rejected_by_reason == {"event_type": 1, "customer_id": 1, "timestamp": 1}
    after = _online(world.updater.store, [cust], when)
    assert after.at[cust, "cart_adds_1h"] == 1
    assert after.at[cust, "cart_value"] == pytest.approx(before.at[cust, "cart_value"] + 25.0)
    assert after.at[cust, "cart_products"][0] == "p00003"
    assert after.at[cust, "cart_open"] == 1
    rejects = pd.read_json(world.settings.data_dir / "live" / "rejects.jsonl", lines=True)
    assert {"event_type: unknown 'teleport'", "customer_id: missing"} <= set(rejects[s.REASON])
    assert rejects[s.REASON].str.startswith("timestamp: in the future").any()


def test_channel_consent_and_a_live_sms_send_reach_the_online_store(world: World) -> None:
    """What channel escalation reads: the profile's SMS / push consent, and an `sms_sent`
    event the caller reports counted on the next read (the per-channel caps)."""
    cust = world.full.customers.set_index(s.CUSTOMER_ID)
    ids = cust.index[:40].tolist()
    got = _online(world.updater.store, ids, world.t1)
    for col in (s.SMS_CONSENT, s.PUSH_CONSENT):
        assert got.loc[ids, col].tolist() == cust.loc[ids, col].astype(int).tolist()
    assert got.loc[ids, s.SMS_CONSENT].nunique() == 2  # the simulator gives some consent
    who, when = ids[3], world.t1 + pd.Timedelta(hours=5)
    res = world.updater.ingest([{s.CUSTOMER_ID: who, s.EVENT_TYPE: "sms_sent",
                                 s.EVENT_TS: when.isoformat()}])
    assert res.accepted == 1, res.rejected_by_reason
    after = _online(world.updater.store, [who], when)
    assert after.at[who, "sms_sent_24h"] == 1 and after.at[who, "push_sent_24h"] == 0
    assert after.at[who, "last_sms_sent_ts"] == when.timestamp()


def test_historical_join_never_sees_the_future(tmp_path: Path, full_dataset: Dataset) -> None:
    """Feast's point-in-time join at T equals features rebuilt from events up to T only."""
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data")
    write_dataset(settings.data_dir, full_dataset)
    build_step(settings)
    apply_step(settings)
    store = open_store(settings)
    snap = full_dataset.start + pd.Timedelta(days=30, hours=13)
    customers = full_dataset.customers[s.CUSTOMER_ID].tolist()
    entity = pd.DataFrame({s.CUSTOMER_ID: customers, ENTITY_TS: snap,
                           REQUEST_TS: snap.timestamp()})
    hist = store.get_historical_features(entity_df=entity,
                                         features=store.get_feature_service("intent_v1")).to_df()
    hist = hist.set_index(s.CUSTOMER_ID)
    ev = full_dataset.events
    truncated = ev[ev[s.EVENT_TS] <= snap]  # nothing after the snapshot exists here
    want = latest_per_customer(customer_activity_rows(truncated)).set_index(s.CUSTOMER_ID)
    model_cols = [c for c in activity_feature_names()
                  if not c.endswith("_ts") and c not in POLICY_ONLY_FEATURES]
    assert set(model_cols) <= set(hist.columns)
    service = store.get_feature_service("intent_v1")
    served = [f.name for p in service.feature_view_projections for f in p.features]
    assert set(model_cols) <= set(served)
    assert not [c for c in served if c.endswith("_ts")]  # models never see calendar time
    assert not POLICY_ONLY_FEATURES & set(served)  # nor the policy's engagement signals
    _assert_same(hist, want, model_cols)
    no_history = sorted(set(customers) - set(want.index))
    assert hist.loc[no_history, "views_30d"].isna().all()
    hrs = (snap.timestamp() - want["last_purchase_ts"]) / 3600
    assert np.allclose(hist.loc[want.index, "hours_since_last_purchase"], hrs, equal_nan=True)


def test_history_seeded_from_batches_equals_one_frame(tmp_path: Path,
                                                      full_dataset: Dataset) -> None:
    """Materialize seeds the live history from the log in batches (a log larger than memory):
    the same events as from the whole log in one frame, the lookback and sticky rule applied."""
    from features.online.history import open_history
    from features.online.store_ops import seed_history
    from features.sources.dataset import iter_events
    from features.transforms import LOOKBACK_DAYS, STICKY_EVENTS

    write_dataset(tmp_path / "data", full_dataset)
    end = full_dataset.end + pd.Timedelta(days=LOOKBACK_DAYS - 30)  # some events fall out
    seeded = {}
    for how, events in (("frame", full_dataset.events),
                        ("batches", iter_events(tmp_path / "data", batch_rows=700))):
        settings = Settings.from_env(env={}, data_dir=tmp_path / how)
        n = seed_history(settings, events, end)
        history = open_history(settings)
        seeded[how] = history.recent(full_dataset.customers[s.CUSTOMER_ID]).sort_values(
            s.EVENT_ID, ignore_index=True)
        history.close()
        assert n == len(seeded[how])
    ev = full_dataset.events
    old = ev[s.EVENT_TS] <= end - pd.Timedelta(days=LOOKBACK_DAYS + 1)
    assert 0 < old.sum() < len(ev)  # the rule has something to drop and to keep
    want = ev[~old | ev[s.EVENT_TYPE].astype(str).isin([str(e) for e in STICKY_EVENTS])]
    assert len(seeded["frame"]) == len(want)
    pd.testing.assert_frame_equal(seeded["batches"], seeded["frame"])


def test_history_keeps_missing_values_as_missing(tmp_path: Path) -> None:
    """Whatever a frame's dtypes, a missing value (None, NaN, pd.NA, an absent column) is read
    back from the history as missing and every present value as itself."""
    from features.online.history import open_history

    events = pd.DataFrame({
        s.EVENT_ID: ["a", "b", "c"], s.CUSTOMER_ID: ["c1", "c1", "c2"],
        s.EVENT_TYPE: pd.Categorical(["product_view", "purchase", "email_open"]),
        s.EVENT_TS: pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00",
                                    "2026-01-02 09:30"], utc=True),
        s.PRODUCT_ID: ["p1", "p2", np.nan],
        s.CATEGORY: pd.array(["shoes", pd.NA, "bags"], dtype="string"),
        s.PRICE: [np.nan, 20.5, None],  # no campaign_id column
        s.QUANTITY: pd.array([None, 2, 0], dtype="Int64")})  # a nullable integer: None is NA
    history = open_history(Settings.from_env(env={}, data_dir=tmp_path))
    history.append(events)
    got = history.recent(["c1", "c2"]).sort_values(s.EVENT_ID, ignore_index=True)
    history.close()
    assert got[s.EVENT_TYPE].tolist() == ["product_view", "purchase", "email_open"]
    assert got[s.PRODUCT_ID].tolist() == ["p1", "p2", None]
    assert got[s.CATEGORY].tolist() == ["shoes", None, "bags"]
    assert got[s.PRICE].isna().tolist() == [True, False, True] and got[s.PRICE][1] == 20.5
    assert got[s.QUANTITY].tolist() == [0, 2, 0]  # a missing quantity reads back as 0
    assert got[s.CAMPAIGN_ID].isna().all()
    assert (got[s.EVENT_TS] == events[s.EVENT_TS]).all()


def test_unreachable_store_is_a_quick_clear_error(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, data_dir=tmp_path, online_store="redis://127.0.0.1:6399/0")
    t = time.perf_counter()
    with pytest.raises(StoreUnavailable, match=r"cannot reach redis://127.0.0.1:6399"):
        open_store(settings)
    assert time.perf_counter() - t < 3
    # materialize too (its worker processes would fail with redis-py's own error, which
    # `nba serve` does not take for an absent store)
    from features.online.store_ops import materialize_online

    with pytest.raises(StoreUnavailable, match=r"cannot reach redis://127.0.0.1:6399"):
        materialize_online(settings, pd.Timestamp("2026-01-01", tz="UTC"),
                           pd.Timestamp("2026-01-02", tz="UTC"))


def test_outage_during_ingest_keeps_the_events(world: World, tmp_path: Path) -> None:
    down = RedisHistory("redis://127.0.0.1:6399/0", "outage")
    updater = LiveUpdater(world.settings, store=world.updater.store, history=down)
    log = world.settings.data_dir / "live" / "events.jsonl"
    before = log.read_bytes().count(b"\n") if log.exists() else 0
    cust = world.full.customers[s.CUSTOMER_ID].iloc[3]
    event = {s.CUSTOMER_ID: cust, s.EVENT_TYPE: "product_view", s.PRODUCT_ID: "p00002",
             s.EVENT_TS: world.t1.isoformat(), s.EVENT_ID: "outage-1"}
    t = time.perf_counter()
    with pytest.raises(StoreUnavailable, match=r"events are kept in the live event log"):
        updater.ingest([event])
    assert time.perf_counter() - t < 5
    lines = log.read_bytes().splitlines()
    assert len(lines) == before + 1 and b"outage-1" in lines[-1]


def test_a_retried_ingest_never_counts_an_event_twice(world: World) -> None:
    """A crash mid-ingest then a re-run of the whole input (no event ids given): the history
    holds each event once and the counts are right, on SQLite and Redis alike."""
    from pipelines.ingest import ingest

    cust = f"retry-{uuid.uuid4().hex[:6]}"
    at = world.t1 + pd.Timedelta(hours=1)
    events = [{s.CUSTOMER_ID: cust, s.EVENT_TYPE: "purchase", s.PRODUCT_ID: f"p{i % 7}",
               s.PRICE: 5.0, s.QUANTITY: 1,
               s.EVENT_TS: (at + pd.Timedelta(seconds=i)).isoformat()} for i in range(60)]
    first = ingest(world.settings, iter(events[:25]), batch_size=10)  # then "killed"
    again = ingest(world.settings, iter(events), batch_size=16)  # the re-run, other batches
    assert first.accepted == 25 and again.accepted == 60
    hist = world.updater.history.recent([cust])
    assert len(hist) == 60 and hist[s.EVENT_ID].is_unique
    feats = customer_activity_rows(hist, latest_only=True).iloc[0]
    assert feats["purchases_90d"] == 60 and feats["purchase_lines_total"] == 60
    online = _online(open_store(world.settings), [cust], at + pd.Timedelta(minutes=5))
    assert online.loc[cust, "purchases_90d"] == 60


def test_live_logs_rotate_and_stay_bounded(tmp_path: Path) -> None:
    from features.online.logfiles import append_jsonl, rotated

    path = tmp_path / "events.jsonl"
    for i in range(200):
        append_jsonl(path, [{"i": i, "pad": "x" * 80}], max_bytes=2_000, keep=3)
    parts = rotated(path, 3)
    assert [p.name for p in parts] == ["events.3.jsonl", "events.2.jsonl", "events.1.jsonl",
                                       "events.jsonl"]
    assert sum(p.stat().st_size for p in parts) <= 4 * 2_000
    last = [int(line.split(b'"i":')[1].split(b",")[0]) for p in parts
            for line in p.read_bytes().splitlines()]
    assert last == sorted(last) and last[-1] == 199  # oldest first, newest kept


def test_pushed_rows_are_the_rows_feast_would_write(world: World) -> None:
    """The live path builds Feast's online rows itself (features/online/feast_internals.py): the
    same keys, value protos (nulls, NaN and empty lists included) and times as Feast's converter,
    and the same bytes when it serializes a column at once (the Redis write)."""
    from features.online.feast_internals import online_rows, provider, serialized_columns

    hist = world.full.events[world.full.events[s.EVENT_TS] <= world.t0]
    hist = hist[hist[s.CUSTOMER_ID].isin(world.full.customers[s.CUSTOMER_ID].iloc[:60])]
    frames = {"customer_activity": customer_activity_rows(hist, latest_only=True),
              "customer_items": customer_items(hist)}
    frames["customer_activity"].loc[frames["customer_activity"].index[:3], "spend_90d"] = np.nan
    store = world.updater.store
    for name, df in frames.items():
        view = store.get_feature_view(name)
        want = provider(store)._prep_rows_to_write_for_ingestion(feature_view=view, df=df,
                                                                 field_mapping=None)
        got = online_rows(view, df)
        assert len(got) == len(want) == len(df)
        nulls = 0
        for (k1, v1, t1, c1), (k2, v2, t2, c2) in zip(want, got, strict=True):
            assert k1.SerializeToString() == k2.SerializeToString()
            assert list(v1) == list(v2)
            assert {n: p.SerializeToString() for n, p in v1.items()} == \
                   {n: p.SerializeToString() for n, p in v2.items()}
            nulls += sum(p.WhichOneof("val") is None for p in v2.values())
            assert (t1 if t1.tzinfo else t1.replace(tzinfo=UTC)) == t2
            assert c1 is None and c2 is None
        assert name != "customer_activity" or nulls >= 3  # the NaNs above, at least
        columns = serialized_columns(df, view.features)
        for f, col in zip(view.features, columns, strict=True):
            assert col == [values[f.name].SerializeToString() for _, values, _, _ in want], f.name


def test_redis_writes_are_the_writes_feast_would_make(world: World) -> None:
    """`write_redis` leaves Redis as Feast's own conversion and write do: same hash fields and
    bytes (a null and a negative zero included), and a row older than the stored one is not
    written (Feast's stale-row rule)."""
    if not world.settings.redis_online:
        pytest.skip("Redis only (the SQLite store is written by Feast itself)")
    from feast.infra.online_stores.helpers import _mmh3, _redis_key

    from features.online.feast_internals import provider, redis_client, write_redis

    store = world.updater.store
    view = store.get_feature_view("customer_activity")
    ids = world.full.customers[s.CUSTOMER_ID].iloc[200:240].tolist()
    ev = world.full.events
    df = customer_activity_rows(ev[ev[s.CUSTOMER_ID].isin(ids)], latest_only=True)
    df[s.EVENT_TS] = world.t1 + pd.Timedelta(days=30)  # newer than anything stored
    df.loc[df.index[:2], "spend_90d"] = [np.nan, -0.0]  # null, and a zero that is not 0.0
    rows = provider(store)._prep_rows_to_write_for_ingestion(feature_view=view, df=df,
                                                             field_mapping=None)
    client = redis_client(store)
    keys = [_redis_key(store.config.project, k, store.config.entity_key_serialization_version)
            for k, _, _, _ in rows]

    fields = [b"_ts:customer_activity", *(_mmh3(f"customer_activity:{f.name}")
                                          for f in view.features)]

    def snapshot() -> list[dict]:  # this view's fields of each customer's hash
        return [dict(zip(fields, client.hmget(k, fields), strict=True)) for k in keys]

    provider(store).online_write_batch(store.config, view, rows, progress=None)
    feast_wrote = snapshot()
    for k in keys:
        client.hdel(k, *fields)
    assert all(v is None for snap in snapshot() for v in snap.values())
    write_redis(store, view, df)
    assert snapshot() == feast_wrote
    older = df.assign(**{s.EVENT_TS: world.t0, "spend_90d": 12345.0})
    write_redis(store, view, older)
    assert snapshot() == feast_wrote  # stale rows skipped


def test_a_build_made_by_code_with_other_features_is_stale(world: World) -> None:
    """After an upgrade that adds or changes features, `ensure_features` rebuilds, re-applies
    and re-materializes (a store missing a new feature would degrade every decision)."""
    import json

    from features.offline.build import BUILD_INFO, is_built
    from features.online.store import offline_paths

    paths = offline_paths(world.settings)
    info = paths.root / BUILD_INFO
    saved = info.read_text()
    assert is_built(paths)
    try:
        info.write_text(json.dumps({**json.loads(saved), "features": "0123456789abcdef"}))
        assert not is_built(paths)
        info.write_text(json.dumps({k: v for k, v in json.loads(saved).items()
                                    if k != "features"}))  # a build from before fingerprints
        assert not is_built(paths)
    finally:
        info.write_text(saved)
    assert is_built(paths)


@pytest.mark.slow  # the feast CLI takes about 10 s to start
def test_feast_cli_sees_the_registered_repo_and_plans_no_change(world: World) -> None:
    """`feast plan` in a dataset's repo directory (as an operator would run it) deletes and
    creates nothing after `nba features apply`; the only differences Feast reports are the
    data sources' metadata timestamps, which it reports after its own `feast apply` too."""
    import subprocess
    import sys

    from features.online.store import offline_paths
    from features.repo import CLI_MODULE, definitions, repo_contents

    repo = world.settings.feature_repo_dir
    assert (repo / CLI_MODULE).exists()
    feast = Path(sys.executable).with_name("feast")
    r = subprocess.run([str(feast), "plan"], cwd=repo, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith(("Created", "Deleted"))], r.stdout[-3000:]
    assert "No changes to infrastructure" in r.stdout
    store = world.updater.store
    diff, _, _ = store.plan(repo_contents(definitions(offline_paths(world.settings)),
                                          store.project))
    kinds = {(d.name, d.transition_type.name) for d in diff.feast_object_diffs
             if not d.name.startswith("__")}  # Feast's own dummy entity
    assert {k for _, k in kinds} <= {"UNCHANGED", "UPDATE"}, [k for k in kinds if k[1] == "DELETE"]

    def without_meta(proto):
        """The proto with every nested `meta` (creation/update times) cleared."""
        if hasattr(proto, "ListFields"):
            for field, value in proto.ListFields():
                if field.name == "meta":
                    proto.ClearField("meta")
                elif field.message_type is not None:
                    for v in (value if field.is_repeated else [value]):
                        without_meta(v)
        return proto

    for d in diff.feast_object_diffs:
        for p in d.feast_object_property_diffs:  # metadata only
            assert without_meta(p.val_existing) == without_meta(p.val_declared), (
                d.name, p.property_name)


def test_response_service_is_what_serving_logs_and_reads(world: World) -> None:
    """`response_v1` in Feast holds the response model's features (RESPONSE_FEATURES); the
    Feast SDK's read of it equals the served read, and every decision logs them."""
    from serving.decision_log import log_inputs
    from serving.online import OnlineFeatures

    store = world.updater.store
    service = store.get_feature_service("response_v1")
    names = [f.name for p in service.feature_view_projections for f in p.features]
    from features.transforms import RESPONSE_FEATURES

    assert sorted(names) == sorted(RESPONSE_FEATURES)
    customers = world.full.customers[s.CUSTOMER_ID].iloc[:40].tolist()
    rows = [{s.CUSTOMER_ID: c, REQUEST_TS: world.t1.timestamp()} for c in customers]
    sdk = store.get_online_features(service, entity_rows=rows).to_dict()
    served = OnlineFeatures(store).read(customers, [world.t1.timestamp()] * len(customers))
    for i, feats in enumerate(served):
        logged = log_inputs(feats)
        for n in names:
            want = sdk[n][i]
            assert n in logged
            assert (want is None and feats[n] is None) or np.isclose(want, feats[n]), (n, i)


def test_served_reads_equal_feast_and_do_not_grow_with_use(world: World) -> None:
    """The serving read (one query on SQLite, one HMGET per customer on Redis) returns what the
    provider's per-view `online_read` and Feast's SDK return, for known and unknown customers,
    and stays the same after many reads (Feast's Redis store appends to the feature list it is
    given: a reused list grew by one name per read)."""
    from serving.online import OnlineFeatures

    store = world.updater.store
    served, sdk = OnlineFeatures(store), OnlineFeatures(store, direct=False)
    per_view = OnlineFeatures(store)
    per_view._fast = None
    fast = "_RedisRead" if world.settings.redis_online else "_SqliteRead"
    assert type(served._fast).__name__ == fast
    customers = [*world.full.customers[s.CUSTOMER_ID].iloc[:30].tolist(), "never-seen"]
    when = [world.t1.timestamp()] * len(customers)
    sizes = [len(names) for _, names in served.views]
    first = served.read(customers, when)
    assert first[-1]["consent"] is None and first[0]["consent"] is not None
    assert first == per_view.read(customers, when)
    for _ in range(20):
        served.read(customers[:1], when[:1])
        per_view.read(customers[:1], when[:1])
    assert [len(names) for _, names in served.views] == sizes
    assert [len(names) for _, names in per_view.views] == sizes
    assert served.read(customers, when) == first
    want = sdk.read(customers, when)
    for got_row, want_row in zip(first, want, strict=True):
        for k, v in want_row.items():
            g = got_row[k]
            if isinstance(v, float) or (isinstance(v, list) and v and isinstance(v[0], float)):
                assert g is not None and np.allclose(v, g), k
            else:
                assert v == g, k
    # the same customer twice in one read (a batch request, two plan steps due): both rows
    # are theirs (a read keyed by entity key once gave the first one nothing: cold start)
    twice = served.read([customers[0], customers[1], customers[0]], when[:3])
    assert twice[0] == twice[2] == first[0] and twice[1] == first[1]


def test_catalog_popularity_is_read_from_the_online_product_view(world: World) -> None:
    """Serving ranks products by the `product_stats` online view (its latest row per product),
    which equals the offline build's last day; a product without a row counts 0."""
    from serving.catalog import POPULARITY_COLUMNS, load_catalog, read_popularity
    from serving.engine import DecisionEngine
    from serving.scoring import Scorer

    stats = pd.read_parquet(offline_paths(world.settings).products)
    last = stats[stats[ENTITY_TS] == stats[ENTITY_TS].max()].set_index(s.PRODUCT_ID)
    want = sum(last[c] * w for c, w in POPULARITY_COLUMNS.items())
    assert want.gt(0).sum() > 10, "need popular products to compare"
    engine = DecisionEngine(world.settings, scorer=Scorer(), log_decisions=False)
    try:
        got = {p: prod.popularity for p, prod in engine.catalog.products.items()}
        assert got == pytest.approx(want.to_dict())
        in_stock = [p for p, prod in engine.catalog.products.items() if prod.in_stock]
        assert engine.catalog.popular == sorted(in_stock, key=lambda p: (-want.get(p, 0), p))
    finally:
        engine.close()
    assert read_popularity(engine.store, ["no-such-product"]) == {"no-such-product": 0.0}
    # the online row is what counts: change it, and a new engine ranks that product first
    store = open_store(world.settings)
    row = last.reset_index().iloc[[-1]].copy()
    pid, row["product_purchases_30d"] = row[s.PRODUCT_ID].iloc[0], 10_000
    row[ENTITY_TS] += pd.Timedelta(seconds=1)  # newer than the materialized row
    store.write_to_online_store("product_stats", row)
    try:
        assert read_popularity(store, [pid])[pid] == pytest.approx(
            want[pid] + 10_000 * POPULARITY_COLUMNS["product_purchases_30d"]
            - last.loc[pid, "product_purchases_30d"] * POPULARITY_COLUMNS["product_purchases_30d"])
        assert load_catalog(world.settings.data_dir).products[pid].popularity == 0.0
    finally:
        back = last.reset_index().iloc[[-1]].copy()
        back[ENTITY_TS] += pd.Timedelta(seconds=2)
        store.write_to_online_store("product_stats", back)
