"""Engagement tiers: the real-time engagement score (a Feast feature, features/transforms.py)
cut into high / medium / low, each setting the message intensity."""

from __future__ import annotations

from serving.policy.config import PolicyConfig
from serving.policy.inputs import PolicyInputs
from serving.schemas import EngagementTier
from training.reasons import Reason

INTENSITY = {EngagementTier.HIGH: "premium", EngagementTier.MEDIUM: "standard",
             EngagementTier.LOW: "reactivation"}


def engagement_tier(inp: PolicyInputs, cfg: PolicyConfig) -> EngagementTier | None:
    """The customer's tier from `engagement_score` (None: no score, e.g. cold start)."""
    score = inp.num("engagement_score")
    if score is None:
        return None
    if score >= cfg.engagement_high:
        return EngagementTier.HIGH
    if score >= cfg.engagement_medium:
        return EngagementTier.MEDIUM
    return EngagementTier.LOW


def engagement_reason(tier: EngagementTier) -> str:
    """`engagement_<tier>:<intensity>`, e.g. `engagement_low:reactivation`."""
    return Reason.ENGAGEMENT.with_(tier.value, INTENSITY[tier])
