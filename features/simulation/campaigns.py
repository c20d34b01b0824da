"""Randomized campaign experiments on a simulated population, with known causal effects.

At each decision time every reachable customer (consent, not unsubscribed, signed up) gets
one treatment drawn by a logging policy with known propensities: no email, an email, or an
email with a 10% or 20% discount. What follows in the next 7 days comes from a structural
response model over the customer's latent traits (docs/uplift.md):

- some customers buy anyway (high baseline), so an email adds little and a discount only
  gives margin away;
- some respond to an email, more when their cart is open;
- some respond only to a discount (discount-sensitive, low mission conversion);
- some are annoyed: each email above their fatigue tolerance in the past week risks an
  unsubscribe, which costs the customer's future value.

Because the model is known, the expected outcome of every treatment for every customer is
computed exactly, so the true value of any policy is known (`true_value`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import schema as s
from features.simulation.behavior import CATEGORIES, CATEGORY_MEDIAN_PRICE, DAY
from features.sources.dataset import Dataset
from features.transforms import RESPONSE_FEATURES, customer_state_at

TREATMENTS = ("none", "email", "email_10", "email_20")
DISCOUNT = {"none": 0.0, "email": 0.0, "email_10": 0.10, "email_20": 0.20}
CONTROL = "none"
WINDOW_DAYS = 7
UNSUBSCRIBE_COST = 25.0  # future value lost with an unsubscribe
LOGGING_PROPENSITY = {"none": 0.25, "email": 0.35, "email_10": 0.2, "email_20": 0.2}


@dataclass(frozen=True)
class Response:
    """Per-customer expected outcomes of each treatment (rows: customers, cols: TREATMENTS)."""

    p_buy: np.ndarray
    p_unsub: np.ndarray
    order_value: np.ndarray

    def expected_reward(self) -> np.ndarray:
        """E[revenue after discount - unsubscribe cost] per customer and treatment."""
        disc = np.array([DISCOUNT[t] for t in TREATMENTS])
        return (self.p_buy * self.order_value[:, None] * (1 - disc)
                - UNSUBSCRIBE_COST * self.p_unsub)


def alive_at(churn_ts: np.ndarray, at: float) -> np.ndarray:
    """Activity multiplier of the simulator: fades over the 30 days before churn, 0 after."""
    to_churn = (churn_ts - at) / DAY
    return np.where(to_churn <= 0, 0.0, np.clip(0.25 + 0.75 * to_churn / 30.0, 0.25, 1.0))


def response(truth: pd.DataFrame, state: pd.DataFrame, at: pd.Timestamp) -> Response:
    """The structural response model for customers `truth` (aligned with `state` rows)."""
    churn_ts = pd.to_datetime(truth["churn_ts"], utc=True).astype("int64").to_numpy() / 1e9
    alive = alive_at(churn_ts, at.timestamp())
    rate = truth["mission_rate"].to_numpy() * truth["mission_conversion"].to_numpy() + \
        0.05 * truth["browse_rate"].to_numpy()
    cart = np.nan_to_num(state["cart_open"].to_numpy(dtype=float)) > 0
    p0 = 1 - np.exp(-WINDOW_DAYS * rate * alive)
    p0 = p0 + (1 - p0) * 0.25 * alive * cart
    reach = truth["open_base"].to_numpy() * (0.1 + 0.9 * alive)
    lift_email = reach * 0.2 * (1 - p0) * np.where(cart, 2.5, 1.0)
    carts = np.nan_to_num(state["cart_adds_30d"].to_numpy(dtype=float))
    buys = np.nan_to_num(state["purchases_30d"].to_numpy(dtype=float))
    abandoner = np.where(carts > 0, carts / np.maximum(carts + buys, 1), 0.3)
    deal_seeker = 0.5 * truth["discount_sensitivity"].to_numpy() + 0.5 * abandoner
    p_buy = np.empty((len(truth), len(TREATMENTS)))
    p_unsub = np.zeros_like(p_buy)
    emails_7d = np.nan_to_num(state["emails_sent_7d"].to_numpy(dtype=float))
    tolerant = truth["fatigue_tolerance"].to_numpy() > 3
    annoyance = np.maximum(0.0, emails_7d - 1) * np.where(tolerant, 0.02, 0.08)
    for j, t in enumerate(TREATMENTS):
        if t == CONTROL:
            p_buy[:, j] = p0
            continue
        lift_deal = reach * deal_seeker ** 2 * 8.0 * DISCOUNT[t] * (1 - p0)
        p_buy[:, j] = np.clip(p0 + lift_email + lift_deal, 0, 0.97)
        p_unsub[:, j] = np.clip(0.002 + annoyance, 0, 0.5)
    top = pd.Index(CATEGORIES).get_indexer(truth["top_category"].astype(str))
    value = 30.0 + 0.4 * np.array(CATEGORY_MEDIAN_PRICE)[np.maximum(top, 0)]
    return Response(p_buy=p_buy, p_unsub=p_unsub, order_value=value)


def _reachable(ds: Dataset, state: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    signed = pd.to_datetime(ds.customers[s.SIGNUP_TS], utc=True) <= at
    unsub = np.nan_to_num(state["unsubscribed"].to_numpy(dtype=float)) > 0
    return (ds.customers[s.CONSENT].astype(bool) & signed).to_numpy() & ~unsub


def campaign_log(ds: Dataset, times: list[pd.Timestamp], seed: int = 0,
                 propensity: dict[str, float] | None = None) -> pd.DataFrame:
    """A randomized campaign log: one row per reachable customer and decision time, with the
    observable features, the treatment, its logging propensity and the sampled outcomes.
    Columns `true_reward_<treatment>` hold the exact expected reward of every treatment."""
    if ds.truth is None:
        raise ValueError("campaign simulation needs a simulated dataset (its ground truth)")
    prop = propensity or LOGGING_PROPENSITY
    probs = np.array([prop.get(t, 0.0) for t in TREATMENTS])
    if probs.min() <= 0 or abs(probs.sum() - 1) > 1e-9:
        raise ValueError(f"logging propensities must be > 0 for every treatment and sum to 1: "
                         f"{prop}")
    rng = np.random.default_rng(seed)
    truth = ds.customers[[s.CUSTOMER_ID]].merge(ds.truth, on=s.CUSTOMER_ID, how="left")
    parts = []
    for at in times:
        at = pd.Timestamp(at)
        state = customer_state_at(ds.events, ds.customers, at)
        state = ds.customers[[s.CUSTOMER_ID]].merge(state, on=s.CUSTOMER_ID, how="left")
        keep = _reachable(ds, state, at)
        st, tr = state[keep].reset_index(drop=True), truth[keep].reset_index(drop=True)
        resp = response(tr, st, at)
        n = len(st)
        arm = rng.choice(len(TREATMENTS), n, p=probs)
        rows = np.arange(n)
        bought = rng.random(n) < resp.p_buy[rows, arm]
        unsub = rng.random(n) < resp.p_unsub[rows, arm]
        disc = np.array([DISCOUNT[t] for t in TREATMENTS])[arm]
        basket = resp.order_value * rng.lognormal(-0.03, 0.25, n)  # mean ~ order value
        revenue = np.where(bought, basket * (1 - disc), 0.0)
        frame = pd.DataFrame({s.CUSTOMER_ID: st[s.CUSTOMER_ID], "decision_ts": at})
        for f in RESPONSE_FEATURES:
            frame[f] = st[f].to_numpy(dtype=float)
        frame["treatment"] = np.array(TREATMENTS, dtype=object)[arm]
        frame["propensity"] = probs[arm]
        frame["purchased"] = bought.astype(int)
        frame["unsubscribed"] = unsub.astype(int)
        frame["revenue"] = np.round(revenue, 2)
        frame["reward"] = np.round(revenue - UNSUBSCRIBE_COST * unsub, 2)
        expected = resp.expected_reward()
        for j, t in enumerate(TREATMENTS):
            frame[s.TRUTH_PREFIX + t] = expected[:, j]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def decision_times(ds: Dataset, n: int = 4, every_days: int = 7) -> list[pd.Timestamp]:
    """`n` weekly decision times ending a window before the dataset's end."""
    last = ds.end - pd.Timedelta(days=WINDOW_DAYS)
    return [last - pd.Timedelta(days=every_days * k) for k in reversed(range(n))]


def true_value(log: pd.DataFrame, actions: np.ndarray | list[str]) -> float:
    """Exact mean expected reward per row when each row gets `actions[i]` (needs the truth
    columns of a simulated log)."""
    cols = [s.TRUTH_PREFIX + t for t in TREATMENTS]
    missing = [c for c in cols if c not in log.columns]
    if missing:
        raise ValueError(f"no ground truth in this log (missing {missing[0]})")
    idx = pd.Index(TREATMENTS).get_indexer(np.asarray(actions, dtype=object))
    if (idx < 0).any():
        raise ValueError("actions must be among " + ", ".join(TREATMENTS))
    return float(log[cols].to_numpy()[np.arange(len(log)), idx].mean())

