"""Policy settings: caps, timing, thresholds, business weights (documented in docs/policy.md)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from features.settings import Settings
from serving.schemas import Action

# the policy knobs that are also settings (NBA_*): their defaults are the settings' defaults
FROM_SETTINGS = ("cap_per_day", "cap_per_week", "min_gap_hours", "quiet_start_hour",
                 "quiet_end_hour", "control_share", "explore_share", "explore_method")
_DEFAULTS = {f.name: f.default for f in fields(Settings) if f.name in FROM_SETTINGS}


@dataclass(frozen=True)
class PolicyConfig:
    # eligibility
    cap_per_day: int = _DEFAULTS["cap_per_day"]
    cap_per_week: int = _DEFAULTS["cap_per_week"]
    min_gap_hours: float = _DEFAULTS["min_gap_hours"]
    quiet_start_hour: int = _DEFAULTS["quiet_start_hour"]  # customer-local, inclusive
    quiet_end_hour: int = _DEFAULTS["quiet_end_hour"]  # customer-local, exclusive
    control_share: float = _DEFAULTS["control_share"]
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
        Action.POST_PURCHASE_CROSS_SELL: 0.6, Action.RE_ENGAGEMENT: 0.7, Action.WELCOME: 1.0,
        Action.PRICE_DROP: 0.9, Action.BACK_IN_STOCK: 0.9})
    min_expected_value: float = 0.5
    default_order_value: float = 40.0
    # variants by intent tier
    high_intent: float = 0.30
    medium_intent: float = 0.10
    # offers
    max_discount: float = 0.25
    min_margin_after_discount: float = 0.10
    # learning: exploration share and the treatments it draws from (docs/uplift.md)
    explore_share: float = _DEFAULTS["explore_share"]
    explore_method: str = _DEFAULTS["explore_method"]  # or "thompson": sample by posterior
    explore_treatments: tuple[str, ...] = ("none", "email", "email_10", "email_20")
    # recommendations
    n_recommendations: int = 6
    max_per_category: int = 2
    # business-event triggers (serving/policy/product_events.py, features/product_events.py)
    price_drop_min: float = 0.10  # a price drop of at least this share of the old price
    product_interest_days: float = 14.0  # audience: viewed or carted within this window
    product_cart_boost: float = 1.5  # intent x this for a carted product (capped at 1)
    max_product_audience: int = 1_000  # decisions per POST /product_events call
    # content at open (serving/policy/open_content.py)
    offer_valid_hours: float = 72.0  # an email's offer expires this long after its send time

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        return cls(**{name: getattr(settings, name) for name in FROM_SETTINGS})
