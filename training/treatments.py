"""Treatments: what a customer actually gets from a decision, in the vocabulary response
models learn: `none`, `email`, or `email_<percent>` (an email with a percent-off offer).
Training owns it; the serving policy imports it from here."""

from __future__ import annotations

import re
from typing import Any

NONE = "none"
EMAIL = "email"
_DISCOUNT = re.compile(r"^email_(\d{1,2})$")


def treatment_of(action: str, offer: Any) -> str:
    """The treatment of a decision (`offer`: an Offer or its JSON dict)."""
    if str(action) == NONE:
        return NONE
    kind = offer.get("type") if isinstance(offer, dict) else getattr(offer, "type", None)
    value = offer.get("value") if isinstance(offer, dict) else getattr(offer, "value", 0)
    if str(kind) == "percent_off" and value:
        return f"email_{round(float(value))}"
    return EMAIL


def discount_of(treatment: str) -> float | None:
    """Percent off of a treatment (0 for a plain email), None for an unknown name."""
    if treatment == EMAIL:
        return 0.0
    m = _DISCOUNT.match(treatment)
    return float(m.group(1)) if m else None


def is_policy_vocabulary(treatments: list[str]) -> bool:
    """Whether a response model's treatments are ones the policy can act on."""
    return treatments[:1] == [NONE] and all(discount_of(t) is not None for t in treatments[1:])
