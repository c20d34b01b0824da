"""Product events: validation row by row, triggers against the prior state, the audience."""

from __future__ import annotations

import pandas as pd
import pytest

from features.online.product_events import (
    BACK_IN_STOCK,
    PRICE_DROP,
    ProductState,
    SqliteProductState,
    detect_triggers,
    interested_customers,
    validate_product_events,
)

NOW = pd.Timestamp("2026-06-01T12:00:00Z")


@pytest.mark.parametrize(("row", "fragment"), [
    ({"event_type": "price_change", "price": 3.0}, "product_id: missing"),
    ({"product_id": "  ", "event_type": "price_change", "price": 3.0}, "product_id"),
    ({"product_id": "p1", "event_type": "teleport"}, "unknown 'teleport'"),
    ({"product_id": "p1", "event_type": "price_change"}, "price: missing"),
    ({"product_id": "p1", "event_type": "price_change", "price": -1}, "0 < price"),
    ({"product_id": "p1", "event_type": "price_change", "price": True}, "expected a number"),
    ({"product_id": "p1", "event_type": "stock_change", "in_stock": "yes"}, "true or false"),
    ({"product_id": "p1", "event_type": "stock_change", "in_stock": True,
      "timestamp": "2027-01-01T00:00:00Z"}, "in the future"),
    ({"product_id": "p1", "event_type": "stock_change", "in_stock": True,
      "timestamp": 1767225600}, "ISO 8601"),
    ({"product_id": "p1", "event_type": "stock_change", "in_stock": True, "colour": 1},
     "colour: unknown field"),
    ("not an object", "expected an object"),
])
def test_bad_rows_are_refused_with_a_reason(row, fragment) -> None:
    ok = {"product_id": "p2", "event_type": "stock_change", "in_stock": False}
    valid, rejects = validate_product_events([ok, row], now=NOW)
    assert [c.product_id for c in valid] == ["p2"]
    assert len(rejects) == 1 and rejects[0][0] == 1 and fragment in rejects[0][1], rejects


def test_price_drop_at_the_threshold_and_restock_only_from_out_of_stock() -> None:
    rows = [
        {"product_id": "a", "event_type": "price_change", "price": 90.0,
         "timestamp": "2026-06-01T10:00:00Z"},  # exactly 10% off 100
        {"product_id": "b", "event_type": "price_change", "price": 95.0},  # 5% off: no
        {"product_id": "c", "event_type": "stock_change", "in_stock": True},  # was out
        {"product_id": "d", "event_type": "stock_change", "in_stock": True},  # was in
        {"product_id": "e", "event_type": "price_change", "price": 50.0},  # price unknown
    ]
    changes, rejects = validate_product_events(rows, now=NOW)
    assert not rejects
    before = {"a": ProductState(100.0, True), "b": ProductState(100.0, True),
              "c": ProductState(30.0, False), "d": ProductState(30.0, True)}
    triggers, after = detect_triggers(changes, before, min_drop=0.10)
    assert [(t.kind, t.product_id) for t in triggers] == [(PRICE_DROP, "a"),
                                                          (BACK_IN_STOCK, "c")]
    assert triggers[0].drop == pytest.approx(0.10) and triggers[1].price == 30.0
    assert after["a"].price == 90.0 and after["c"].in_stock is True and after["e"].price == 50.0


def test_a_stale_change_is_ignored() -> None:
    changes, _ = validate_product_events([{"product_id": "a", "event_type": "price_change",
                                           "price": 10.0, "timestamp": "2026-05-01T00:00:00Z"}],
                                         now=NOW)
    before = {"a": ProductState(100.0, True, NOW.timestamp())}
    triggers, after = detect_triggers(changes, before, min_drop=0.10)
    assert triggers == [] and after["a"].price == 100.0


def test_audience_viewed_or_carted_in_window_and_not_bought_since() -> None:
    def ev(c, t, p, hours_ago):
        return {"customer_id": c, "event_type": t, "product_id": p,
                "timestamp": NOW - pd.Timedelta(hours=hours_ago)}

    events = pd.DataFrame([
        ev("viewer", "product_view", "a", 5),
        ev("carter", "product_view", "a", 30), ev("carter", "add_to_cart", "a", 20),
        ev("buyer", "add_to_cart", "a", 10), ev("buyer", "purchase", "a", 8),
        ev("rebuyer", "purchase", "a", 100), ev("rebuyer", "product_view", "a", 3),
        ev("old", "product_view", "a", 24 * 20),
        ev("other", "product_view", "b", 2),
        ev("later", "product_view", "a", -2),  # after the trigger
    ])
    out = interested_customers(events, ["a"], NOW, pd.Timedelta(days=14))
    assert out["customer_id"].tolist() == ["rebuyer", "viewer", "carter"]
    assert dict(zip(out["customer_id"], out["interest"], strict=True)) == {
        "rebuyer": "view", "viewer": "view", "carter": "cart"}


def test_sqlite_state_round_trip_and_version(tmp_path) -> None:
    store = SqliteProductState(tmp_path / "state.db")
    assert store.get_all() == {} and store.version() == 0
    store.put({"a": ProductState(9.5, None, 1.0)})
    store.put({"b": ProductState(None, False, 2.0)})
    other = SqliteProductState(tmp_path / "state.db")  # another process sees the same
    assert other.get_all() == {"a": ProductState(9.5, None, 1.0),
                               "b": ProductState(None, False, 2.0)}
    assert other.version() == 2
