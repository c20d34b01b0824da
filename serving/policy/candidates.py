"""Candidate actions from the customer's context, each with the reason it applies."""

from __future__ import annotations

from serving.policy.config import PolicyConfig
from serving.policy.inputs import PolicyInputs
from serving.schemas import Action


def candidates(inp: PolicyInputs, cfg: PolicyConfig) -> list[tuple[Action, str]]:
    out: list[tuple[Action, str]] = []
    since_signup = inp.num("days_since_signup")
    if inp.trigger is not None and inp.trigger.event_type == "signup":
        since_signup = 0.0
    purchases = inp.num("purchases_90d", 0) or 0
    if since_signup is not None and since_signup <= cfg.welcome_days and purchases == 0:
        out.append((Action.WELCOME, "new_signup"))
    cart_age = inp.num("hours_since_last_cart_add")
    if (inp.num("cart_open", 0) or 0) >= 1 and cart_age is not None \
            and cart_age <= cfg.cart_max_age_hours:
        out.append((Action.CART_ABANDONMENT, "open_cart"))
    view_age = inp.num("hours_since_last_view")
    buy_age = inp.num("hours_since_last_purchase")
    browsed = view_age is not None and view_age <= cfg.browse_max_age_hours
    bought_since = buy_age is not None and view_age is not None and buy_age <= view_age
    if browsed and not bought_since and not (inp.num("cart_open", 0) or 0) >= 1:
        out.append((Action.BROWSE_ABANDONMENT, "recent_views"))
    if buy_age is not None and buy_age <= cfg.cross_sell_max_hours:
        out.append((Action.POST_PURCHASE_CROSS_SELL, "recent_purchase"))
    site_age = inp.num("hours_since_last_site")
    inactive = site_age is None or site_age >= cfg.inactive_days * 24
    churn = inp.scores.churn
    if inactive and churn is not None and churn >= cfg.re_engagement_min_churn \
            and inp.known and since_signup is not None and since_signup > cfg.inactive_days:
        out.append((Action.RE_ENGAGEMENT, "inactive_high_churn"))
    return out
