"""Reliability: the engine starts and answers without its store, a hung store costs a bounded
time, bugs are not dressed up as outages, and `nba serve` is the server process itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.sources.dataset import read_dataset
from serving.schemas import DecisionRequest
from tests.serving.proxy import ToggleProxy

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_world(trained_world, redis_url):
    """The trained world's features materialized into the machine's Redis (own project)."""
    from pipelines.feature_steps import apply_step, materialize_step
    from pipelines.train_steps import promote_step
    from training.model_specs import DATASET_MODELS

    settings, _ = trained_world
    promote_step(settings, list(DATASET_MODELS))
    project = f"rel{uuid.uuid4().hex[:8]}"
    real = replace(settings, online_store=redis_url, feast_project=project,
                   control_share=0.0)
    apply_step(real)
    materialize_step(real)
    yield real
    from features.online.history import RedisHistory

    RedisHistory(redis_url, project).clear()


def _request(ds, cid: str) -> DecisionRequest:
    return DecisionRequest(customer_id=cid, now=ds.end.to_pydatetime())


@pytest.mark.slow
def test_engine_starts_without_the_store_answers_degraded_and_recovers(redis_world) -> None:
    from serving.engine import DecisionEngine

    port = _free_port()  # nothing listens here yet
    down = replace(redis_world, online_store=f"redis://127.0.0.1:{port}/0")
    t = time.perf_counter()
    engine = DecisionEngine(down, log_decisions=False)
    assert time.perf_counter() - t < 30
    ready, why = engine.readiness()
    assert not ready and f"redis://127.0.0.1:{port}" in why and "unavailable" in why
    ds = read_dataset(redis_world.data_dir)
    cid = ds.customers["customer_id"].iloc[4]
    d = engine.decide(_request(ds, cid))
    assert d.degraded and "store_unavailable_defaults_used" in d.reasons
    with pytest.raises(Exception, match="unavailable"):
        engine.ingest([{"customer_id": cid, "event_type": "product_view", "product_id": "p1",
                        "timestamp": ds.end.isoformat()}])
    proxy = ToggleProxy(("127.0.0.1", 6379), port=port)  # the store comes back
    try:
        engine._retry_at = 0.0  # the cool-down has passed
        assert engine.readiness() == (True, "ready")
        assert not engine.decide(_request(ds, cid)).degraded
    finally:
        proxy.cut()
        engine.close()


@pytest.mark.slow
def test_a_hung_store_costs_a_bounded_time_and_keeps_the_events(redis_world) -> None:
    from serving.engine import DecisionEngine

    proxy = ToggleProxy(("127.0.0.1", 6379))
    engine = DecisionEngine(replace(redis_world, online_store=f"redis://127.0.0.1:"
                                    f"{proxy.port}/0"), log_decisions=False)
    ds = read_dataset(redis_world.data_dir)
    cid = ds.customers["customer_id"].iloc[6]
    try:
        assert not engine.decide(_request(ds, cid)).degraded
        event = {"customer_id": cid, "event_type": "product_view", "product_id": "p00001",
                 "timestamp": ds.end.isoformat()}
        engine.ingest([event])  # the live path is up
        proxy.set("hang")  # accepts, never answers
        times = []
        for _ in range(6):
            t = time.perf_counter()
            d = engine.decide(_request(ds, cid))
            times.append(time.perf_counter() - t)
            assert d.degraded
        assert max(times) < 1.5 and sorted(times)[3] < 0.1, times  # then the breaker answers
        log = redis_world.data_dir / "live" / "events.jsonl"
        before = log.read_bytes().count(b"\n")
        t = time.perf_counter()
        with pytest.raises(Exception, match="kept in the live event log"):
            engine.ingest([{**event, "product_id": "p00002"}])
        assert time.perf_counter() - t < 5.0
        assert log.read_bytes().count(b"\n") == before + 1  # kept for replay
    finally:
        proxy.cut()
        engine.close()


@pytest.mark.slow
def test_bugs_are_not_reported_as_outages(trained_world, monkeypatch) -> None:
    from serving.engine import DecisionEngine

    settings, _ = trained_world
    engine = DecisionEngine(settings, log_decisions=False)
    ds = read_dataset(settings.data_dir)
    cid = ds.customers["customer_id"].iloc[1]

    def bug(*_a, **_k):
        raise KeyError("a programming error")

    monkeypatch.setattr(engine.online, "read", bug)
    with pytest.raises(KeyError):
        engine.decide(_request(ds, cid))

    def outage(*_a, **_k):
        raise ConnectionError("store gone")

    monkeypatch.setattr(engine.online, "read", outage)
    assert engine.decide(_request(ds, cid)).degraded
    engine.close()


@pytest.mark.slow
def test_nba_serve_starts_without_the_store_reports_why_and_stops_on_sigterm(
        trained_world, tmp_path) -> None:
    """`nba serve` becomes the server process (exec): SIGTERM stops it and frees the port;
    with the online store down it still starts, answers degraded decisions and says why it is
    not ready."""
    settings, _ = trained_world
    port, dead = _free_port(), _free_port()
    env = {**os.environ, "NBA_DATA_DIR": str(settings.data_dir), "NBA_HOME": str(tmp_path),
           "NBA_ONLINE_STORE": f"redis://127.0.0.1:{dead}/0", "NBA_WORKERS": "1",
           "NBA_FEAST_PROJECT": f"dead{uuid.uuid4().hex[:6]}"}
    env.pop("NBA_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port",
                             str(port), "--no-compile"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            assert proc.poll() is None, "the server exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            raise AssertionError("no /healthz in 180 s")
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503 and "online store" in ready.json()["reason"]
        ds = read_dataset(settings.data_dir)
        r = httpx.post(f"{base}/next_best_action", timeout=10, json={
            "customer_id": ds.customers["customer_id"].iloc[0], "now": ds.end.isoformat()})
        assert r.status_code == 200 and r.json()["degraded"]
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        assert b"bentoml" in cmdline and b"pipelines.cli" not in cmdline  # exec'd
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    time.sleep(0.5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=2)


def test_quiet_hours_win_over_the_minimum_gap() -> None:
    """Decided 21:30 local with the last email 9 h earlier: the 12 h gap ends at 00:30, inside
    quiet hours, so the send moves to 07:00."""
    from datetime import UTC, datetime

    from serving.policy import PolicyConfig, PolicyInputs, Scores
    from serving.policy.timing import send_time
    from serving.schemas import Action

    now = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
    inp = PolicyInputs("c1", now, {"utc_offset_hours": 0.0,
                                   "last_email_sent_ts": now.timestamp() - 9 * 3600},
                       Scores())
    at, reasons = send_time(Action.CART_ABANDONMENT, inp, PolicyConfig())
    assert at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC), (at, reasons)
    assert {"min_gap_delay", "quiet_hours_shift"} <= set(reasons)


def test_feature_store_yaml_holds_no_password(tmp_path) -> None:
    from features.online.store import repo_config_dict
    from features.settings import Settings

    settings = Settings.from_env(env={}, data_dir=tmp_path / "d",
                                 online_store="redis://:s3cret@127.0.0.1:6379/0")
    on_disk = repo_config_dict(settings, secret=False)["online_store"]["connection_string"]
    assert "s3cret" not in on_disk and "${NBA_REDIS_PASSWORD}" in on_disk
    assert "s3cret" in repo_config_dict(settings)["online_store"]["connection_string"]


def test_force_promote_without_any_version_is_a_message(tmp_path) -> None:
    from features.settings import Settings
    from training.promote import force_promote
    from training.tracking import configure

    client = configure(Settings.from_env(env={}, data_dir=tmp_path / "empty"))
    p = force_promote(client, "intent")
    assert not p.promoted and "no registered version" in p.reason


def test_timestamps_far_out_of_range_are_4xx_material() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="out of range"):
        DecisionRequest(customer_id="c1", now="9999-12-31T00:00:00Z")
    with pytest.raises(ValidationError):
        DecisionRequest(customer_id="c1", consent=0)  # a bool must be a bool
    assert pd.Timestamp(DecisionRequest(customer_id="c1", now="1997-05-01T00:00:00Z").now).year \
        == 1997


def test_overload_is_shed_fast_with_retry_after(monkeypatch):
    """Overload answers a fast 503 + Retry-After instead of queueing; the accepted requests and
    the probes are untouched, and capacity comes back when requests finish."""
    import asyncio

    from serving.guards import LoadShedding

    monkeypatch.setenv("NBA_MAX_IN_FLIGHT", "2")
    monkeypatch.setenv("NBA_MAX_QUEUE_MS", "60000")  # the queue-time bound: next test
    gate: dict[str, asyncio.Event] = {}

    async def slow_app(scope, receive, send) -> None:
        await gate["release"].wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def call(app, path: str) -> tuple[int, dict[bytes, bytes]]:
        out: dict = {}

        async def send(message) -> None:
            if message["type"] == "http.response.start":
                out["status"], out["headers"] = message["status"], dict(message["headers"])

        async def receive():
            return {"type": "http.request", "body": b"{}", "more_body": False}

        await app({"type": "http", "path": path, "method": "POST", "headers": []}, receive, send)
        return out["status"], out["headers"]

    async def scenario() -> None:
        release = gate["release"] = asyncio.Event()
        app = LoadShedding(slow_app)
        held = [asyncio.create_task(call(app, "/next_best_action")) for _ in range(2)]
        await asyncio.sleep(0.01)
        t = time.perf_counter()
        status, headers = await asyncio.wait_for(call(app, "/next_best_action"), 1.0)
        assert status == 503 and headers[b"retry-after"] == b"1"
        assert time.perf_counter() - t < 0.05
        probe = asyncio.create_task(call(app, "/healthz"))  # probes are never shed
        await asyncio.sleep(0.01)
        assert not probe.done()  # waiting on the (slow) app, not refused
        release.set()
        assert [s for s, _ in await asyncio.gather(*held, probe)] == [200, 200, 200]
        assert (await call(app, "/events"))[0] == 200
        assert app.in_flight == 0 and app.shed == 1

    asyncio.run(scenario())
    # a request that waited past NBA_MAX_QUEUE_MS for its turn is shed, not decided late
    monkeypatch.setenv("NBA_MAX_QUEUE_MS", "20")

    async def slow_turns() -> None:
        app = LoadShedding(slow_app)
        release = gate["release"] = asyncio.Event()
        first = asyncio.create_task(call(app, "/next_best_action"))
        waiting = asyncio.create_task(call(app, "/next_best_action"))
        await asyncio.sleep(0.05)
        release.set()
        assert (await first)[0] == 200
        status, headers = await waiting
        assert status == 503 and headers[b"retry-after"] == b"1"
        assert (await call(app, "/next_best_action"))[0] == 200  # no wait: decided

    asyncio.run(slow_turns())
