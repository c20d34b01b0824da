"""Simulator: deterministic by seed; behavior within the ranges documented in docs/simulator.md."""

from __future__ import annotations

import pandas as pd
import pytest

from features import schema as s
from features.simulation.behavior import SimConfig, simulate
from features.sources.dataset import Dataset
from features.sources.stats import activity_after_churn, behavior_stats, open_rate_by_hour_match
from features.sources.validation import validate_events


def test_same_seed_same_data_other_seed_other_data() -> None:
    cfg = SimConfig(customers=300, days=30, products=60, seed=3)
    a, b = simulate(cfg), simulate(cfg)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = simulate(SimConfig(customers=300, days=30, products=60, seed=4))
    assert not a.events[s.EVENT_TS].equals(c.events[s.EVENT_TS])


def test_output_passes_the_schema(sim_dataset: Dataset) -> None:
    ev = sim_dataset.events
    res = validate_events(ev, now=sim_dataset.end)
    assert res.rejects.empty, res.rejects[s.REASON].head().tolist()
    assert ev[s.EVENT_TS].is_monotonic_increasing
    assert ev[s.EVENT_ID].is_unique
    # every type but the other channels' sends: the simulated ESP sends email only
    assert set(ev[s.EVENT_TYPE].unique()) == set(s.EVENT_TYPES) - set(s.CHANNEL_SENDS.values())
    assert ev[s.CUSTOMER_ID].isin(sim_dataset.customers[s.CUSTOMER_ID]).all()
    prods = ev[s.PRODUCT_ID].dropna()
    assert prods.isin(sim_dataset.products[s.PRODUCT_ID]).all()
    assert (ev[s.EVENT_TS] >= sim_dataset.start).all() and (ev[s.EVENT_TS] < sim_dataset.end).all()


# Documented ranges (docs/simulator.md, "Default rates").
RANGES = {
    "cart_per_view": (0.05, 0.15),
    "checkout_per_cart": (0.35, 0.65),
    "purchase_per_checkout": (0.6, 0.9),
    "open_rate": (0.10, 0.30),
    "click_to_open": (0.08, 0.25),
    "unsubscribe_per_send": (0.0005, 0.005),
    "purchases_per_customer_month": (0.2, 0.8),
}


@pytest.mark.parametrize("name", sorted(RANGES))
def test_rates_within_documented_ranges(sim_dataset: Dataset, name: str) -> None:
    lo, hi = RANGES[name]
    value = behavior_stats(sim_dataset)[name]
    assert lo <= value <= hi, f"{name}={value:.4f} outside [{lo}, {hi}]"


def test_open_rate_rises_when_send_lands_just_before_the_preferred_hour(
    sim_dataset: Dataset,
) -> None:
    rates = open_rate_by_hour_match(sim_dataset)
    assert rates["0-3h before"] > 1.8 * rates["3-12h after"]
    assert rates["0-3h before"] > rates["0-3h after"] > rates["3-12h after"]


def test_churned_customers_go_quiet(sim_dataset: Dataset) -> None:
    act = activity_after_churn(sim_dataset)
    assert act["churned_customers"] > 100
    assert act["site_events_per_day_after"] < 0.05 * act["site_events_per_day_before"]


def test_funnel_order_within_a_purchase(sim_dataset: Dataset) -> None:
    """Every purchase is preceded by an add-to-cart of that product by that customer."""
    ev = sim_dataset.events
    keys = [s.CUSTOMER_ID, s.PRODUCT_ID]
    buys = ev[ev[s.EVENT_TYPE] == s.EventType.PURCHASE][[*keys, s.EVENT_TS]]
    carts = ev[ev[s.EVENT_TYPE] == s.EventType.ADD_TO_CART][[*keys, s.EVENT_TS]]
    first_cart = carts.groupby(keys)[s.EVENT_TS].min().rename("cart_ts")
    joined = buys.join(first_cart, on=keys)
    assert joined["cart_ts"].notna().all()
    assert (joined["cart_ts"] < joined[s.EVENT_TS]).all()


def test_no_email_to_customers_without_consent_or_after_unsubscribe(sim_dataset: Dataset) -> None:
    ev = sim_dataset.events
    sent = ev[ev[s.EVENT_TYPE] == s.EventType.EMAIL_SENT]
    no_consent = sim_dataset.customers.loc[~sim_dataset.customers[s.CONSENT], s.CUSTOMER_ID]
    assert not sent[s.CUSTOMER_ID].isin(no_consent).any()
    unsub = ev[ev[s.EVENT_TYPE] == s.EventType.UNSUBSCRIBE].groupby(s.CUSTOMER_ID)[s.EVENT_TS].min()
    after = sent[s.EVENT_TS] > sent[s.CUSTOMER_ID].map(unsub)
    assert not after.any()
    assert sim_dataset.customers.loc[
        sim_dataset.customers[s.CUSTOMER_ID].isin(unsub.index), s.UNSUBSCRIBED].all()
