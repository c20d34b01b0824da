"""Recommendations: affinity scores filtered (in stock, not just bought), cart items first for
cart abandonment, diversified by category, popular items for cold start."""

from __future__ import annotations

from serving.policy.config import PolicyConfig
from serving.policy.inputs import Catalog, PolicyInputs
from serving.policy.product_events import LEAD_REASON
from serving.schemas import Action, Recommendation
from training.reasons import Reason

# the reason of an email that leads with the product of its business event
LEAD_FIRST = {Action.PRICE_DROP: Reason.RECS_PRICE_DROP_FIRST,
              Action.BACK_IN_STOCK: Reason.RECS_BACK_IN_STOCK_FIRST}


def recommend(action: Action, inp: PolicyInputs, cfg: PolicyConfig,
              catalog: Catalog) -> tuple[list[Recommendation], str]:
    bought = set(inp.items("recent_purchases"))
    cart = [p for p in inp.items("cart_products") if (c := catalog.get(p)) and c.in_stock]
    picked: list[Recommendation] = []
    seen: set[str] = set()
    per_cat: dict[str, int] = {}

    def take(pid: str, score: float, reason: str, force: bool = False) -> None:
        prod = catalog.get(pid)
        if prod is None or not prod.in_stock or pid in seen:
            return
        if not force and (pid in bought or per_cat.get(prod.category, 0) >= cfg.max_per_category):
            return
        picked.append(Recommendation(product_id=pid, score=round(float(score), 4),
                                     reason=reason))
        seen.add(pid)
        per_cat[prod.category] = per_cat.get(prod.category, 0) + 1

    if action == Action.CART_ABANDONMENT:
        for p in cart:
            take(p, 1.0, "in_cart", force=True)
    lead = inp.product_trigger.product_id if action in LEAD_REASON and inp.product_trigger else None
    if lead is not None:  # the product the business event is about leads the email
        take(lead, 1.0, LEAD_REASON[action], force=True)
    source = Reason.RECS_AFFINITY
    if inp.scores.affinity:
        for pid, score in inp.scores.affinity:
            if len(picked) >= cfg.n_recommendations:
                break
            take(pid, score, "affinity")
    else:
        source = Reason.RECS_POPULAR_COLD_START
    if len(picked) < cfg.n_recommendations:
        n = len(catalog.popular)
        for i, pid in enumerate(catalog.popular):
            if len(picked) >= cfg.n_recommendations:
                break
            take(pid, 1.0 - i / max(n, 1), "popular")
    if action == Action.CART_ABANDONMENT and cart:
        source = Reason.RECS_CART_FIRST
    if lead is not None and lead in seen:
        source = LEAD_FIRST[action]
    return picked[: max(cfg.n_recommendations, len(cart))], source
