"""Content at open, scenario by scenario (pure: a stored decision + features now)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from serving.decision_index import compact
from serving.policy import PolicyInputs, Scores, decide
from serving.policy.open_content import render
from serving.policy.product_events import ProductTrigger
from serving.schemas import Action, OfferType, Variant
from tests.serving.test_policy import AFFINITY, CATALOG, CFG, NOW, customer

CART = customer(cart_open=1, cart_value=80.0, hours_since_last_cart_add=2.0,
                cart_products=["cart1"], purchases_30d=0, cart_adds_30d=4)


def sent(features: dict, intent: float = 0.15, churn: float = 0.5, trigger=None):
    """A decision as the engine makes it, and its index record."""
    inp = PolicyInputs("c1", NOW, features, Scores(intent, churn, None, AFFINITY),
                       product_trigger=trigger)
    d = decide(inp, CFG, CATALOG, decision_id="d" * 32)
    return d, compact(d)


def at_open(stored: dict, features: dict, hours: float = 2.0, intent: float | None = 0.15,
            affinity=AFFINITY, catalog=CATALOG, degraded: bool = False):
    inp = PolicyInputs("c1", NOW + timedelta(hours=hours), features,
                       Scores(intent, 0.5, None, affinity), degraded=degraded)
    return render("d" * 32, stored, inp, CFG, catalog)


def test_unchanged_world_renders_the_email_as_sent_with_a_countdown() -> None:
    d, stored = sent(CART)
    assert d.action == Action.CART_ABANDONMENT and d.offer.type == OfferType.PERCENT_OFF
    out = at_open(stored, CART)
    assert [r.product_id for r in out.recommendations] == [r.product_id for r in
                                                           d.recommendations]
    assert "open_recs_as_sent" in out.reasons and out.removed == []
    assert out.offer == d.offer and "open_offer_countdown" in out.reasons
    expires = d.send_at + timedelta(hours=CFG.offer_valid_hours)
    assert out.offer_expires_at == expires
    assert out.offer_seconds_left == int((expires - out.opened_at).total_seconds())


def test_items_bought_since_are_removed_and_back_filled() -> None:
    d, stored = sent(CART)
    first_affinity = d.recommendations[1].product_id  # after the cart item
    now = {**CART, "cart_open": 0, "cart_products": [],
           "recent_purchases": ["bought", "cart1", first_affinity]}
    out = at_open(stored, now)
    ids = [r.product_id for r in out.recommendations]
    assert "cart1" not in ids and first_affinity not in ids
    assert set(out.removed) == {"cart1", first_affinity}
    assert f"open_removed_bought:{first_affinity}" in out.reasons
    assert len(ids) == len(d.recommendations) and "open_recs_reranked" in out.reasons


def test_out_of_stock_items_are_removed() -> None:
    d, stored = sent(CART)
    gone = d.recommendations[2].product_id
    catalog = replace(CATALOG, products={**CATALOG.products,
                                         gone: replace(CATALOG.products[gone], in_stock=False)})
    out = at_open(stored, CART, catalog=catalog)
    assert gone not in [r.product_id for r in out.recommendations]
    assert out.removed == [gone] and f"open_removed_out_of_stock:{gone}" in out.reasons


def test_an_expired_offer_is_removed() -> None:
    d, stored = sent(CART)
    assert d.offer.type == OfferType.PERCENT_OFF
    out = at_open(stored, CART, hours=CFG.offer_valid_hours + 2)
    assert out.offer.type == OfferType.NONE and out.offer_expires_at is None
    assert "open_offer_expired_removed" in out.reasons


def test_headline_follows_the_current_intent_tier() -> None:
    d, stored = sent(CART, intent=0.15)
    assert d.variant == Variant.COMPARISON
    hot = at_open(stored, CART, intent=0.6)
    assert hot.variant == Variant.URGENCY and "open_variant_urgency_high_intent" in hot.reasons


def test_degraded_open_renders_the_stored_blocks() -> None:
    d, stored = sent(CART)
    out = at_open(stored, {}, intent=None, degraded=True)
    assert out.degraded and "store_unavailable_stored_content" in out.reasons
    assert [r.product_id for r in out.recommendations] == [r.product_id for r in
                                                           d.recommendations]
    assert out.variant == d.variant and "open_variant_as_sent" in out.reasons


def test_degraded_open_with_an_intent_score_keeps_the_sent_headline() -> None:
    """An outage reads empty rows, which the scorer still scores: that score must not pick the
    headline, re-rank the products or drop the offer."""
    d, stored = sent(CART, intent=0.15)
    assert d.variant == Variant.COMPARISON and d.offer.type == OfferType.PERCENT_OFF
    out = at_open(stored, {}, intent=0.6, affinity=list(reversed(AFFINITY)), degraded=True)
    assert out.variant == Variant.COMPARISON and "open_variant_as_sent" in out.reasons
    assert "open_variant_urgency_high_intent" not in out.reasons
    assert [r.product_id for r in out.recommendations] == [r.product_id for r in
                                                           d.recommendations]
    assert "open_recs_as_sent" in out.reasons and out.scores == {}
    assert out.offer == d.offer and "open_offer_countdown" in out.reasons
    healthy = at_open(stored, {}, intent=0.6, affinity=list(reversed(AFFINITY)))
    assert healthy.variant == Variant.URGENCY  # the same inputs without the outage do change


def test_degraded_open_drops_out_of_stock_items_and_expired_offers_only() -> None:
    """Stock (product state) and the clock need no customer store: they still apply."""
    d, stored = sent(CART)
    gone = d.recommendations[2].product_id
    catalog = replace(CATALOG, products={**CATALOG.products,
                                         gone: replace(CATALOG.products[gone], in_stock=False)})
    out = at_open(stored, {}, intent=0.6, catalog=catalog, degraded=True)
    want = [r.product_id for r in d.recommendations if r.product_id != gone]
    assert [r.product_id for r in out.recommendations] == want and out.removed == [gone]
    assert "open_recs_as_sent" in out.reasons and "open_recs_reranked" not in out.reasons
    late = at_open(stored, {}, hours=CFG.offer_valid_hours + 2, intent=0.6, degraded=True)
    assert late.offer.type == OfferType.NONE and "open_offer_expired_removed" in late.reasons


def test_price_drop_email_keeps_its_product_first() -> None:
    trig = ProductTrigger("price_drop", "a2", price=20.0, old_price=25.0)
    d, stored = sent(customer(), trigger=trig)
    assert d.action == Action.PRICE_DROP
    out = at_open(stored, customer(), affinity=list(reversed(AFFINITY)))
    assert out.recommendations[0].product_id == "a2"
    assert out.recommendations[0].reason == "price_drop"
