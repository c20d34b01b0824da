"""Policy settings: caps, timing, thresholds, business weights (documented in docs/policy.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from serving.schemas import Action


@dataclass(frozen=True)
class PolicyConfig:
    # eligibility
    cap_per_day: int = 1
    cap_per_week: int = 3
    min_gap_hours: float = 12.0
    quiet_start_hour: int = 22  # customer-local, inclusive
    quiet_end_hour: int = 7  # customer-local, exclusive
    control_share: float = 0.05
    control_salt: str = "nba-control-v1"
    # candidate rules
    welcome_days: float = 3.0
    cart_max_age_hours: float = 72.0
    browse_max_age_hours: float = 48.0
    cross_sell_max_hours: float = 72.0
    inactive_days: float = 21.0
    re_engagement_min_churn: float = 0.4
    # arbitration: expected value = propensity x value x weight, must reach the threshold
    weights: dict[str, float] = field(default_factory=lambda: {
        Action.CART_ABANDONMENT: 1.0, Action.BROWSE_ABANDONMENT: 0.8,
        Action.POST_PURCHASE_CROSS_SELL: 0.6, Action.RE_ENGAGEMENT: 0.7, Action.WELCOME: 1.0})
    min_expected_value: float = 0.5
    default_order_value: float = 40.0
    # variants by intent tier
    high_intent: float = 0.30
    medium_intent: float = 0.10
    # offers
    max_discount: float = 0.25
    min_margin_after_discount: float = 0.10
    # learning: exploration share and the treatments it draws from (docs/uplift.md)
    explore_share: float = 0.0
    explore_method: str = "epsilon"  # or "thompson": sample treatments by posterior
    explore_treatments: tuple[str, ...] = ("none", "email", "email_10", "email_20")
    # recommendations
    n_recommendations: int = 6
    max_per_category: int = 2

    @classmethod
    def from_settings(cls, settings) -> PolicyConfig:
        return cls(cap_per_day=settings.cap_per_day, cap_per_week=settings.cap_per_week,
                   min_gap_hours=settings.min_gap_hours,
                   quiet_start_hour=settings.quiet_start_hour,
                   quiet_end_hour=settings.quiet_end_hour, control_share=settings.control_share,
                   explore_share=settings.explore_share,
                   explore_method=settings.explore_method)
