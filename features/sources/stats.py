"""Behavior statistics of a dataset: funnel and email rates, and checks against simulator truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import schema as s
from features.sources.dataset import Dataset

E = s.EventType


def behavior_stats(ds: Dataset) -> dict[str, float]:
    """Funnel and email rates (event-count ratios) for any dataset."""
    counts = ds.events[s.EVENT_TYPE].value_counts()

    def c(t: str) -> float:
        return float(counts.get(t, 0))

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    days = max((ds.end - ds.start).total_seconds() / 86_400, 1e-9)
    return {
        "events_per_customer_day": ratio(len(ds.events), len(ds.customers) * days),
        "cart_per_view": ratio(c(E.ADD_TO_CART), c(E.PRODUCT_VIEW)),
        "checkout_per_cart": ratio(c(E.CHECKOUT_START), c(E.ADD_TO_CART)),
        "purchase_per_checkout": ratio(c(E.PURCHASE), c(E.CHECKOUT_START)),
        "purchase_per_cart": ratio(c(E.PURCHASE), c(E.ADD_TO_CART)),
        "open_rate": ratio(c(E.EMAIL_OPEN), c(E.EMAIL_SENT)),
        "click_to_open": ratio(c(E.EMAIL_CLICK), c(E.EMAIL_OPEN)),
        "unsubscribe_per_send": ratio(c(E.UNSUBSCRIBE), c(E.EMAIL_SENT)),
        "purchases_per_customer_month": ratio(c(E.PURCHASE) * 30, len(ds.customers) * days),
    }


def _local_hour(ts: pd.Series, tz: pd.Series) -> np.ndarray:
    out = np.empty(len(ts))
    for zone, idx in ts.groupby(tz.to_numpy(), observed=True).groups.items():
        local = ts.loc[idx].dt.tz_convert(str(zone))
        out[ts.index.get_indexer(idx)] = local.dt.hour + local.dt.minute / 60
    return out


def open_rate_by_hour_match(ds: Dataset) -> pd.Series:
    """Open rate of sends by |send hour - preferred hour| (local, hours); needs simulator truth."""
    if ds.truth is None:
        raise ValueError("open_rate_by_hour_match needs simulator ground truth")
    ev = ds.events
    sent = ev[ev[s.EVENT_TYPE] == E.EMAIL_SENT][[s.CUSTOMER_ID, s.CAMPAIGN_ID, s.EVENT_TS]]
    sent = sent[sent[s.CAMPAIGN_ID].str.startswith("bc")].reset_index(drop=True)
    opens = ev[ev[s.EVENT_TYPE] == E.EMAIL_OPEN][[s.CUSTOMER_ID, s.CAMPAIGN_ID]]
    opens = opens.drop_duplicates().assign(opened=True)
    sent = sent.merge(opens, on=[s.CUSTOMER_ID, s.CAMPAIGN_ID], how="left")
    sent["opened"] = sent["opened"].eq(True)
    truth = ds.truth.set_index(s.CUSTOMER_ID)
    tz = sent[s.CUSTOMER_ID].map(truth["timezone"])
    send_h = _local_hour(sent[s.EVENT_TS], tz)
    pref = sent[s.CUSTOMER_ID].map(truth["preferred_hour_local"]).to_numpy()
    lead = np.mod(pref - send_h + 12, 24) - 12  # hours from send to the habit hour
    bucket = pd.cut(lead, [-12, -3, 0, 3, 12], labels=["3-12h after", "0-3h after",
                                                       "0-3h before", "3-12h before"])
    return sent.groupby(bucket, observed=True)["opened"].mean()


def activity_after_churn(ds: Dataset) -> dict[str, float]:
    """Site events per customer-day before vs after the true churn time (simulator truth)."""
    if ds.truth is None:
        raise ValueError("activity_after_churn needs simulator ground truth")
    truth = ds.truth.set_index(s.CUSTOMER_ID)
    churned = truth.index[truth["churned_by_end"]]
    ev = ds.events[ds.events[s.CUSTOMER_ID].isin(churned)]
    site = ev[ev[s.EVENT_TYPE].isin([str(t) for t in s.SITE_EVENTS])]
    churn_ts = site[s.CUSTOMER_ID].map(truth["churn_ts"])
    after = (site[s.EVENT_TS] >= churn_ts).sum()
    start, end = ds.start, ds.end
    ct = truth.loc[churned, "churn_ts"].clip(lower=start, upper=end)
    days_before = ((ct - start).dt.total_seconds() / 86_400).sum()
    days_after = ((end - ct).dt.total_seconds() / 86_400).sum()
    return {
        "churned_customers": float(len(churned)),
        "site_events_per_day_before": float((len(site) - after) / max(days_before, 1e-9)),
        "site_events_per_day_after": float(after / max(days_after, 1e-9)),
    }
