"""Business-event candidates: a price drop or a restock of a product the customer showed
interest in (docs/policy.md, "Business-event triggers").

The trigger comes with the decision (`PolicyInputs.product_trigger`); everything else (consent,
caps, quiet hours, arbitration against the customer's other flows, control group) is the same
policy as any decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.policy.config import PolicyConfig
from serving.policy.inputs import Catalog, PolicyInputs
from serving.schemas import Action

PRODUCT_ACTIONS = {"price_drop": Action.PRICE_DROP, "back_in_stock": Action.BACK_IN_STOCK}
# the leading product's reason in the recommendations of a product-event email
LEAD_REASON = {Action.PRICE_DROP: "price_drop", Action.BACK_IN_STOCK: "back_in_stock"}


@dataclass(frozen=True)
class ProductTrigger:
    """A business event for one customer: `kind` price_drop | back_in_stock, the product, its
    price now and before, and the customer's interest in it (`cart` or `view`)."""

    kind: str
    product_id: str
    price: float | None = None
    old_price: float | None = None
    interest: str = "view"

    @property
    def action(self) -> Action:
        return PRODUCT_ACTIONS[self.kind]


def product_candidates(inp: PolicyInputs, catalog: Catalog) -> list[tuple[Action, str]]:
    """The trigger's flow, with the product as its reason, when the product can be sold to the
    customer now (in stock, not bought in the purchase window)."""
    trig = inp.product_trigger
    if trig is None:
        return []
    prod = catalog.get(trig.product_id)
    if prod is None or not prod.in_stock or trig.product_id in inp.items("recent_purchases"):
        return []
    return [(trig.action, trig.product_id)]


def product_value(action: Action, inp: PolicyInputs, cfg: PolicyConfig, intent: float,
                  aov: float) -> float:
    """Expected value of a product-event email: purchase intent (x the interest boost for a
    carted product, capped at 1) x the product's price (the average order value if unknown)
    x the flow's business weight."""
    trig = inp.product_trigger
    if trig is None or trig.action != action:
        return 0.0
    boost = cfg.product_cart_boost if trig.interest == "cart" else 1.0
    value = trig.price if trig.price else aov
    return min(1.0, intent * boost) * value * cfg.weights.get(action, 0.0)
