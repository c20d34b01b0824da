"""Offers: none for high intent; discount depth grows with churn risk and price sensitivity,
capped so the margin after discount stays above a floor."""

from __future__ import annotations

import math

from features.schema import DEFAULT_MARGIN
from serving.policy.config import PolicyConfig
from serving.policy.inputs import Catalog, PolicyInputs
from serving.schemas import Action, Offer, OfferType
from training.reasons import Reason
from training.treatments import discount_of


def price_sensitivity(inp: PolicyInputs, cfg: PolicyConfig) -> float:
    """0..1: how often the customer's carts end without a purchase (30 days)."""
    carts = inp.num("cart_adds_30d", 0) or 0
    buys = inp.num("purchases_30d", 0) or 0
    return carts / (carts + buys) if carts + buys > 0 else cfg.default_price_sensitivity


def discount_cap(action: Action, inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog,
                 products: list[str]) -> float:
    """The deepest discount the featured products' margins allow (0..max_discount)."""
    featured = inp.items("cart_products") if action == Action.CART_ABANDONMENT else []
    featured = [p for p in featured if p in products] or products[:cfg.featured_products]
    margins = [p.margin for pid in featured if (p := catalog.get(pid)) is not None]
    margin = min(margins) if margins else DEFAULT_MARGIN
    return max(0.0, min(cfg.max_discount, margin - cfg.min_margin_after_discount))


def offer_for_treatment(treatment: str, action: Action, inp: PolicyInputs, cfg: PolicyConfig,
                        catalog: Catalog, products: list[str], why: str) -> tuple[Offer, str]:
    """The offer a chosen treatment (`email`, `email_<percent>`) asks for, margin permitting."""
    pct = discount_of(treatment) or 0.0
    if pct <= 0:
        return Offer(), Reason.OFFER_NONE_TREATMENT.with_(why)
    cap = discount_cap(action, inp, cfg, catalog, products)
    if pct / 100 > cap + 1e-9:
        return Offer(), Reason.OFFER_NONE_EXCEEDS_MARGIN.with_(why, treatment)
    return (Offer(type=OfferType.PERCENT_OFF, value=pct),
            Reason.OFFER_TREATMENT.with_(treatment, why))


def choose_offer(action: Action, inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog,
                 products: list[str]) -> tuple[Offer, str]:
    """`products`: the email's products in order (cart items first for a cart reminder)."""
    if action == Action.NONE:
        return Offer(), Reason.OFFER_NONE
    if action == Action.PRICE_DROP:
        return Offer(), Reason.OFFER_NONE_PRICE_DROP  # the lower price is the offer
    intent = inp.scores.intent or 0.0
    if intent >= cfg.high_intent:
        return Offer(), Reason.OFFER_NONE_HIGH_INTENT
    churn = inp.scores.churn or 0.0
    depth = (cfg.discount_base + cfg.discount_per_churn * churn
             + cfg.discount_per_sensitivity * price_sensitivity(inp, cfg))
    cap = discount_cap(action, inp, cfg, catalog, products)
    capped = depth > cap
    steps = round(1 / cfg.discount_step)  # whole steps, never above the cap
    depth = math.floor(min(depth, cap) * steps + 1e-9) / steps
    if depth < cfg.discount_step:
        if intent >= cfg.medium_intent:
            return Offer(type=OfferType.FREE_SHIPPING), Reason.OFFER_FREE_SHIPPING_MARGIN_TOO_LOW
        return Offer(), Reason.OFFER_NONE_MARGIN_TOO_LOW
    reason = (Reason.OFFER_DISCOUNT_CHURN_RISK if churn >= cfg.discount_churn_reason
              else Reason.OFFER_DISCOUNT_MEDIUM_INTENT)
    if capped:
        reason = Reason.OFFER_DISCOUNT_CAPPED_BY_MARGIN
    return Offer(type=OfferType.PERCENT_OFF, value=round(depth * 100)), reason
