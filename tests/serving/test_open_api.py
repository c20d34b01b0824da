"""Content at open and business events over real HTTP (the service of test_service.py, in
its own Redis namespace): GET /open/{decision_id}, POST /product_events."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import pytest

from features.online.product_events import interested_customers
from tests.serving.test_service import server  # noqa: F401  (the module's service)

pytestmark = pytest.mark.slow  # a real HTTP server on the trained_world fixture


def _consenting_below_caps(ds) -> list[str]:
    ev = ds.events
    sent = ev[(ev["event_type"] == "email_sent")
              & (ev["timestamp"] > ds.end - pd.Timedelta(days=7))]
    week = sent.groupby("customer_id").size()
    day = set(sent[sent["timestamp"] > ds.end - pd.Timedelta(days=1)]["customer_id"])
    ok = ds.customers[ds.customers["consent"] & ~ds.customers["unsubscribed"]]
    return [c for c in ok["customer_id"] if week.get(c, 0) < 3 and c not in day]


def _cart_reminder(client, ds, cid: str, pid: str, minutes: int = 5) -> dict:
    when = ds.end + pd.Timedelta(minutes=minutes)
    r = client.post("/events", json={"events": [{
        "customer_id": cid, "event_type": "add_to_cart", "timestamp": when.isoformat(),
        "product_id": pid, "price": 300.0, "quantity": 1}], "decide": True})
    assert r.status_code == 200, r.text
    return r.json()["decisions"][0]


def _in_stock(ds) -> list[str]:
    return ds.products[ds.products["in_stock"]]["product_id"].tolist()


def test_open_renders_the_email_now_and_records_the_open(server) -> None:  # noqa: F811
    client, ds, _, settings = server
    cid, pid = _consenting_below_caps(ds)[1], _in_stock(ds)[3]
    d = _cart_reminder(client, ds, cid, pid)
    assert d["action"] == "cart_abandonment", d["reasons"]
    at = (ds.end + pd.Timedelta(hours=2)).isoformat()
    r = client.get(f"/open/{d['decision_id']}", params={"now": at})
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["customer_id"] == cid and o["action"] == "cart_abandonment" and not o["degraded"]
    assert o["recommendations"][0]["product_id"] == pid
    assert o["variant"] in ("urgency", "comparison", "educational")
    assert any(x.startswith("open_variant_") for x in o["reasons"]), o["reasons"]
    if d["offer"]["type"] != "none":
        assert o["offer_seconds_left"] > 0 and "open_offer_countdown" in o["reasons"]
    late = (ds.end + pd.Timedelta(days=5)).isoformat()
    expired = client.get(f"/open/{d['decision_id']}", params={"now": late}).json()
    assert expired["offer"]["type"] == "none"
    # the open reaches the live path (batched, in the recorder process: its start-up may
    # still be importing Feast on a busy machine): one event, however many fetches
    log = settings.data_dir / "live" / "events.jsonl"
    needle = f"open-{d['decision_id']}".encode()
    deadline = time.time() + 90
    while time.time() < deadline and needle not in log.read_bytes():
        time.sleep(0.2)
    assert log.read_bytes().count(needle) == 1
    # ... and what each fetch showed is in the open log (written before the live path)
    shown = b"".join(f.read_bytes() for f in (settings.data_dir / "opens").glob("opens-*.jsonl"))
    assert shown.count(f'"decision_id":"{d["decision_id"]}"'.encode()) == 2


def test_out_of_stock_since_the_send_is_removed_at_open(server) -> None:  # noqa: F811
    client, ds, _, _ = server
    cid, pid = _consenting_below_caps(ds)[2], _in_stock(ds)[4]
    d = _cart_reminder(client, ds, cid, pid, minutes=6)
    assert d["recommendations"][0]["product_id"] == pid
    r = client.post("/product_events", json={"events": [{
        "product_id": pid, "event_type": "stock_change", "in_stock": False,
        "timestamp": (ds.end + pd.Timedelta(minutes=30)).isoformat()}]})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    o = client.get(f"/open/{d['decision_id']}",
                   params={"now": (ds.end + pd.Timedelta(hours=1)).isoformat()}).json()
    assert pid in o["removed"] and f"open_removed_out_of_stock:{pid}" in o["reasons"]
    assert pid not in [x["product_id"] for x in o["recommendations"]]
    assert len(o["recommendations"]) >= len(d["recommendations"]) - 1  # back-filled


@pytest.mark.parametrize(("path", "status", "fragment"), [
    ("/open/not-an-id", 400, "decision_id"),
    ("/open/" + "0" * 32, 404, "no email decision"),
    ("/open/" + "0" * 32 + "?now=yesterday", 400, "now"),
    ("/open/" + "0" * 32 + "?now=9999-01-01T00:00:00Z", 400, "out of range"),
])
def test_open_bad_or_unknown_ids_are_4xx(server, path, status, fragment) -> None:  # noqa: F811
    client, _, _, _ = server
    r = client.get(path)
    assert r.status_code == status, (r.status_code, r.text)
    assert fragment in r.json()["error"]


def test_open_needs_the_api_key(server) -> None:  # noqa: F811
    client, _, _, _ = server
    r = httpx.get(f"{client.base_url}/open/{'0' * 32}")
    assert r.status_code == 401 and "API key" in r.text


def test_price_drop_decides_its_audience_through_the_policy(server) -> None:  # noqa: F811
    client, ds, _, _ = server
    window = pd.Timedelta(days=14)
    recent = ds.events[(ds.events["event_type"] == "product_view")
                       & (ds.events["timestamp"] > ds.end - window)]
    stock = set(_in_stock(ds)) - set(_in_stock(ds)[3:5])  # not the cart tests' products
    pid = next(p for p in recent["product_id"].value_counts().index if p in stock)
    want = interested_customers(ds.events, [pid], ds.end, window)
    assert len(want) >= 2
    price = float(ds.products.set_index("product_id").at[pid, "price"])
    at = ds.end.isoformat()
    small = client.post("/product_events", json={"events": [{
        "product_id": pid, "event_type": "price_change", "price": round(price * 0.97, 2),
        "timestamp": at}], "decide": True}).json()
    assert small["triggers"] == [] and small["decisions"] == []  # 3%: below the threshold
    r = client.post("/product_events", json={"events": [{
        "product_id": pid, "event_type": "price_change", "price": round(price * 0.7, 2),
        "timestamp": at}], "decide": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [t["kind"] for t in out["triggers"]] == ["price_drop"]
    assert out["audience"] == len(want)
    assert {d["customer_id"] for d in out["decisions"]} == set(want["customer_id"])
    ev = ds.events
    bought = set(ev[(ev["event_type"] == "purchase") & (ev["product_id"] == pid)
                    & (ev["timestamp"] > ds.end - pd.Timedelta(days=90))]["customer_id"])
    blocked = {"no_consent", "unsubscribed", "cap_day_reached", "cap_week_reached",
               "consent_unknown"}
    for d in out["decisions"]:  # each decided by the policy: blocked, bought, or a candidate
        assert (f"candidate_price_drop:{pid}" in d["reasons"] or blocked & set(d["reasons"])
                or d["customer_id"] in bought), d["reasons"]
    assert any(f"candidate_price_drop:{pid}" in d["reasons"] for d in out["decisions"])
    sent = [d for d in out["decisions"] if d["action"] == "price_drop"]
    for d in sent:
        assert d["recommendations"][0] == {"product_id": pid, "score": 1.0,
                                           "reason": "price_drop"}


def test_product_events_bad_rows_and_limits(server) -> None:  # noqa: F811
    client, _, _, _ = server
    r = client.post("/product_events", json={"events": [
        {"product_id": "p1", "event_type": "price_change"},
        {"product_id": "p1", "event_type": "teleport"},
        {"product_id": "p1", "event_type": "stock_change", "in_stock": "yes"}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (0, 3)
    text = " ".join(out["rejected_reasons"])
    for fragment in ("row 0: price: missing", "row 1: event_type: unknown 'teleport'",
                     "row 2: in_stock: expected true or false"):
        assert fragment in text, text
    assert client.post("/product_events", json={"events": []}).status_code == 400
    too_many = [{"product_id": "p1", "event_type": "stock_change", "in_stock": True}] * 1001
    assert client.post("/product_events", json={"events": too_many}).status_code == 400
    assert client.post("/product_events", json={"events": [{}], "decide": 1}).status_code == 400


def test_outage_open_and_product_events_answer_503_within_budget(server) -> None:  # noqa: F811
    """Runs last in this module: it cuts the proxy in front of Redis (index, product state)."""
    client, ds, proxy, _ = server
    cid, pid = _consenting_below_caps(ds)[5], _in_stock(ds)[6]
    d = _cart_reminder(client, ds, cid, pid, minutes=8)
    proxy.cut()
    times = []
    for _ in range(4):
        t = time.perf_counter()
        r = client.get(f"/open/{d['decision_id']}")
        times.append(time.perf_counter() - t)
        assert r.status_code == 503 and r.headers.get("retry-after") == "10", r.text
        assert "redis://" not in r.text and "127.0.0.1" not in r.text
    assert max(times) < 2.0 and sorted(times)[1] < 0.5, times  # then the breaker answers
    r = client.post("/product_events", json={"events": [
        {"product_id": pid, "event_type": "stock_change", "in_stock": True}]})
    assert r.status_code == 503 and r.headers.get("retry-after") == "10", r.text
