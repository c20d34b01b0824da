"""Request and response models of the decision API (pydantic), shared by policy and service."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from features.schema import EVENT_TYPES

# The event types as an enum in the OpenAPI spec (the one list in features.schema); the
# validator below names a wrong value in its error, which a Literal's error would not show.
EventTypeName = Annotated[str, Field(json_schema_extra={"enum": list(EVENT_TYPES)})]


class Action(StrEnum):
    CART_ABANDONMENT = "cart_abandonment"
    BROWSE_ABANDONMENT = "browse_abandonment"
    POST_PURCHASE_CROSS_SELL = "post_purchase_cross_sell"
    RE_ENGAGEMENT = "re_engagement"
    WELCOME = "welcome"
    # follow-ups on what the customer did with the last email (serving/policy/followups.py)
    FOLLOW_UP_CLICKED = "follow_up_clicked"
    FOLLOW_UP_OPENED = "follow_up_opened"
    FOLLOW_UP_IGNORED = "follow_up_ignored"
    PRICE_DROP = "price_drop"  # business events (serving/policy/product_events.py)
    BACK_IN_STOCK = "back_in_stock"
    NONE = "none"


class Variant(StrEnum):
    URGENCY = "urgency"
    COMPARISON = "comparison"
    EDUCATIONAL = "educational"
    REACTIVATION = "reactivation"  # low engagement, with the intensity on (docs/policy.md)


class EngagementTier(StrEnum):
    """Engagement tier (serving/policy/engagement.py) and the message intensity it sets."""

    HIGH = "high"  # intensity "premium"
    MEDIUM = "medium"  # "standard"
    LOW = "low"  # "reactivation"


class Channel(StrEnum):
    """Channels a decision may escalate to after its email (serving/policy/escalation.py)."""

    SMS = "sms"
    PUSH = "push"


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


class PlanStep(BaseModel):
    """A message on another channel after the email, for the caller to send at `at` if
    `condition` still holds then, and to drop once one of `cancel_on` happened since."""

    channel: Channel
    at: datetime
    condition: str  # "cart_open": send only if the cart is still open at `at`
    cancel_on: list[str] = Field(default_factory=list)  # event types, e.g. ["purchase"]


EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
# ISO 8601 date-times from 1900 to 2199, said in the schema so clients (and schemathesis) know
YEAR_PATTERN = "^(19|20|21)[0-9]{2}-"
TIME_DOC = "ISO 8601 date-time between 1900 and 2199 (naive: UTC)"


def _in_range(v: datetime | None) -> datetime | None:
    """Times the policy can compute with (a send time is days after `now`)."""
    if v is None:
        return v
    aware = v if v.tzinfo else v.replace(tzinfo=UTC)
    if not EARLIEST <= aware < LATEST:
        raise ValueError(f"{v.isoformat()} is out of range (1900-01-01 .. 2200-01-01)")
    return v


def _iso_text(v: object) -> object:
    """A time must be an ISO 8601 string (a bare number is ambiguous: seconds? ms?)."""
    if v is not None and not isinstance(v, str | datetime):
        raise ValueError("expected an ISO 8601 date-time string, e.g. 2026-07-04T12:00:00Z")
    return v


def Time(description: str = TIME_DOC):  # a Field factory, used like a type
    return Field(None, description=description, json_schema_extra={"pattern": YEAR_PATTERN})


# "at least one character that is not white space", spelled out: JSON Schema's regex dialect
# (ECMAScript), pydantic's (Rust) and Python's disagree on what `\S` excludes (U+0085, U+180E)
NOT_ONLY_SPACE = (r"[^\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
                  r"\u3000\ufeff]")


class TriggerEvent(BaseModel):
    """The event that prompted the decision (optional)."""

    model_config = ConfigDict(extra="ignore")

    event_type: EventTypeName
    timestamp: datetime | None = Time()
    product_id: str | None = Field(None, max_length=200)

    _text = field_validator("timestamp", mode="before")(_iso_text)
    _range = field_validator("timestamp")(_in_range)

    @field_validator("event_type")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in EVENT_TYPES:
            raise ValueError(f"unknown event_type {v!r}; expected one of {', '.join(EVENT_TYPES)}")
        return v


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=200, pattern=NOT_ONLY_SPACE)
    trigger: TriggerEvent | None = None
    now: datetime | None = Time(f"Decision time (default: the server clock); {TIME_DOC}")
    consent: StrictBool | None = Field(None, description="Consent known to the caller "
                                       "(overrides a missing profile)")

    _text = field_validator("now", mode="before")(_iso_text)
    _range = field_validator("now")(_in_range)

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

    requests: list[DecisionRequest] = Field(min_length=1, max_length=1_000)


class Decision(BaseModel):
    decision_id: str
    customer_id: str
    decided_at: datetime
    action: Action
    variant: Variant | None = None
    engagement_tier: EngagementTier | None = None  # None: no engagement data
    intensity: str | None = None  # premium / standard / reactivation, from the tier
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
    # channel escalation: steps after the email (empty: the email alone; sending is the caller's)
    plan: list[PlanStep] = Field(default_factory=list)

    def log_record(self, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        rec = self.model_dump(mode="json")
        if inputs is not None:
            rec["inputs"] = inputs
        return rec
