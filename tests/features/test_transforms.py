"""Feature transforms: exact values on a hand-built timeline, and point-in-time correctness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import schema as s
from features.sources.dataset import Dataset
from features.transforms import (
    ENTITY_TS,
    REQUEST_TS,
    activity_feature_names,
    customer_activity_rows,
    customer_items,
    product_stats_rows,
    request_context,
)

T0 = pd.Timestamp("2026-03-02 08:00", tz="UTC")


def ev(minutes: float, etype: str, product: str | None = None, price: float = np.nan,
       qty: int = 0, customer: str = "c1") -> dict:
    return {s.CUSTOMER_ID: customer, s.EVENT_TYPE: etype,
            s.EVENT_TS: T0 + pd.Timedelta(minutes=minutes), s.PRODUCT_ID: product,
            s.PRICE: price, s.QUANTITY: qty}


TIMELINE = pd.DataFrame([
    ev(0, "product_view", "p1", 10.0),
    ev(30, "product_view", "p2", 20.0),
    ev(45, "add_to_cart", "p1", 10.0, 2),
    ev(50, "add_to_cart", "p2", 20.0, 1),
    ev(55, "remove_from_cart", "p2", 20.0, 1),
    ev(24 * 60 + 60, "email_sent"),
    ev(24 * 60 + 90, "email_open"),
    ev(3 * 24 * 60, "purchase", "p1", 10.0, 2),
    ev(3 * 24 * 60 + 5, "product_view", "p3", 5.0, customer="c2"),
    ev(40 * 24 * 60, "product_view", "p3", 5.0),
])


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return customer_activity_rows(TIMELINE).set_index([s.CUSTOMER_ID, ENTITY_TS])


def at(rows: pd.DataFrame, minutes: float, customer: str = "c1") -> pd.Series:
    return rows.loc[(customer, T0 + pd.Timedelta(minutes=minutes))]


def test_window_counts_and_cart(rows: pd.DataFrame) -> None:
    r = at(rows, 55)
    assert r["views_1h"] == 2 and r["cart_adds_1h"] == 2 and r["site_events_24h"] == 5
    assert r["cart_value"] == pytest.approx(20.0)  # p1 x2 kept; p2 added then removed
    assert r["cart_items"] == 2
    r = at(rows, 24 * 60 + 90)  # next day: the 1h window emptied, 24h still holds the cart
    assert r["views_1h"] == 0 and r["views_24h"] == 0 and r["views_7d"] == 2
    assert r["emails_sent_24h"] == 1 and r["email_opens_30d"] == 1
    assert r["email_open_rate_90d"] == pytest.approx(1.0)
    assert r["cart_value"] == pytest.approx(20.0)


def test_purchase_closes_the_cart_and_sets_recency(rows: pd.DataFrame) -> None:
    r = at(rows, 3 * 24 * 60)
    assert r["cart_value"] == 0 and r["cart_items"] == 0
    assert r["purchases_7d"] == 1 and r["spend_7d"] == pytest.approx(20.0)
    assert r["last_purchase_ts"] == (T0 + pd.Timedelta(days=3)).timestamp()
    assert r["last_cart_add_ts"] == (T0 + pd.Timedelta(minutes=50)).timestamp()


def test_windows_expire_and_customers_do_not_mix(rows: pd.DataFrame) -> None:
    r = at(rows, 40 * 24 * 60)
    assert r["purchases_30d"] == 0 and r["purchases_90d"] == 1 and r["views_30d"] == 1
    assert r["spend_30d"] == 0 and r["spend_90d"] == pytest.approx(20.0)
    c2 = at(rows, 3 * 24 * 60 + 5, "c2")
    assert c2["views_30d"] == 1 and c2["purchases_90d"] == 0 and np.isnan(c2["last_purchase_ts"])


def test_every_row_equals_a_rebuild_from_events_up_to_its_time(sim_dataset: Dataset) -> None:
    """Point-in-time correctness: row(t) only depends on events at or before t."""
    ev_all = sim_dataset.events
    some = ev_all[s.CUSTOMER_ID].drop_duplicates().sample(40, random_state=1)
    ev_some = ev_all[ev_all[s.CUSTOMER_ID].isin(some)]
    full = customer_activity_rows(ev_some)
    probe = full.sample(25, random_state=2)
    names = activity_feature_names()
    for _, row in probe.iterrows():
        t = row[ENTITY_TS]
        past = ev_some[(ev_some[s.CUSTOMER_ID] == row[s.CUSTOMER_ID]) & (ev_some[s.EVENT_TS] <= t)]
        rebuilt = customer_activity_rows(past).iloc[-1]
        assert rebuilt[ENTITY_TS] == t
        pd.testing.assert_series_equal(rebuilt[names].astype(float), row[names].astype(float),
                                       check_names=False)


def test_items_lists_and_hour_histograms() -> None:
    it = customer_items(TIMELINE, as_of=T0 + pd.Timedelta(minutes=60)).set_index(s.CUSTOMER_ID)
    assert it.loc["c1", "cart_products"] == ["p1"]
    assert it.loc["c1", "recent_views"] == ["p2", "p1"]
    assert list(it.index) == ["c1"]  # c2 had no event yet
    later = customer_items(TIMELINE).set_index(s.CUSTOMER_ID)
    assert later.loc["c1", "cart_products"] == []
    assert later.loc["c1", "recent_purchases"] == ["p1"]
    assert later.loc["c1", "recent_views"] == ["p3"]  # older views left the 30-day window
    assert later.loc["c1", "open_hour_hist"][9] == 1  # opened at 09:30 UTC, within 90 days


def test_request_context_hours_since() -> None:
    now = (T0 + pd.Timedelta(hours=5)).timestamp()
    inputs = {REQUEST_TS: [now], "last_event_ts": [T0.timestamp()], "last_site_ts": [np.nan],
              "last_view_ts": [T0.timestamp()], "last_cart_add_ts": [np.nan],
              "last_purchase_ts": [np.nan], "last_email_sent_ts": [np.nan],
              "last_email_open_ts": [np.nan], "last_email_click_ts": [np.nan],
              "signup_ts": [np.nan], "profile_signup_ts": [T0.timestamp() - 86_400 * 2],
              "cart_items": [1], "utc_offset_hours": [-5.0], "first_purchase_ts": [np.nan],
              "purchase_days_total": [0], "purchase_lines_total": [0], "units_total": [0],
              "spend_total": [0], "purchase_gap_sq_total": [0], "engagement_decayed": [np.nan]}
    out = request_context(inputs)
    assert out["hours_since_last_view"][0] == pytest.approx(5.0)
    assert np.isnan(out["hours_since_last_purchase"][0])
    assert out["days_since_signup"][0] == pytest.approx(2 + 5 / 24)
    assert out["cart_open"][0] == 1
    assert out["local_hour"][0] == 8  # 13:00 UTC at UTC-5
    assert np.isnan(out["days_since_first_purchase"][0]) and np.isnan(out["units_per_line"][0])
    # no cart count: closed; no known UTC offset: the local hour is the UTC hour
    unknown = request_context({**inputs, "cart_items": [np.nan], "utc_offset_hours": [np.nan]})
    assert unknown["cart_open"][0] == 0 and unknown["local_hour"][0] == 13


def test_customer_base_context_from_three_purchase_days() -> None:
    """Purchases on days 0, 10 and 30, decided on day 45: BG/NBD's T = 45, t_x = 30,
    mean gap 15 days, gaps 10 and 20 -> CV 1/3, recency 15 = one mean gap."""
    day = 86_400.0
    first, now = T0.timestamp(), T0.timestamp() + 45 * day
    out = request_context({
        REQUEST_TS: [now], **{n: [np.nan] for n in ("last_event_ts", "last_site_ts",
                                                    "last_view_ts", "last_cart_add_ts",
                                                    "last_email_sent_ts", "last_email_open_ts",
                                                    "last_email_click_ts", "signup_ts",
                                                    "profile_signup_ts", "engagement_decayed")},
        "last_purchase_ts": [first + 30 * day], "first_purchase_ts": [first], "cart_items": [0],
        "utc_offset_hours": [0.0], "purchase_days_total": [3], "purchase_lines_total": [4],
        "units_total": [10], "spend_total": [90.0], "purchase_gap_sq_total": [10 ** 2 + 20 ** 2]})
    assert out["days_since_first_purchase"][0] == pytest.approx(45)
    assert out["purchase_span_days"][0] == pytest.approx(30)
    assert out["mean_purchase_gap_days"][0] == pytest.approx(15)
    assert out["purchase_gap_cv"][0] == pytest.approx(5 / 15)  # std of (10, 20) is 5
    assert out["recency_over_gap"][0] == pytest.approx(1.0)
    assert out["units_per_line"][0] == pytest.approx(2.5)
    assert out["spend_per_purchase_day"][0] == pytest.approx(30.0)


def test_lifetime_purchase_features_count_the_whole_history(sim_dataset: Dataset) -> None:
    """Customer-base features at each row equal a direct count over every earlier purchase,
    however old (no 90-day lookback), in UTC days."""
    ev_all = sim_dataset.events
    buyers = ev_all.loc[ev_all[s.EVENT_TYPE] == "purchase", s.CUSTOMER_ID].value_counts()
    some = buyers[buyers >= 3].index[:30]
    ev_some = ev_all[ev_all[s.CUSTOMER_ID].isin(some)]
    rows = customer_activity_rows(ev_some)
    for _, row in rows.sample(40, random_state=3).iterrows():
        past = ev_some[(ev_some[s.CUSTOMER_ID] == row[s.CUSTOMER_ID])
                       & (ev_some[s.EVENT_TS] <= row[ENTITY_TS])]
        buys = past[past[s.EVENT_TYPE] == "purchase"]
        days = np.sort(buys[s.EVENT_TS].dt.floor("D").unique())
        gaps = np.diff(days) / np.timedelta64(1, "D")
        qty = buys[s.QUANTITY].where(buys[s.QUANTITY] > 0, 1)
        assert row["purchase_days_total"] == len(days)
        assert row["orders_total"] == buys[s.EVENT_TS].nunique()
        assert row["purchase_lines_total"] == len(buys)
        assert row["products_total"] == buys[s.PRODUCT_ID].nunique()
        assert row["units_total"] == pytest.approx(qty.sum())
        assert row["spend_total"] == pytest.approx((buys[s.PRICE] * qty).sum())
        assert row["purchase_gap_sq_total"] == pytest.approx((gaps ** 2).sum())
        if len(buys):
            assert row["first_purchase_ts"] == buys[s.EVENT_TS].min().timestamp()
            assert row["last_purchase_ts"] == buys[s.EVENT_TS].max().timestamp()
        else:
            assert np.isnan(row["first_purchase_ts"]) and np.isnan(row["last_purchase_ts"])


def test_product_stats_only_count_past_days(sim_dataset: Dataset) -> None:
    rows = product_stats_rows(sim_dataset.events, sim_dataset.products, sim_dataset.start,
                              sim_dataset.end)
    day = rows[ENTITY_TS].unique()[20]
    ev = sim_dataset.events
    views = ev[(ev[s.EVENT_TYPE] == "product_view") & (ev[s.EVENT_TS] < day)
               & (ev[s.EVENT_TS] >= day - pd.Timedelta(days=7))][s.PRODUCT_ID].value_counts()
    got = rows[rows[ENTITY_TS] == day].set_index(s.PRODUCT_ID)["product_views_7d"]
    pd.testing.assert_series_equal(got[views.index], views.astype("int64"), check_names=False)


def test_engagement_is_recency_weighted_and_counts_unopened_emails() -> None:
    """Exact values: the decayed sum weighs each event by 2^(-age / half-life); emails sent
    after the latest open are counted (the saturation signal of adaptive frequency)."""
    from features.transforms import ENGAGEMENT_HALF_LIFE_DAYS as HL
    from features.transforms import engagement_score

    day = 24 * 60
    events = pd.DataFrame([ev(0, "email_sent"), ev(60, "email_open"), ev(61, "email_click"),
                           ev(2 * day, "email_sent"), ev(3 * day, "email_sent"),
                           ev(3 * day + HL * day, "product_view", "p1", 5.0)])
    r = customer_activity_rows(events).iloc[-1]
    age_open, age_click = (3 * day + HL * day - 60) / day, (3 * day + HL * day - 61) / day
    want = 1.0 * 2 ** (-age_open / HL) + 2.0 * 2 ** (-age_click / HL) + 0.25
    assert r["engagement_decayed"] == pytest.approx(want, rel=1e-9)
    assert r["emails_since_last_open"] == 2
    # read one half-life later: half the weight, so a lower score; 0 for no engagement at all
    now = engagement_score(np.array([want]), np.array([0.0]))[0]
    later = engagement_score(np.array([want]), np.array([HL]))[0]
    assert later == pytest.approx(1 - np.exp(-want / 2 / 5.0)) and 0 < later < now < 1
    assert engagement_score(np.array([0.0]), np.array([1.0]))[0] == 0.0
    # events older than the 90-day lookback no longer count (as in the live history)
    old = pd.concat([events, pd.DataFrame([ev(120 * day, "product_view", "p1", 5.0)])])
    assert customer_activity_rows(old).iloc[-1]["engagement_decayed"] == pytest.approx(0.25)
    assert customer_activity_rows(old).iloc[-1]["emails_since_last_open"] == 0


def test_channel_sends_are_counted_per_channel_and_are_not_site_events() -> None:
    """sms_sent / push_sent (reported by the caller after an escalation step): counts per window
    and the latest send per channel; not site activity, not email."""
    day = 24 * 60
    events = pd.DataFrame([ev(0, "product_view", "p1", 5.0), ev(10, "sms_sent"),
                           ev(20, "push_sent"), ev(2 * day, "sms_sent"),
                           ev(2 * day + 1, "sms_sent")])
    r = customer_activity_rows(events).iloc[-1]
    assert (r["sms_sent_24h"], r["sms_sent_7d"], r["push_sent_24h"], r["push_sent_7d"]) == (
        2, 3, 0, 1)
    assert r["last_sms_sent_ts"] == (T0 + pd.Timedelta(minutes=2 * day + 1)).timestamp()
    assert r["last_push_sent_ts"] == (T0 + pd.Timedelta(minutes=20)).timestamp()
    assert r["site_events_7d"] == 1 and r["emails_sent_7d"] == 0


def test_channel_consent_in_the_profile_missing_means_none() -> None:
    from features.transforms import customer_profile_rows

    customers = pd.DataFrame({s.CUSTOMER_ID: ["a", "b"], s.SIGNUP_TS: [T0, T0],
                              s.TIMEZONE: ["UTC", "UTC"], s.CONSENT: [True, True],
                              s.SMS_CONSENT: [True, False]})
    prof = customer_profile_rows(customers, T0).set_index(s.CUSTOMER_ID)
    assert prof["sms_consent"].tolist() == [1, 0]
    assert prof["push_consent"].tolist() == [0, 0]  # no column (an older dataset): no consent
