"""Policy settings: every number the policy decides with (caps, timing, thresholds, business
weights, offers), documented in docs/policy.md. No policy module keeps a numeric constant of its
own (tests/serving/test_policy_config.py).

The fields are flat, grouped by stage with a comment each: tests, benchmarks and pipelines
build variants with `dataclasses.replace(cfg, cap_per_day=...)`, which nested groups would
break. The engine builds one from the settings (`from_settings`) at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from features.settings import Settings, SettingsError
from serving.schemas import Action

# the policy knobs that are also settings (NBA_*): their defaults are the settings' defaults
FROM_SETTINGS = ("cap_per_day", "cap_per_week", "min_gap_hours", "quiet_start_hour",
                 "quiet_end_hour", "control_share", "explore_share", "explore_method",
                 "followup_ignored_hours")
# ... and the knobs that are shares set in percent: knob -> its setting
FROM_PERCENT_SETTINGS = {"price_drop_min": "price_drop_min_pct"}
_DEFAULTS = {f.name: f.default for f in fields(Settings)
             if f.name in FROM_SETTINGS or f.name in FROM_PERCENT_SETTINGS.values()}


@dataclass(frozen=True)
class PolicyConfig:
    """The policy's knobs; the ones in `FROM_SETTINGS` default to the settings' defaults."""

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
    # follow-ups on the last email (followups.py): within `followup_max_hours` of its send;
    # unopened for `followup_ignored_hours` -> ignored (followed up once)
    followups: bool = True
    followup_max_hours: float = 72.0
    followup_ignored_hours: float = _DEFAULTS["followup_ignored_hours"]
    followup_max_unopened: int = 1  # more emails unopened since the last open: no follow-up
    followup_weights: dict[str, float] = field(default_factory=lambda: {
        Action.FOLLOW_UP_CLICKED: 0.9, Action.FOLLOW_UP_OPENED: 0.6,
        Action.FOLLOW_UP_IGNORED: 0.4})
    # engagement tiers (engagement.py): engagement_score >= high -> high, >= medium -> medium
    engagement_high: float = 0.5
    engagement_medium: float = 0.2
    # message intensity (engagement.py): the tier's intensity shapes the emails of
    # `intensity_actions` when it is in `intensity_treatments` (empty: a label only). premium:
    # the first `premium_pool` affinities re-ranked by affinity x (price / their median price)
    # ** premium_price_weight; reactivation: the top `reactivation_keep` affinities, then
    # best-sellers, under the reactivation subject. Off by default: neither gained on the
    # simulator (benchmarks/adaptive.py, docs/policy.md)
    intensity_treatments: tuple[str, ...] = ()
    intensity_actions: tuple[str, ...] = (Action.BROWSE_ABANDONMENT,
                                          Action.POST_PURCHASE_CROSS_SELL, Action.RE_ENGAGEMENT)
    premium_pool: int = 12
    premium_price_weight: float = 1.0
    reactivation_keep: int = 2
    # adaptive frequency (frequency.py): weekly cap per tier and when saturated (this many
    # emails in a row unopened, no recent visit), never above cap_per_week
    adaptive_frequency: bool = True
    cap_week_by_tier: dict[str, int] = field(default_factory=lambda: {
        "high": 3, "medium": 3, "low": 2})
    saturated_unopened: int = 5
    saturated_away_days: float = 7.0  # ... and no site visit for this long
    cap_week_saturated: int = 1
    # next order (next_order.py): re-engagement 1..lead days before the expected next order of
    # customers with at least min_days purchase days; off until a response shows it pays
    # (benchmarks/next_order.py: the date ranks who buys soon only weakly on the simulator)
    next_order_reminders: bool = False
    next_order_lead_days: float = 3.0
    next_order_min_days: int = 3
    # arbitration: expected value = propensity x value x weight, must reach the threshold
    weights: dict[str, float] = field(default_factory=lambda: {
        Action.CART_ABANDONMENT: 1.0, Action.BROWSE_ABANDONMENT: 0.8,
        Action.POST_PURCHASE_CROSS_SELL: 0.6, Action.RE_ENGAGEMENT: 0.7, Action.WELCOME: 1.0,
        Action.PRICE_DROP: 0.9, Action.BACK_IN_STOCK: 0.9})
    min_expected_value: float = 0.5
    default_order_value: float = 40.0
    # ... propensity: the intent score (else `default_intent`), x `cart_intent_boost` for an
    # open cart (capped at 1), at least `welcome_min_intent` for a welcome; value: the order
    # value, x `cross_sell_value_share` for a cross-sell; re-engagement: churn x the 90-day
    # spend x `re_engagement_value_share` (the value of keeping the customer)
    default_intent: float = 0.05
    cart_intent_boost: float = 1.5
    welcome_min_intent: float = 0.1
    cross_sell_value_share: float = 0.5
    re_engagement_value_share: float = 0.2
    # variants by intent tier
    high_intent: float = 0.30
    medium_intent: float = 0.10
    # offers (offers.py): depth = discount_base + discount_per_churn x churn risk
    # + discount_per_sensitivity x price sensitivity (default_price_sensitivity without 30-day
    # carts or purchases), in whole `discount_step`s, at most max_discount, capped so the margin
    # of the `featured_products` the email leads with stays >= min_margin_after_discount; the
    # reason says churn risk from `discount_churn_reason`
    max_discount: float = 0.25
    min_margin_after_discount: float = 0.10
    discount_base: float = 0.05
    discount_per_churn: float = 0.15
    discount_per_sensitivity: float = 0.10
    discount_step: float = 0.05
    default_price_sensitivity: float = 0.5
    featured_products: int = 3
    discount_churn_reason: float = 0.4
    # send time (timing.py): per action, (earliest, latest) hours after the decision; the other
    # flows (follow-ups, cross-sell, re-engagement) go the next day: from the whole hour
    # `later_delay_hours` ahead, within `later_window_hours`
    send_windows: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        Action.CART_ABANDONMENT: (0.0, 1.0), Action.BROWSE_ABANDONMENT: (1.0, 3.0),
        Action.WELCOME: (0.0, 1.0), Action.PRICE_DROP: (0.0, 3.0),
        Action.BACK_IN_STOCK: (0.0, 3.0)})
    later_delay_hours: float = 24.0
    later_window_hours: float = 24.0
    # learning: exploration share and the treatments it draws from (docs/uplift.md)
    explore_share: float = _DEFAULTS["explore_share"]
    explore_method: str = _DEFAULTS["explore_method"]  # or "thompson": sample by posterior
    explore_treatments: tuple[str, ...] = ("none", "email", "email_10", "email_20")
    propensity_draws: int = 4_000  # Monte Carlo draws of a Thompson propensity
    # recommendations
    n_recommendations: int = 6
    max_per_category: int = 2
    # business-event triggers (serving/policy/product_events.py, features/online/product_events.py)
    # a price drop of at least this share of the old price
    price_drop_min: float = _DEFAULTS["price_drop_min_pct"] / 100
    product_interest_days: float = 14.0  # audience: viewed or carted within this window
    product_cart_boost: float = 1.5  # intent x this for a carted product (capped at 1)
    max_product_audience: int = 1_000  # decisions per POST /product_events call
    # content at open (serving/policy/open_content.py)
    offer_valid_hours: float = 72.0  # an email's offer expires this long after its send time
    # channel escalation (escalation.py): after the email of these actions, a step on each
    # consented channel, in this order, each `escalation_delay_hours` after the one before,
    # within the channel's caps (sends in the last 24 h / 7 days) and out of quiet hours
    escalation: bool = True
    escalation_actions: tuple[str, ...] = (Action.CART_ABANDONMENT,)
    escalation_channels: tuple[str, ...] = ("push", "sms")
    escalation_delay_hours: float = 1.0
    channel_cap_per_day: dict[str, int] = field(default_factory=lambda: {"push": 1, "sms": 1})
    channel_cap_per_week: dict[str, int] = field(default_factory=lambda: {"push": 3, "sms": 2})

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        """The policy of a deployment: defaults, with the settings' values where they exist
        (`SettingsError` for a setting the policy cannot use)."""
        values = {name: getattr(settings, name) for name in FROM_SETTINGS}
        values |= {knob: getattr(settings, pct) / 100
                   for knob, pct in FROM_PERCENT_SETTINGS.items()}
        cfg = cls(**values)
        if cfg.followup_ignored_hours >= cfg.followup_max_hours:
            raise SettingsError(
                f"NBA_FOLLOWUP_IGNORED_HOURS={cfg.followup_ignored_hours:g}: expected less than "
                f"the follow-up window ({cfg.followup_max_hours:g} h), or no email would ever "
                "count as ignored")
        return cfg
