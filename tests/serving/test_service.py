"""The BentoML service over real HTTP: decisions, batch, live events, bad input, API key, and
an online-store outage (Redis behind a TCP proxy that the test cuts)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.dataset import read_dataset
from tests.serving.proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-secret"


@pytest.fixture(scope="module")
def server(trained_world, redis_url):
    """The service on a free port, online store = the machine's Redis through a proxy."""
    from pipelines.feature_steps import apply_step, materialize_step
    from pipelines.train_steps import MODEL_NAMES, promote_step

    settings, _ = trained_world
    promote_step(settings, list(MODEL_NAMES))
    proxy = TcpProxy(("127.0.0.1", 6379))
    redis = f"redis://127.0.0.1:{proxy.port}/0"
    project = f"svc{uuid.uuid4().hex[:8]}"
    svc_settings = replace(settings, online_store=redis, feast_project=project)
    apply_step(svc_settings)
    materialize_step(svc_settings)
    port = _free_port()
    env = {**os.environ, "NBA_DATA_DIR": str(settings.data_dir), "NBA_ONLINE_STORE": redis,
           "NBA_FEAST_PROJECT": project, "NBA_API_KEY": KEY, "NBA_CONTROL_SHARE": "0",
           "NBA_HOME": str(settings.home), "MLFLOW_LOGGING_LEVEL": "ERROR"}
    env.pop("NBA_MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve",
                             "serving.service:NextBestAction", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError("server did not become ready in 180 s")
    ds = read_dataset(settings.data_dir)
    client = httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=30)
    yield client, ds, proxy, settings
    client.close()
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    from features.history import RedisHistory

    RedisHistory("redis://127.0.0.1:6379/0", project).clear()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _now(ds) -> str:
    return ds.end.isoformat()


def test_decision_for_a_known_customer(server) -> None:
    client, ds, _, _ = server
    cid = ds.customers["customer_id"].iloc[5]
    r = client.post("/next_best_action", json={"customer_id": cid, "now": _now(ds)})
    assert r.status_code == 200, r.text
    d = r.json()
    for key in ("decision_id", "customer_id", "action", "variant", "send_at", "offer",
                "recommendations", "scores", "reasons", "model_versions", "control_group",
                "degraded"):
        assert key in d
    assert d["customer_id"] == cid and not d["degraded"]
    assert set(d["model_versions"]) == {"intent", "churn", "send_time", "affinity"}
    assert 0 <= d["scores"]["intent"] <= 1 and d["reasons"]


def test_unknown_customer_gets_a_cold_start_decision(server) -> None:
    client, ds, _, _ = server
    r = client.post("/next_best_action", json={"customer_id": "never-seen", "now": _now(ds)})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["action"] == "none" and "unknown_customer_cold_start" in d["reasons"]
    assert d["recommendations"] and {x["reason"] for x in d["recommendations"]} == {"popular"}


@pytest.mark.parametrize(("body", "fragment"), [
    ({}, "customer_id"),
    ({"customer_id": ""}, "customer_id"),
    ({"customer_id": "c1", "trigger": {"event_type": "teleport"}}, "teleport"),
    ({"customer_id": "c1", "now": "not a time"}, "now"),
    ({"customer_id": "c1", "colour": "blue"}, "colour"),
])
def test_bad_requests_are_4xx_with_a_message(server, body, fragment) -> None:
    client, _, _, _ = server
    r = client.post("/next_best_action", json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert fragment in r.text


def test_malformed_json_and_missing_key(server) -> None:
    client, _, _, _ = server
    r = client.post("/next_best_action", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    anon = httpx.post(str(client.base_url) + "/next_best_action", json={"customer_id": "c1"})
    assert anon.status_code == 401 and "API key" in anon.text
    assert httpx.get(str(client.base_url) + "/readyz").status_code == 200  # probes stay open


def test_batch(server) -> None:
    client, ds, _, _ = server
    ids = ds.customers["customer_id"].iloc[:50].tolist()
    r = client.post("/next_best_action/batch",
                    json={"requests": [{"customer_id": c, "now": _now(ds)} for c in ids]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [d["customer_id"] for d in out] == ids
    assert len({d["decision_id"] for d in out}) == 50


def test_live_cart_event_leads_to_a_cart_reminder(server) -> None:
    client, ds, _, _ = server
    when = ds.end + pd.Timedelta(minutes=5)
    ev = ds.events
    sent = ev[(ev["event_type"] == "email_sent")
              & (ev["timestamp"] > ds.end - pd.Timedelta(days=7))]
    week = sent.groupby("customer_id").size()
    day = sent[sent["timestamp"] > ds.end - pd.Timedelta(days=1)]["customer_id"]
    consented = ds.customers[ds.customers["consent"] & ~ds.customers["unsubscribed"]]
    cid = next(c for c in consented["customer_id"]
               if week.get(c, 0) < 3 and c not in set(day))  # below the frequency caps
    pid = ds.products["product_id"].iloc[0]
    body = {"events": [{"customer_id": cid, "event_type": "add_to_cart",
                        "timestamp": when.isoformat(), "product_id": pid, "price": 300.0,
                        "quantity": 1},
                       {"customer_id": cid, "event_type": "teleport",
                        "timestamp": when.isoformat()}],
            "decide": True}
    r = client.post("/events", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1 and out["rejected"] == 1
    assert "teleport" in out["rejected_reasons"][0]
    d = out["decisions"][0]
    assert d["customer_id"] == cid
    assert "candidate_cart_abandonment:open_cart" in d["reasons"], d["reasons"]
    assert d["recommendations"][0]["product_id"] == pid


def test_outage_gives_degraded_decisions_within_budget(server) -> None:
    """Runs last in this module: it cuts the proxy in front of Redis."""
    client, ds, proxy, _ = server
    cid = ds.customers["customer_id"].iloc[3]
    assert not client.post("/next_best_action", json={"customer_id": cid, "now": _now(ds)}
                           ).json()["degraded"]
    proxy.cut()
    times, bodies = [], []
    for _ in range(5):
        t = time.perf_counter()
        r = client.post("/next_best_action", json={"customer_id": cid, "now": _now(ds)})
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
        bodies.append(r.json())
    assert all(b["degraded"] for b in bodies), [(b["degraded"], b["reasons"]) for b in bodies]
    assert all("store_unavailable_defaults_used" in b["reasons"] for b in bodies)
    assert all(b["action"] == "none" for b in bodies)  # consent unknown: never email blind
    assert sorted(times)[2] < 0.5, times  # median well within a trigger system's budget
    r = client.post("/events", json={"events": [{"customer_id": cid, "event_type":
                                                 "product_view", "product_id": "p00001",
                                                 "timestamp": _now(ds)}]})
    assert r.status_code == 503 and "unavailable" in r.text
