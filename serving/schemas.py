"""Request and response models of the decision API (pydantic), shared by policy and service."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.schema import EVENT_TYPES


class Action(StrEnum):
    CART_ABANDONMENT = "cart_abandonment"
    BROWSE_ABANDONMENT = "browse_abandonment"
    POST_PURCHASE_CROSS_SELL = "post_purchase_cross_sell"
    RE_ENGAGEMENT = "re_engagement"
    WELCOME = "welcome"
    NONE = "none"


class Variant(StrEnum):
    URGENCY = "urgency"
    COMPARISON = "comparison"
    EDUCATIONAL = "educational"


class OfferType(StrEnum):
    NONE = "none"
    PERCENT_OFF = "percent_off"
    FREE_SHIPPING = "free_shipping"


class Offer(BaseModel):
    type: OfferType = OfferType.NONE
    value: float = 0.0  # percent for percent_off


class Recommendation(BaseModel):
    product_id: str
    score: float
    reason: str  # in_cart, affinity, recently_viewed, popular


class TriggerEvent(BaseModel):
    """The event that prompted the decision (optional)."""

    model_config = ConfigDict(extra="ignore")

    event_type: str
    timestamp: datetime | None = None
    product_id: str | None = None

    @field_validator("event_type")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in EVENT_TYPES:
            raise ValueError(f"unknown event_type {v!r}; expected one of {', '.join(EVENT_TYPES)}")
        return v


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=200)
    trigger: TriggerEvent | None = None
    now: datetime | None = Field(None, description="Decision time (default: the server clock)")
    consent: bool | None = Field(None, description="Consent known to the caller (overrides a "
                                 "missing profile)")

    @field_validator("customer_id")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("customer_id must not be blank")
        return v

    def moment(self) -> datetime:
        t = self.now or datetime.now(UTC)
        return t if t.tzinfo else t.replace(tzinfo=UTC)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[DecisionRequest] = Field(min_length=1, max_length=10_000)


class Decision(BaseModel):
    decision_id: str
    customer_id: str
    decided_at: datetime
    action: Action
    variant: Variant | None = None
    send_at: datetime | None = None
    offer: Offer = Field(default_factory=Offer)
    recommendations: list[Recommendation] = Field(default_factory=list)
    scores: dict[str, float | None] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    model_versions: dict[str, str] = Field(default_factory=dict)
    control_group: bool = False
    degraded: bool = False
    propensity: float = 1.0  # probability the policy had of choosing this action
    expected_values: dict[str, float] = Field(default_factory=dict)

    def log_record(self, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        rec = self.model_dump(mode="json")
        if inputs is not None:
            rec["inputs"] = inputs
        return rec
