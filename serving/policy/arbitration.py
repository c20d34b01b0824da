"""Arbitration by expected value: propensity x value x business weight."""

from __future__ import annotations

from serving.policy.config import PolicyConfig
from serving.policy.inputs import PolicyInputs
from serving.policy.product_events import LEAD_REASON, product_value
from serving.schemas import Action
from training.reasons import Reason

ACTION_ORDER = {a: i for i, a in enumerate(Action)}  # ties go to the earlier action


def order_value(inp: PolicyInputs, cfg: PolicyConfig) -> float:
    """The customer's average order value in 90 days, else the default."""
    spend, n = inp.num("spend_90d", 0) or 0, inp.num("purchases_90d", 0) or 0
    return spend / n if n > 0 and spend > 0 else cfg.default_order_value


def expected_value(action: Action, inp: PolicyInputs, cfg: PolicyConfig) -> float:
    """Value of sending `action` now. Propensity is the calibrated purchase intent (the churn
    risk for re-engagement, whose value is keeping the customer); a response/uplift model
    replaces it when one is promoted."""
    intent = inp.scores.intent if inp.scores.intent is not None else cfg.default_intent
    aov = order_value(inp, cfg)
    weight = cfg.weights.get(action, 0.0)
    if action == Action.CART_ABANDONMENT:
        value = inp.num("cart_value", 0) or aov
        return min(1.0, cfg.cart_intent_boost * intent) * value * weight
    if action == Action.BROWSE_ABANDONMENT:
        return intent * aov * weight
    if action == Action.POST_PURCHASE_CROSS_SELL:
        return intent * cfg.cross_sell_value_share * aov * weight
    if action == Action.RE_ENGAGEMENT:
        churn = inp.scores.churn or 0.0
        spend = inp.num("spend_90d", 0) or aov
        return churn * spend * cfg.re_engagement_value_share * weight
    if action == Action.WELCOME:
        return max(intent, cfg.welcome_min_intent) * aov * weight
    if action in cfg.followup_weights:  # follow-ups (followups.py): interest x order value
        return intent * aov * cfg.followup_weights[action]
    if action in LEAD_REASON:
        return product_value(action, inp, cfg, intent, aov)
    return 0.0


def best_candidate(evs: dict[Action, float]) -> Action:
    """The candidate with the highest expected value (ties: the earlier action)."""
    return max(evs, key=lambda a: (evs[a], -ACTION_ORDER[a]))


def choose(evs: dict[Action, float], cfg: PolicyConfig) -> tuple[Action, str]:
    """The action with the highest expected value, or none below the threshold."""
    if not evs:
        return Action.NONE, Reason.NO_CANDIDATE
    best = best_candidate(evs)
    if evs[best] < cfg.min_expected_value:
        return Action.NONE, Reason.BELOW_VALUE_THRESHOLD
    return best, Reason.HIGHEST_EXPECTED_VALUE.with_(best.value)
