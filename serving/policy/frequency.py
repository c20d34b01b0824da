"""Adaptive frequency: a weekly cap per customer that follows engagement and fatigue.

Saturated customers (`saturated_unopened` emails in a row without an open and no site visit for
`saturated_away_days`) and low-engagement ones get fewer emails; engaged ones keep the global cap.
The global caps (eligibility.py) still apply first; this only lowers the weekly one. Without
engagement data the global cap holds.
"""

from __future__ import annotations

from serving.policy.config import PolicyConfig
from serving.policy.eligibility import emails_within
from serving.policy.engagement import engagement_tier
from serving.policy.inputs import PolicyInputs
from training.reasons import Reason


def weekly_cap(inp: PolicyInputs, cfg: PolicyConfig) -> tuple[int, str]:
    """The customer's weekly cap and why (`saturated`, `<tier>_engagement` or `global`)."""
    cap = cfg.cap_per_week
    if not cfg.adaptive_frequency:
        return cap, "global"
    unopened = inp.num("emails_since_last_open")
    site = inp.num("hours_since_last_site")
    away = site is None or site >= cfg.saturated_away_days * 24
    if unopened is not None and unopened >= cfg.saturated_unopened and away:
        return min(cap, cfg.cap_week_saturated), "saturated"
    tier = engagement_tier(inp, cfg)
    if tier is not None:
        return min(cap, cfg.cap_week_by_tier.get(tier.value, cap)), f"{tier.value}_engagement"
    return cap, "global"


def adaptive_block(inp: PolicyInputs, cfg: PolicyConfig) -> str | None:
    """`cap_week_adaptive:<why>` when the customer's own weekly cap is reached, else None."""
    cap, why = weekly_cap(inp, cfg)
    if cap < cfg.cap_per_week and emails_within(inp, "emails_sent_7d", 168) >= cap:
        return Reason.CAP_WEEK_ADAPTIVE.with_(why)
    return None
