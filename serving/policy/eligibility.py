"""Eligibility: who may get an email at all right now (consent, caps) and which flows a later
purchase suppresses."""

from __future__ import annotations

from serving.policy.config import PolicyConfig
from serving.policy.inputs import PolicyInputs
from serving.schemas import Action
from training.reasons import Reason

ABANDONMENT = (Action.CART_ABANDONMENT, Action.BROWSE_ABANDONMENT)


def blocked(inp: PolicyInputs, cfg: PolicyConfig) -> str | None:
    """The reason no email may be sent now, or None."""
    consent = inp.num("consent")
    if inp.consent_override is not None:
        consent = 1.0 if inp.consent_override else 0.0
    if consent is None:
        return Reason.CONSENT_UNKNOWN
    if consent < 1:
        return Reason.NO_CONSENT
    if inp.num("unsubscribed", 0) >= 1:
        return Reason.UNSUBSCRIBED
    if emails_within(inp, "emails_sent_24h", 24) >= cfg.cap_per_day:
        return Reason.CAP_DAY_REACHED
    if emails_within(inp, "emails_sent_7d", 168) >= cfg.cap_per_week:
        return Reason.CAP_WEEK_REACHED
    return None


def emails_within(inp: PolicyInputs, stored: str, hours: float) -> float:
    """Emails sent in the `hours` before the decision. Stored window counts hold as of the
    customer's last event; at request time the window has moved on: none if the last email is
    older than the window, else the stored count (an upper bound), at least one."""
    since = inp.num("hours_since_last_email_sent")
    if since is None or since >= hours:
        return 0.0
    return max(1.0, inp.num(stored, 1.0) or 1.0)


def suppressed_by_purchase(inp: PolicyInputs) -> bool:
    """A purchase at or after the trigger event suppresses the abandonment flows it started."""
    if inp.trigger is None or inp.trigger.timestamp is None:
        return False
    last_buy = inp.num("last_purchase_ts")
    return last_buy is not None and last_buy >= inp.trigger.timestamp.timestamp()
