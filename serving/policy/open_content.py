"""Content at open: an email's dynamic blocks as they should be when it is opened (pure).

Given what the email was decided with (the decision index's compact record) and the
customer's features and scores now, `render` returns the blocks to show: products still
sellable to the customer (bought since or out of stock removed, the rest re-ranked with the
latest affinity and the current engagement tier's intensity, and back-filled), the offer
unless it expired or the products' margins no longer allow it (with its countdown), and the
headline variant for the current intent tier (the reactivation subject for reactivation
content).
When the online store is out (`inp.degraded`) nothing is recomputed from the customer's
features or scores: the headline, offer and products are as sent, less the products the catalog
shows out of stock (stock is product state, not the customer store), and the offer still
expires on time. Every change adds a reason (docs/policy.md, "Content at open").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from serving.policy.config import PolicyConfig
from serving.policy.decide import recommendations, subject
from serving.policy.engagement import content_intensity, engagement_tier
from serving.policy.inputs import Catalog, PolicyInputs
from serving.policy.offers import discount_cap
from serving.schemas import Action, Offer, OfferType, Recommendation, Variant
from training.reasons import Reason

PINNED = ("in_cart", "price_drop", "back_in_stock")  # the email's subject: kept in first place


class OpenContent(BaseModel):
    """The dynamic blocks of an email at open."""

    decision_id: str
    customer_id: str
    opened_at: datetime
    action: Action
    variant: Variant | None = None
    offer: Offer = Field(default_factory=Offer)
    offer_expires_at: datetime | None = None
    offer_seconds_left: int | None = None
    recommendations: list[Recommendation] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list, description="Products removed since send")
    scores: dict[str, float | None] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    degraded: bool = False


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _exceeds_margin(offer: Offer, action: Action, inp: PolicyInputs, cfg: PolicyConfig,
                    catalog: Catalog, recs: list[Recommendation]) -> bool:
    """Whether a percent-off is deeper than the margins of the products now leading allow."""
    if offer.type != OfferType.PERCENT_OFF:
        return False
    cap = discount_cap(action, inp, cfg, catalog, [r.product_id for r in recs])
    return offer.value / 100 > cap + 1e-9


def _products(action: Action, stored: dict, inp: PolicyInputs, cfg: PolicyConfig,
              catalog: Catalog, intensity: str | None, reasons: list[str]
              ) -> tuple[list[Recommendation], list[str]]:
    """The products to show and those removed since the send (adds their reasons)."""
    degraded = inp.degraded  # no customer features: nothing known bought, nothing re-ranked
    bought = set() if degraded else set(inp.items("recent_purchases"))
    cart = set(inp.items("cart_products"))
    removed: list[str] = []
    kept: list[tuple[str, str]] = []
    for pid, why in stored["recs"]:
        prod = catalog.get(pid)
        if prod is None or not prod.in_stock:
            removed.append(pid)
            reasons.append(Reason.OPEN_REMOVED_OUT_OF_STOCK.with_(pid))
        elif pid in bought and not (why == "in_cart" and pid in cart):
            removed.append(pid)
            reasons.append(Reason.OPEN_REMOVED_BOUGHT.with_(pid))
        else:
            kept.append((pid, why))
    recs = [Recommendation(product_id=p, score=1.0, reason=w) for p, w in kept if w in PINNED]
    if degraded or (not inp.scores.affinity and not removed):  # in their sent order
        recs += [Recommendation(product_id=p, score=0.0, reason=w) for p, w in kept
                 if w not in PINNED]
        reasons.append(Reason.OPEN_RECS_AS_SENT)
        return recs, removed
    fresh, _ = recommendations(action, inp, cfg, catalog, intensity)  # today's affinity
    have = {r.product_id for r in recs} | set(removed)
    recs += [r for r in fresh if r.product_id not in have]
    recs = recs[: max(cfg.n_recommendations, sum(1 for _, w in kept if w in PINNED))]
    same = [r.product_id for r in recs] == [pid for pid, _ in stored["recs"]]
    reasons.append(Reason.OPEN_RECS_AS_SENT if same else Reason.OPEN_RECS_RERANKED)
    return recs, removed


def render(decision_id: str, stored: dict, inp: PolicyInputs, cfg: PolicyConfig,
           catalog: Catalog) -> OpenContent:
    """The email's blocks at `inp.now` for the customer's current features and scores."""
    action = Action(stored["action"])
    reasons: list[str] = []
    if inp.degraded:
        reasons.append(Reason.STORE_UNAVAILABLE_STORED_CONTENT)
    intensity = content_intensity(engagement_tier(inp, cfg), action, cfg)  # the tier now
    recs, removed = _products(action, stored, inp, cfg, catalog, intensity, reasons)
    offer = Offer(type=OfferType(stored["offer"][0]), value=float(stored["offer"][1]))
    expires = left = None
    if offer.type != OfferType.NONE:
        start = _time(stored.get("send_at")) or _time(stored["decided_at"])
        expires = start + timedelta(hours=cfg.offer_valid_hours)
        if inp.now >= expires:
            offer, expires = Offer(), None
            reasons.append(Reason.OPEN_OFFER_EXPIRED_REMOVED)
        elif not inp.degraded and _exceeds_margin(offer, action, inp, cfg, catalog, recs):
            offer, expires = Offer(), None
            reasons.append(Reason.OPEN_OFFER_REMOVED_EXCEEDS_MARGIN)
        else:
            left = int((expires - inp.now).total_seconds())
            reasons.append(Reason.OPEN_OFFER_COUNTDOWN)

    shown = Variant(stored["variant"]) if stored.get("variant") else None
    intent = None if inp.degraded else inp.scores.intent  # an outage scores empty rows
    if intent is not None and action != Action.NONE:
        shown, why = subject(action, intent, cfg, intensity)
        reasons.append(Reason.OPEN_VARIANT.with_(why))
    else:
        reasons.append(Reason.OPEN_VARIANT_AS_SENT)
    scores = {"intent": intent} if intent is not None else {}
    return OpenContent(decision_id=decision_id, customer_id=stored["customer_id"],
                       opened_at=inp.now, action=action, variant=shown, offer=offer,
                       offer_expires_at=expires, offer_seconds_left=left,
                       recommendations=recs, removed=removed, scores=scores, reasons=reasons,
                       degraded=inp.degraded)
