"""Engagement tiers: the real-time engagement score (a Feast feature, features/transforms.py)
cut into high / medium / low, each setting the message intensity:

- high -> premium: the customer's top affinities re-ranked toward higher-priced products;
- medium -> standard: the usual recommendations;
- low -> reactivation: the top few affinities, then best-sellers, under the reactivation
  subject.

The intensity acts on the emails whose products the policy picks by affinity
(`intensity_actions`), for the intensities in `intensity_treatments` (docs/policy.md: what it
did on the simulator); everywhere else it is a label for the caller's template.
"""

from __future__ import annotations

import statistics

from serving.policy.config import PolicyConfig
from serving.policy.inputs import Catalog, PolicyInputs
from serving.schemas import Action, EngagementTier
from training.reasons import Reason

PREMIUM, STANDARD, REACTIVATION = "premium", "standard", "reactivation"
INTENSITY = {EngagementTier.HIGH: PREMIUM, EngagementTier.MEDIUM: STANDARD,
             EngagementTier.LOW: REACTIVATION}
# the reason of the recommendations an intensity shaped
INTENSITY_RECS = {PREMIUM: Reason.RECS_PREMIUM_HIGHER_VALUE,
                  REACTIVATION: Reason.RECS_REACTIVATION_BEST_SELLERS}


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


def content_intensity(tier: EngagementTier | None, action: Action,
                      cfg: PolicyConfig) -> str | None:
    """The intensity that shapes this email's content (`premium`, `reactivation`), or None:
    the standard content (medium tier, no tier, switched off, or a flow led by what the
    customer did: cart, business event, follow-up, welcome)."""
    if tier is None or action not in cfg.intensity_actions:
        return None
    intensity = INTENSITY[tier]
    return intensity if intensity in cfg.intensity_treatments else None


def intensity_affinity(intensity: str, affinity: list[tuple[str, float]], catalog: Catalog,
                       cfg: PolicyConfig) -> list[tuple[str, float]]:
    """The affinity ranking an intensity recommends from (the usual filters and popular
    back-fill follow in recommend.py)."""
    if intensity == REACTIVATION:  # stale tastes: the strongest few, then best-sellers
        return affinity[:cfg.reactivation_keep]
    return premium_affinity(affinity, catalog, cfg)


def premium_affinity(affinity: list[tuple[str, float]], catalog: Catalog,
                     cfg: PolicyConfig) -> list[tuple[str, float]]:
    """The first `premium_pool` affinities re-ranked by affinity x (price / their median
    price) ** `premium_price_weight`, then the rest: higher-value products the customer likes."""
    pool = affinity[:cfg.premium_pool]
    prices = {pid: p.price for pid, _ in pool if (p := catalog.get(pid)) is not None}
    if not prices:
        return affinity
    median = statistics.median(prices.values())
    if median <= 0:
        return affinity
    value = [(pid, score * (prices.get(pid, median) / median) ** cfg.premium_price_weight)
             for pid, score in pool]
    return sorted(value, key=lambda x: -x[1]) + affinity[cfg.premium_pool:]
