"""Channel escalation: after a cart reminder email, a push or SMS step if the cart is still open.

The plan is returned with the decision; sending each step (and reporting it back as a
`push_sent` / `sms_sent` event, which the per-channel caps count) is the caller's job. A step
goes to a channel the customer consented to (`push_consent` / `sms_consent` in the profile;
missing: no consent), under that channel's daily and weekly caps, out of quiet hours, and is
cancelled by a purchase.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from features import schema as s
from serving.policy.config import PolicyConfig
from serving.policy.inputs import PolicyInputs, Scores
from serving.policy.timing import out_of_quiet_hours
from serving.schemas import Action, Channel, PlanStep
from training.reasons import Reason

# What must still hold when a step is due, by the action of the email. Browse abandonment can
# be switched on (`escalation_actions`) but is not by default: with no cart there is little to
# remind of, its intent is lower, and an SMS or push about a viewed product is the intrusion that
# costs a channel's consent.
CONDITIONS: dict[str, str] = {Action.CART_ABANDONMENT: "cart_open",
                              Action.BROWSE_ABANDONMENT: "not_purchased"}
CANCEL_ON = [s.EventType.PURCHASE.value]


def sends_within(inp: PolicyInputs, channel: str, window: str, hours: float) -> float:
    """Messages sent on `channel` in the `hours` before the decision: none if the last one is
    older than that, else the stored window count (as of the customer's last event), at least
    one (as `eligibility.emails_within` does for email)."""
    last = inp.num(f"last_{channel}_sent_ts")
    if last is None or inp.now.timestamp() - last >= hours * 3600:
        return 0.0
    return max(1.0, inp.num(f"{channel}_sent_{window}", 1.0) or 1.0)


def skipped(inp: PolicyInputs, channel: str, cfg: PolicyConfig) -> str | None:
    """Why no step goes to `channel` (`escalation_skipped:<channel>_<skip>`), or None."""
    if (inp.num(s.CHANNEL_CONSENTS[channel], 0.0) or 0.0) < 1:
        return Reason.ESCALATION_SKIPPED.with_(channel, "no_consent")
    if sends_within(inp, channel, "24h", 24) >= cfg.channel_cap_per_day.get(channel, 0):
        return Reason.ESCALATION_SKIPPED.with_(channel, "cap_day")
    if sends_within(inp, channel, "7d", 168) >= cfg.channel_cap_per_week.get(channel, 0):
        return Reason.ESCALATION_SKIPPED.with_(channel, "cap_week")
    return None


def escalation_plan(action: Action, email_at: datetime, inp: PolicyInputs,
                    cfg: PolicyConfig) -> tuple[list[PlanStep], list[str]]:
    """The steps after an email sent at `email_at`, and their reasons."""
    if not cfg.escalation or action not in cfg.escalation_actions or action not in CONDITIONS:
        return [], []
    steps: list[PlanStep] = []
    reasons: list[str] = []
    at = email_at
    for channel in cfg.escalation_channels:
        why = skipped(inp, channel, cfg)
        if why is not None:
            reasons.append(why)
            continue
        at, shifted = out_of_quiet_hours(at + timedelta(hours=cfg.escalation_delay_hours), inp,
                                         cfg)
        steps.append(PlanStep(channel=Channel(channel), at=at, condition=CONDITIONS[action],
                              cancel_on=list(CANCEL_ON)))
        after = cfg.escalation_delay_hours * len(steps)
        reasons.append(Reason.ESCALATION_STEP.with_(channel, f"{after:g}"))
        if shifted:
            reasons.append(Reason.ESCALATION_QUIET_HOURS_SHIFT.with_(channel))
    return steps, reasons


def step_status(step: PlanStep, decided_at: datetime, features: Mapping[str, object]) -> str:
    """What a caller does with a due step, from the customer's online features at its time:
    "send", or "cancelled:purchased" (a purchase since the decision) / "cancelled:cart_closed"
    (its condition no longer holds)."""
    inp = PolicyInputs("", decided_at, features, Scores())  # numbers read as the policy does
    last_buy = inp.num("last_purchase_ts")
    if (s.EventType.PURCHASE in step.cancel_on and last_buy is not None
            and last_buy >= decided_at.timestamp()):
        return "cancelled:purchased"
    if step.condition == "cart_open" and not inp.num("cart_open", 0.0):
        return "cancelled:cart_closed"
    return "send"
