"""Next order: when the customer is expected to buy again and what they are worth in a year.

- date: the last purchase plus the customer's mean gap between purchase days (customers with at
  least `next_order_min_days` purchase days; request-time features `mean_purchase_gap_days`,
  `hours_since_last_purchase`), as days from now (negative: overdue);
- 12-month value: expected purchase days in the next 365 days (BG/NBD of the intent champion,
  `Scores.purchases_12m`) x the customer's spend per purchase day.

Both are returned in the decision scores (`next_order_days`, `next_order_value_12m`); the date
times re-engagement: a reminder goes out while the expected date is still ahead
(`candidate_re_engagement:next_order_due`).
"""

from __future__ import annotations

from serving.policy.config import PolicyConfig
from serving.policy.inputs import PolicyInputs


def next_order_days(inp: PolicyInputs, cfg: PolicyConfig) -> float | None:
    """Days from now to the expected next purchase (None: too few purchase days)."""
    days = inp.num("purchase_days_total", 0) or 0
    gap = inp.num("mean_purchase_gap_days")
    since = inp.num("hours_since_last_purchase")
    if days < cfg.next_order_min_days or gap is None or gap <= 0 or since is None:
        return None
    return gap - since / 24


def next_order_value(inp: PolicyInputs) -> float | None:
    """Expected spend in the next 12 months (None without a customer-base model)."""
    n = inp.scores.purchases_12m
    per_day = inp.num("spend_per_purchase_day")
    if n is None or per_day is None:
        return None
    return n * per_day


def next_order_due(inp: PolicyInputs, cfg: PolicyConfig) -> bool:
    """The expected date is 1 to `next_order_lead_days` days ahead: a reminder sent the next
    day still lands before it."""
    days = next_order_days(inp, cfg)
    return cfg.next_order_reminders and days is not None \
        and 1.0 <= days <= cfg.next_order_lead_days
