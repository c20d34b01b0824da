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

from features.sources.dataset import read_dataset
from tests.serving.proxy import TcpProxy

pytestmark = pytest.mark.slow  # a real HTTP server on the trained_world fixture

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-secret"


@pytest.fixture(scope="module")
def server(trained_world, redis_url):
    """The service on a free port, online store = the machine's Redis through a proxy."""
    from pipelines.feature_steps import apply_step, materialize_step
    from pipelines.train_steps import promote_step
    from training.model_specs import DATASET_MODELS

    settings, _ = trained_world
    promote_step(settings, list(DATASET_MODELS))
    proxy = TcpProxy(("127.0.0.1", 6379))
    redis = f"redis://127.0.0.1:{proxy.port}/0"
    project = f"svc{uuid.uuid4().hex[:8]}"
    svc_settings = replace(settings, online_store=redis, feast_project=project)
    apply_step(svc_settings)
    materialize_step(svc_settings)
    port = _free_port()
    env = {**os.environ, "NBA_DATA_DIR": str(settings.data_dir), "NBA_ONLINE_STORE": redis,
           "NBA_FEAST_PROJECT": project, "NBA_API_KEY": KEY, "NBA_CONTROL_SHARE": "0",
           "NBA_HOME": str(settings.home), "MLFLOW_LOGGING_LEVEL": "ERROR",
           "NBA_WORKERS": "1", "NBA_MAX_BODY_MB": "0.5"}
    env.pop("NBA_MLFLOW_TRACKING_URI", None)
    log_path = settings.home / f"server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve",
                             "serving.service:NextBestAction", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
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
    client.log_path = log_path  # type: ignore[attr-defined]
    yield client, ds, proxy, settings
    client.close()
    log_file.close()
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    from features.online.history import RedisHistory

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


@pytest.mark.parametrize(("body", "fragment"), [
    ({"customer_id": "c1", "now": "9999-12-31T00:00:00Z"}, "out of range"),
    ({"customer_id": "c1", "now": 1767225600}, "ISO 8601"),
    ({"customer_id": "c1", "consent": 0}, "consent"),
    ({"customer_id": "\f"}, "customer_id"),
])
def test_hostile_decision_requests_are_4xx(server, body, fragment) -> None:
    client, _, _, _ = server
    r = client.post("/next_best_action", json=body)
    assert r.status_code == 400, (r.status_code, r.text)
    assert fragment in r.text


def test_guards_content_type_size_auth_and_batch_caps(server) -> None:
    client, _, _, _ = server
    base = str(client.base_url)
    r = client.post("/next_best_action", content=b"--x\r\n", headers={
        "content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 415 and "application/json" in r.text
    big = {"customer_id": "c1", "pad": "x" * 600_000}
    assert client.post("/next_best_action", json=big).status_code == 413
    assert httpx.post(f"{base}/next_best_action", json={"customer_id": "c1"},
                      headers={"Authorization": KEY}).status_code == 401  # no "Bearer "
    assert httpx.post(f"{base}/next_best_action", json={"customer_id": "c1"}, timeout=30,
                      headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    too_many = {"requests": [{"customer_id": "c1"}] * 1001}
    assert client.post("/next_best_action/batch", json=too_many).status_code == 400
    events = [{"customer_id": "c1", "event_type": "search"}] * 1001
    assert client.post("/events", json={"events": events}).status_code == 400
    assert client.post("/events", json={"events": events[:2], "decide": 0}).status_code == 400
    assert httpx.post(f"{base}/readyz", timeout=5).status_code == 405


def test_bad_event_rows_are_rejected_row_by_row(server) -> None:
    client, ds, _, _ = server
    cid = ds.customers["customer_id"].iloc[7]
    when = (ds.end + pd.Timedelta(minutes=3)).isoformat()
    r = client.post("/events", json={"events": [
        {"customer_id": cid},  # no event_type, no timestamp
        {"customer_id": cid, "event_type": "product_view", "product_id": "p1",
         "timestamp": True},
        {"customer_id": {"a": 1}, "event_type": "search", "timestamp": when},
        {"customer_id": cid, "event_type": "purchase", "product_id": "p1", "price": 1.0,
         "quantity": 1e30, "timestamp": when},
        {"customer_id": cid, "event_type": "search", "timestamp": when,
         "junk": -18446744073709551617},
    ]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (1, 4)
    text = " ".join(out["rejected_reasons"])
    for fragment in ("event_type: missing", "timestamp: missing", "cannot parse 'True'",
                     "customer_id: expected text", "quantity: more than"):
        assert fragment in text, (fragment, text)


def test_client_errors_log_one_line_not_a_traceback(server) -> None:
    client, _, _, _ = server
    for body in ({}, {"customer_id": "c1", "colour": "blue"}):
        assert client.post("/next_best_action", json=body).status_code == 400
    log = client.log_path.read_text()
    assert "client error ValidationError" in log
    assert "Traceback" not in log


def test_openapi_spec_holds_against_schemathesis(server) -> None:
    """Generated requests (bounded) never get a 5xx, and every answer matches the spec."""
    client, _, _, _ = server
    r = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run",
                        f"{client.base_url}/docs.json", "--max-examples", "25",
                        "--checks", "all", "--seed", "7", "-H", f"X-API-Key: {KEY}",
                        "--request-timeout", "20"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


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
    assert r.headers.get("retry-after") == "10"
    assert "redis://" not in r.text and "127.0.0.1" not in r.text and "/tmp" not in r.text
