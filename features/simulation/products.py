"""Price and stock changes on a simulated world, and how interested customers respond to a
business-event email, with known causal effects (like features/simulation/campaigns.py).

`product_changes` draws, over a period, price changes (most of them drops of 10-30%, some
small ones below any sensible trigger threshold) for popular in-stock products, and restocks of
the products the catalog has out of stock. `trigger_response` is the structural response of a
customer interested in the product (viewed or carted it) to an email about it within a week:

- without the email some buy anyway, more when they carted it and when the price fell;
- the email reaches a customer with their open propensity (fading as they churn) and converts
  more for carted items, deeper drops (scaled by the customer's discount sensitivity) and
  restocks (pent-up demand);
- every email beyond the customer's fatigue tolerance (emails in the past week) raises the
  unsubscribe risk, as the simulator's own emails do (features/simulation/behavior.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import schema as s
from features.online.product_events import BACK_IN_STOCK, PRICE_CHANGE, STOCK_CHANGE
from features.simulation.campaigns import alive_at
from features.sources.dataset import Dataset

DROPS = (0.10, 0.15, 0.20, 0.25, 0.30)
SMALL = 0.05  # a price move below the trigger threshold


def product_changes(ds: Dataset, start: pd.Timestamp, end: pd.Timestamp, n_drops: int = 20,
                    n_small: int = 5, n_restocks: int | None = None, seed: int = 0
                    ) -> list[dict]:
    """Product events (API/CLI shape) at random times in [start, end): drops and small moves
    for products drawn by their views before `start`, restocks of out-of-stock products."""
    rng = np.random.default_rng(seed)
    products = ds.products.set_index(s.PRODUCT_ID)
    views = ds.events[(ds.events[s.EVENT_TYPE] == str(s.EventType.PRODUCT_VIEW))
                      & (ds.events[s.EVENT_TS] < start)][s.PRODUCT_ID].value_counts()
    in_stock = products.index[products[s.IN_STOCK].astype(bool)]
    pool = views.reindex(in_stock).fillna(0) + 1.0
    n = min(n_drops + n_small, len(pool))
    picked = rng.choice(pool.index.to_numpy(), n, replace=False, p=(pool / pool.sum()).to_numpy())
    span = (end - start).total_seconds()

    def when() -> str:  # whole seconds, like every event time (no nanoseconds to discard)
        return (start + pd.Timedelta(seconds=int(rng.random() * span))).isoformat()

    rows = []
    for i, pid in enumerate(picked):
        cut = rng.choice(DROPS) if i < n_drops else SMALL
        price = round(float(products.at[pid, s.PRICE]) * (1 - cut), 2)
        rows.append({s.PRODUCT_ID: str(pid), s.EVENT_TYPE: PRICE_CHANGE, s.PRICE: price,
                     s.EVENT_TS: when()})
    out = products.index[~products[s.IN_STOCK].astype(bool)].to_numpy()
    k = len(out) if n_restocks is None else min(n_restocks, len(out))
    for pid in rng.choice(out, k, replace=False) if k else []:
        rows.append({s.PRODUCT_ID: str(pid), s.EVENT_TYPE: STOCK_CHANGE, s.IN_STOCK: True,
                     s.EVENT_TS: when()})
    return sorted(rows, key=lambda r: r[s.EVENT_TS])


@dataclass(frozen=True)
class TriggerResponse:
    """Expected outcomes within a week per customer: buying the product without and with the
    email, and the unsubscribe risk of the email."""

    p_buy_none: np.ndarray
    p_buy_email: np.ndarray
    p_unsub_email: np.ndarray


def trigger_response(truth: pd.DataFrame, kind: str, drop: float, carted: np.ndarray,
                     emails_7d: np.ndarray, at: pd.Timestamp) -> TriggerResponse:
    """The structural response of customers `truth` (rows) interested in one product;
    `emails_7d`: the emails each received in the week before this one."""
    churn_ts = pd.to_datetime(truth["churn_ts"], utc=True).astype("int64").to_numpy() / 1e9
    alive = alive_at(churn_ts, at.timestamp())
    interest = np.where(carted, 0.10, 0.04)
    p0 = np.clip(interest * alive * (1 + 2 * drop), 0, 0.9)
    reach = truth["open_base"].to_numpy() * (0.1 + 0.9 * alive)
    pull = (0.6 if kind == BACK_IN_STOCK else
            0.2 + 3.0 * drop * truth["discount_sensitivity"].to_numpy())
    lift = reach * np.where(carted, 0.35, 0.15) * pull * (1 - p0)
    over = np.maximum(0.0, emails_7d - truth["fatigue_tolerance"].to_numpy())
    churned = churn_ts <= at.timestamp()
    p_unsub = 0.0012 + 0.012 * over + 0.002 * churned  # the simulator's own email model
    return TriggerResponse(p0, np.clip(p0 + lift, 0, 0.97), p_unsub)
