"""Message intensity by engagement tier: premium / standard / reactivation content, scenario by
scenario (pure policy, a catalog with cheap, mid-priced and luxury products)."""

from __future__ import annotations

import statistics
from dataclasses import replace
from datetime import timedelta

import pytest

from serving.decision_index import compact
from serving.policy import Catalog, PolicyInputs, Product, Scores, decide
from serving.policy.open_content import render
from serving.schemas import Action, Variant
from tests.serving.test_policy import CFG, NOW, OPEN_CART, customer

PRICES = {"cheap": 10.0, "mid": 30.0, "lux": 90.0}
CATALOG = Catalog(
    products={f"{k}{i}": Product(f"{k}{i}", f"cat_{k}{i}", price, 0.4, True)
              for k, price in PRICES.items() for i in (1, 2, 3)}
    | {"cart1": Product("cart1", "shoes", 80.0, 0.4, True),
       "pop1": Product("pop1", "garden", 12.0, 0.3, True),
       "pop2": Product("pop2", "pet", 9.0, 0.3, True),
       "pop3": Product("pop3", "beauty", 11.0, 0.3, True)},
    popular=["pop1", "pop2", "pop3"])
AFFINITY = [("cheap1", 0.9), ("cheap2", 0.85), ("lux1", 0.8), ("mid1", 0.75), ("lux2", 0.7),
            ("cheap3", 0.65), ("mid2", 0.6), ("lux3", 0.5)]
ON = replace(CFG, intensity_treatments=("premium", "reactivation"))
HIGH, MEDIUM, LOW = 0.8, 0.3, 0.05  # engagement scores of each tier (cuts 0.5 and 0.2)
BROWSED = {"hours_since_last_view": 3.0}
AWAY = {"hours_since_last_site": 40 * 24.0, "emails_since_last_open": 3}


def run(features: dict, cfg=ON, intent: float = 0.2, churn: float = 0.1):
    inp = PolicyInputs("c1", NOW, features, Scores(intent, churn, None, AFFINITY))
    return decide(inp, cfg, CATALOG, decision_id="d" * 32)


def ids(d) -> list[str]:
    return [r.product_id for r in d.recommendations]


def mean_price(products: list[str]) -> float:
    return statistics.mean(CATALOG.products[p].price for p in products)


def test_high_engagement_gets_higher_value_products_it_likes() -> None:
    premium = run(customer(engagement_score=HIGH, **BROWSED))
    standard = run(customer(engagement_score=HIGH, **BROWSED), cfg=CFG)
    assert premium.action == standard.action == Action.BROWSE_ABANDONMENT
    assert "recs_premium_higher_value" in premium.reasons and premium.intensity == "premium"
    assert "recs_affinity" in standard.reasons
    assert set(ids(premium)) <= {p for p, _ in AFFINITY}  # only products the customer likes
    assert mean_price(ids(premium)[:3]) > mean_price(ids(standard)[:3])
    best = max(AFFINITY, key=lambda a: a[1] * CATALOG.products[a[0]].price)[0]
    assert ids(premium)[0] == best
    # the offer is not deepened, the subject is the intent's
    assert premium.offer.value <= standard.offer.value and premium.variant == standard.variant


def test_medium_engagement_gets_the_standard_email() -> None:
    on = run(customer(engagement_score=MEDIUM, **BROWSED))
    off = run(customer(engagement_score=MEDIUM, **BROWSED), cfg=CFG)
    assert on.intensity == "standard" and "engagement_medium:standard" in on.reasons
    assert ids(on) == ids(off) and on.variant == off.variant and on.offer == off.offer
    assert "recs_affinity" in on.reasons


@pytest.mark.parametrize(("features", "churn", "action"), [
    (customer(engagement_score=LOW, **BROWSED), 0.1, Action.BROWSE_ABANDONMENT),
    (customer(engagement_score=LOW, **AWAY), 0.8, Action.RE_ENGAGEMENT),
], ids=["browsed", "lapsed"])
def test_low_engagement_gets_the_reactivation_email(features, churn, action) -> None:
    d = run(features, churn=churn)
    assert d.action == action, d.reasons
    assert d.variant == Variant.REACTIVATION and d.intensity == "reactivation"
    assert "variant_reactivation_low_engagement" in d.reasons
    assert "recs_reactivation_best_sellers" in d.reasons
    keep = ON.reactivation_keep
    assert ids(d)[:keep] == [p for p, _ in AFFINITY[:keep]]  # their strongest tastes ...
    assert ids(d)[keep:] == CATALOG.popular[:len(ids(d)) - keep]  # ... then best-sellers
    assert all(r.reason == "popular" for r in d.recommendations[keep:])
    assert len(ids(d)) <= ON.n_recommendations


@pytest.mark.parametrize("score", [HIGH, LOW])
def test_intensity_leaves_cart_reminders_alone(score: float) -> None:
    """A cart reminder is about the cart: same products and subject at every tier."""
    on, off = run(customer(engagement_score=score, **OPEN_CART)), run(
        customer(engagement_score=score, **OPEN_CART), cfg=CFG)
    assert on.action == Action.CART_ABANDONMENT
    assert ids(on) == ids(off) and on.variant == off.variant and on.offer == off.offer


def test_intensity_off_is_a_label_only() -> None:
    assert CFG.intensity_treatments == ()  # the default (docs/policy.md: measured)
    d = run(customer(engagement_score=LOW, **BROWSED), cfg=CFG)
    assert d.intensity == "reactivation" and d.variant != Variant.REACTIVATION
    assert "recs_affinity" in d.reasons
    only_premium = replace(CFG, intensity_treatments=("premium",))
    assert run(customer(engagement_score=LOW, **BROWSED), cfg=only_premium).variant \
        != Variant.REACTIVATION
    assert "recs_premium_higher_value" in run(customer(engagement_score=HIGH, **BROWSED),
                                              cfg=only_premium).reasons


def test_a_reactivation_email_keeps_its_subject_and_best_sellers_at_open() -> None:
    features = customer(engagement_score=LOW, **BROWSED)
    d = run(features)
    stored = compact(d)
    later = PolicyInputs("c1", NOW + timedelta(hours=3), features,
                         Scores(0.6, 0.1, None, list(reversed(AFFINITY))))
    out = render(d.decision_id, stored, later, ON, CATALOG)
    assert out.variant == Variant.REACTIVATION
    assert "open_variant_reactivation_low_engagement" in out.reasons
    assert [r.product_id for r in out.recommendations][ON.reactivation_keep:] \
        == ids(d)[ON.reactivation_keep:]  # best-sellers stay after the (new) top tastes
