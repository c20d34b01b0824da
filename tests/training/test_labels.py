"""Labels on hand-built timelines, snapshot schedules and split hygiene."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from features import schema as s
from training.labels import (
    affinity_labels,
    churn_labels,
    intent_labels,
    send_time_labels,
    send_time_source,
    snapshot_times,
)
from training.splits import SplitError, split_by_time

T = pd.Timestamp("2026-03-10", tz="UTC")


def ev(c: str, kind: str, days: float, product: str | None = None) -> dict:
    return {s.CUSTOMER_ID: c, s.EVENT_TYPE: kind, s.EVENT_TS: T + pd.Timedelta(days=days),
            s.PRODUCT_ID: product}


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


CUSTOMERS = pd.DataFrame({
    s.CUSTOMER_ID: ["buys_soon", "buys_late", "bought_before", "new_later"],
    s.SIGNUP_TS: [T - pd.Timedelta(days=100)] * 3 + [T + pd.Timedelta(days=1)],
})


def test_intent_is_a_purchase_within_seven_days_after_the_snapshot() -> None:
    events = frame([
        ev("buys_soon", "purchase", 3, "p1"),
        ev("buys_late", "purchase", 8, "p1"),
        ev("bought_before", "purchase", -1, "p1"),
        ev("new_later", "signup", 1),
        ev("new_later", "purchase", 2, "p1"),
    ])
    lab = intent_labels(events, CUSTOMERS, [T]).set_index(s.CUSTOMER_ID)["label"]
    assert lab.to_dict() == {"buys_soon": 1, "buys_late": 0, "bought_before": 0}
    # the window edge: exactly 7 days after counts, a second later does not
    edge = frame([ev("buys_soon", "purchase", 7), ev("buys_late", "purchase", 7 + 1 / 86400)])
    lab = intent_labels(edge, CUSTOMERS, [T]).set_index(s.CUSTOMER_ID)["label"]
    assert lab["buys_soon"] == 1 and lab["buys_late"] == 0


def test_churn_needs_activity_before_and_silence_after() -> None:
    events = frame([
        ev("quiet", "product_view", -10, "p1"),
        ev("opens_mail", "product_view", -5, "p1"), ev("opens_mail", "email_open", 30),
        ev("buys", "purchase", -50, "p1"), ev("buys", "purchase", 59, "p1"),
        ev("long_gone", "product_view", -61, "p1"),  # not active in the 60 days before
        ev("only_sent", "product_view", -3, "p1"), ev("only_sent", "email_sent", 10),
    ])
    lab = churn_labels(events, [T]).set_index(s.CUSTOMER_ID)["label"]
    assert lab.to_dict() == {"buys": 0, "only_sent": 1, "opens_mail": 0, "quiet": 1}


def test_send_time_is_the_hour_of_the_next_open_with_fallbacks() -> None:
    events = frame([
        ev("a", "email_open", 1.25),  # 06:00 UTC
        ev("a", "email_open", 2.5),  # later open: ignored
        ev("a", "product_view", 0.1, "p1"),
        ev("b", "email_open", -1),  # before the snapshot only
    ])
    lab = send_time_labels(events, [T])
    assert lab.set_index(s.CUSTOMER_ID)["hour"].to_dict() == {"a": 6}
    no_email = frame([ev("a", "product_view", 0.5, "p1"), ev("a", "purchase", 0.75, "p1")])
    assert send_time_source(no_email)[0] != "email_open"
    assert send_time_labels(no_email, [T]).iloc[0]["hour"] == 12  # first site event
    only_buys = frame([ev("a", "purchase", 0.75, "p1")])
    assert send_time_source(only_buys) == ("purchase",)


def test_affinity_weights_views_carts_purchases() -> None:
    events = frame([
        ev("a", "product_view", 1, "p1"), ev("a", "add_to_cart", 1.1, "p1"),
        ev("a", "purchase", 1.2, "p1"), ev("a", "product_view", 2, "p2"),
        ev("a", "product_view", 9, "p3"),  # after the 7-day window
        ev("a", "product_view", -1, "p4"),  # before the snapshot
    ])
    lab = affinity_labels(events, T).set_index(s.PRODUCT_ID)["weight"]
    assert lab.to_dict() == {"p1": 9.0, "p2": 1.0}


def test_snapshots_leave_room_for_the_label_window() -> None:
    start, end = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-06-30", tz="UTC")
    times = snapshot_times(start, end, pd.Timedelta(days=60))
    assert times[-1] + pd.Timedelta(days=60) <= end
    assert times[0] >= start + pd.Timedelta(days=28)
    assert all(b - a == pd.Timedelta(days=7) for a, b in itertools.pairwise(times))


@pytest.mark.parametrize("horizon_days", [7, 30, 60])
def test_split_never_lets_training_labels_see_the_test_period(horizon_days: int) -> None:
    h = pd.Timedelta(days=horizon_days)
    times = snapshot_times(pd.Timestamp("2026-01-01", tz="UTC"),
                           pd.Timestamp("2026-09-01", tz="UTC"), h)
    sp = split_by_time(times, h)
    first_test = min(sp.test)
    assert max(sp.train) < min(sp.val) < first_test
    assert all(t + h <= first_test for t in (*sp.train, *sp.val))
    assert set(sp.train) | set(sp.val) | set(sp.test) <= set(times)


def test_split_grows_the_test_period_on_small_data_and_refuses_too_little() -> None:
    h = pd.Timedelta(days=7)
    times = snapshot_times(pd.Timestamp("2026-01-01", tz="UTC"),
                           pd.Timestamp("2026-06-01", tz="UTC"), h)
    sp = split_by_time(times, h, rows=dict.fromkeys(times, 300), min_test_rows=1000)
    assert len(sp.test) == 4 and all(t + h <= min(sp.test) for t in (*sp.train, *sp.val))
    with pytest.raises(SplitError, match="at least 3 snapshots"):
        split_by_time(times[:2], h)
    with pytest.raises(SplitError, match="label window closes"):
        split_by_time(times[-3:], pd.Timedelta(days=60))


def test_lapse_churn_is_no_purchase_among_earlier_buyers() -> None:
    from training.labels import lapse_labels

    events = frame([
        ev("buys_again", "purchase", -30, "p1"), ev("buys_again", "purchase", 20, "p1"),
        ev("lapses", "purchase", -200, "p1"),
        ev("edge", "purchase", -1, "p1"), ev("edge", "purchase", 60, "p1"),
        ev("first_after", "purchase", 5, "p1"),
    ])
    lab = lapse_labels(events, [T], pd.Timedelta(days=60)).set_index(s.CUSTOMER_ID)["label"]
    # a buyer from long ago is in the population (no activity window), a first purchase after
    # T is not; a purchase exactly at T + 60 days still counts as buying again
    assert lab.to_dict() == {"buys_again": 0, "edge": 0, "lapses": 1}
