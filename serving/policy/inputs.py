"""What the policy reads: a customer's features, model scores, the catalog."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from serving.schemas import TriggerEvent

if TYPE_CHECKING:
    from serving.policy.product_events import ProductTrigger


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    price: float
    margin: float
    in_stock: bool
    popularity: float = 0.0


@dataclass
class Catalog:
    products: dict[str, Product]
    popular: list[str]  # most popular first (in-stock items)

    def get(self, pid: str) -> Product | None:
        return self.products.get(pid)


@dataclass
class Scores:
    """Model outputs for one customer (None: no model, or not scorable)."""

    intent: float | None = None
    churn: float | None = None
    hour_probs: np.ndarray | None = None  # 24 UTC-hour probabilities
    affinity: list[tuple[str, float]] = field(default_factory=list)  # best first
    # response model: expected outcome per treatment ("none", "email", "email_10", ...)
    response: dict[str, float] | None = None
    # label horizons (days) of the intent and churn scores: "a purchase within 7 days"
    intent_horizon_days: float | None = None
    churn_horizon_days: float | None = None
    # the response model's policy: its best single treatment unless a gain is confident
    response_choice: str | None = None
    # customer base (BG/NBD of the intent champion): expected purchase days in the next 365
    # days and P(still a customer); None without a fitted customer-base model or purchases
    purchases_12m: float | None = None
    p_alive: float | None = None


def _num(v: object) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


@dataclass
class PolicyInputs:
    customer_id: str
    now: datetime
    features: Mapping[str, object]  # online features by name (None: missing)
    scores: Scores
    trigger: TriggerEvent | None = None
    known: bool = True  # False: the online store has nothing for this customer
    degraded: bool = False  # the store could not be read
    consent_override: bool | None = None
    product_trigger: ProductTrigger | None = None  # a price drop or restock (business event)

    def num(self, name: str, default: float | None = None) -> float | None:
        v = _num(self.features.get(name))
        return default if v is None else v

    def items(self, name: str) -> list[str]:
        v = self.features.get(name)
        return [str(x) for x in v] if isinstance(v, list | tuple | np.ndarray) else []
