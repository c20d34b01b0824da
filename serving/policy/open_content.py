"""Content at open: an email's dynamic blocks as they should be when it is opened (pure).

Given what the email was decided with (the decision index's compact record) and the
customer's features and scores now, `render` returns the blocks to show: products still
sellable to the customer (bought since or out of stock removed, the rest re-ranked with the
latest affinity and back-filled), the offer unless it expired or the products' margins no
longer allow it (with its countdown), and the headline variant for the current intent tier.
Every change adds a reason (docs/policy.md, "Content at open").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from serving.policy.config import PolicyConfig
from serving.policy.decide import recommendations, subject
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


def render(decision_id: str, stored: dict, inp: PolicyInputs, cfg: PolicyConfig,
           catalog: Catalog) -> OpenContent:
    """The email's blocks at `inp.now` for the customer's current features and scores."""
    action = Action(stored["action"])
    reasons: list[str] = []
    if inp.degraded:
        reasons.append(Reason.STORE_UNAVAILABLE_STORED_CONTENT)
    bought, cart = set(inp.items("recent_purchases")), set(inp.items("cart_products"))
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
    sent = [pid for pid, _ in stored["recs"]]
    recs = [Recommendation(product_id=p, score=1.0, reason=w) for p, w in kept if w in PINNED]
    if inp.degraded or (not inp.scores.affinity and not removed):
        recs += [Recommendation(product_id=p, score=0.0, reason=w) for p, w in kept
                 if w not in PINNED]
    else:  # re-ranked with today's affinity, back-filled with popular items
        fresh, _ = recommendations(action, inp, cfg, catalog)
        have = {r.product_id for r in recs} | set(removed)
        recs += [r for r in fresh if r.product_id not in have]
    recs = recs[: max(cfg.n_recommendations, sum(1 for _, w in kept if w in PINNED))]
    reasons.append(Reason.OPEN_RECS_AS_SENT if [r.product_id for r in recs] == sent
                   else Reason.OPEN_RECS_RERANKED)

    offer = Offer(type=OfferType(stored["offer"][0]), value=float(stored["offer"][1]))
    expires = left = None
    if offer.type != OfferType.NONE:
        start = _time(stored.get("send_at")) or _time(stored["decided_at"])
        expires = start + timedelta(hours=cfg.offer_valid_hours)
        cap = discount_cap(action, inp, cfg, catalog, [r.product_id for r in recs])
        if inp.now >= expires:
            offer, expires = Offer(), None
            reasons.append(Reason.OPEN_OFFER_EXPIRED_REMOVED)
        elif offer.type == OfferType.PERCENT_OFF and offer.value / 100 > cap + 1e-9:
            offer, expires = Offer(), None
            reasons.append(Reason.OPEN_OFFER_REMOVED_EXCEEDS_MARGIN)
        else:
            left = int((expires - inp.now).total_seconds())
            reasons.append(Reason.OPEN_OFFER_COUNTDOWN)

    shown = Variant(stored["variant"]) if stored.get("variant") else None
    if inp.scores.intent is not None and action != Action.NONE:
        shown, why = subject(action, inp.scores.intent, cfg)
        reasons.append(Reason.OPEN_VARIANT.with_(why))
    else:
        reasons.append(Reason.OPEN_VARIANT_AS_SENT)
    scores = {"intent": inp.scores.intent} if inp.scores.intent is not None else {}
    return OpenContent(decision_id=decision_id, customer_id=stored["customer_id"],
                       opened_at=inp.now, action=action, variant=shown, offer=offer,
                       offer_expires_at=expires, offer_seconds_left=left,
                       recommendations=recs, removed=removed, scores=scores, reasons=reasons,
                       degraded=inp.degraded)
