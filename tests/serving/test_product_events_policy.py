"""Business-event triggers through the policy: one scenario per test (no training)."""

from __future__ import annotations

from dataclasses import replace

from serving.policy import PolicyInputs, Scores, decide
from serving.policy.product_events import ProductTrigger
from serving.schemas import Action
from tests.serving.test_policy import AFFINITY, CATALOG, CFG, NOW, customer

DROP = ProductTrigger("price_drop", "a2", price=20.0, old_price=25.0, interest="view")
RESTOCK = ProductTrigger("back_in_stock", "a3", price=20.0, interest="cart")


def run(features: dict, trigger: ProductTrigger | None, intent: float = 0.2, cfg=CFG,
        catalog=CATALOG):
    inp = PolicyInputs("c1", NOW, features, Scores(intent, 0.1, None, AFFINITY),
                       product_trigger=trigger)
    return decide(inp, cfg, catalog, decision_id="d1")


def test_price_drop_sends_the_product_first_without_a_discount() -> None:
    d = run(customer(), DROP)
    assert "candidate_price_drop:a2" in d.reasons, d.reasons
    assert d.action == Action.PRICE_DROP, d.reasons
    assert d.recommendations[0].product_id == "a2"
    assert d.recommendations[0].reason == "price_drop"
    assert "recs_price_drop_first" in d.reasons
    assert d.offer.type == "none" and "offer_none_price_drop" in d.reasons
    assert d.send_at is not None and NOW <= d.send_at <= NOW.replace(hour=NOW.hour + 3)


def test_back_in_stock_for_a_carted_product() -> None:
    d = run(customer(), RESTOCK)
    assert d.action == Action.BACK_IN_STOCK, d.reasons
    assert "candidate_back_in_stock:a3" in d.reasons
    assert d.recommendations[0].product_id == "a3"


def test_caps_consent_and_quiet_hours_still_apply() -> None:
    capped = run(customer(emails_sent_24h=1, last_email_sent_ts=NOW.timestamp() - 3600), DROP)
    assert capped.action == Action.NONE and "cap_day_reached" in capped.reasons
    assert not any(r.startswith("candidate_") for r in capped.reasons)
    no_consent = run(customer(consent=0), DROP)
    assert no_consent.action == Action.NONE and "no_consent" in no_consent.reasons
    night = run(customer(utc_offset_hours=9.0), DROP)  # 23:00 local
    assert night.action == Action.PRICE_DROP and "quiet_hours_shift" in night.reasons


def test_no_candidate_when_the_product_was_bought_or_is_out_of_stock() -> None:
    bought = run(customer(recent_purchases=["a2"]), DROP)
    assert "candidate_price_drop:a2" not in bought.reasons
    gone = run(customer(), replace(DROP, product_id="gone"))
    assert not any(r.startswith("candidate_price_drop") for r in gone.reasons)


def test_arbitration_weighs_the_trigger_against_other_flows() -> None:
    """An open cart worth more than the dropped product wins; the trigger is still listed."""
    cart = customer(cart_open=1, cart_value=300.0, hours_since_last_cart_add=2.0,
                    cart_products=["cart1"])
    d = run(cart, DROP)
    assert d.action == Action.CART_ABANDONMENT
    assert "candidate_price_drop:a2" in d.reasons
    assert d.expected_values["price_drop"] < d.expected_values["cart_abandonment"]


def test_value_grows_with_interest_and_threshold_applies() -> None:
    viewed = run(customer(), DROP).expected_values["price_drop"]
    carted = run(customer(), replace(DROP, interest="cart")).expected_values["price_drop"]
    assert carted > viewed > 0
    cheap = run(customer(), replace(DROP, price=1.0), intent=0.05)
    assert cheap.action == Action.NONE and "below_value_threshold" in cheap.reasons


def test_the_same_customer_without_a_trigger_gets_nothing() -> None:
    base = run(customer(), None)
    assert base.action == Action.NONE and "no_candidate" in base.reasons
    assert not any("price_drop" in r or "back_in_stock" in r for r in base.reasons)


def test_the_price_drop_threshold_is_a_setting() -> None:
    """NBA_PRICE_DROP_MIN_PCT decides which price changes are triggers (15% off 100 here)."""
    import pandas as pd

    from features.online.product_events import ProductState, detect_triggers
    from features.online.product_events import validate_product_events as validate
    from features.settings import Settings
    from serving.policy import PolicyConfig

    now = pd.Timestamp(NOW)
    changes, _ = validate([{"product_id": "a1", "event_type": "price_change", "price": 85.0}],
                          now=now)
    found = {}
    for pct in ("10", "20"):
        cfg = PolicyConfig.from_settings(Settings.from_env(env={"NBA_PRICE_DROP_MIN_PCT": pct}))
        triggers, _ = detect_triggers(changes, {"a1": ProductState(100.0, True)},
                                      cfg.price_drop_min)
        found[pct] = [t.product_id for t in triggers]
    assert found == {"10": ["a1"], "20": []}
