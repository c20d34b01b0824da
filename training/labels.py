"""Labels at snapshot times, from events only (definitions in docs/models.md).

A snapshot is a (customer, time T) pair; features come from before T (Feast point-in-time join),
labels from the window after T. Every label function returns one row per labelled snapshot with
`customer_id`, `event_timestamp` (= T) and its label column(s).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import schema as s
from features.transforms import ENTITY_TS, SITE, epoch_seconds

E = s.EventType
INTENT_HORIZON = pd.Timedelta(days=7)
CHURN_HORIZON = pd.Timedelta(days=60)
CHURN_ACTIVE_BEFORE = pd.Timedelta(days=60)
SEND_TIME_HORIZON = pd.Timedelta(days=7)
AFFINITY_HORIZON = pd.Timedelta(days=7)
ENGAGEMENT = (*SITE, str(E.PURCHASE), str(E.EMAIL_OPEN), str(E.EMAIL_CLICK))
INTERACTION_WEIGHTS = {str(E.PRODUCT_VIEW): 1.0, str(E.ADD_TO_CART): 3.0,
                       str(E.PURCHASE): 5.0}


def snapshot_times(start: pd.Timestamp, end: pd.Timestamp, horizon: pd.Timedelta,
                   every: pd.Timedelta = pd.Timedelta(days=7),
                   warmup: pd.Timedelta = pd.Timedelta(days=28)) -> list[pd.Timestamp]:
    """Snapshot times from `start + warmup`, every `every`, whose label window fits the data.

    Snapshots are aligned backwards from the last possible one so the latest period is used.
    """
    last = (end - horizon).floor("h")
    first = start + warmup
    times = []
    t = last
    while t >= first:
        times.append(t)
        t -= every
    return sorted(times)


def _customers_signed_up(customers: pd.DataFrame, events: pd.DataFrame,
                         at: pd.Timestamp) -> np.ndarray:
    """Customers known at `at`: signed up (or first seen) at or before it."""
    first_seen = events.groupby(s.CUSTOMER_ID, observed=True)[s.EVENT_TS].min()
    signup = pd.to_datetime(customers.set_index(s.CUSTOMER_ID)[s.SIGNUP_TS], utc=True)
    known = signup.reindex(first_seen.index.union(signup.index))
    known = known.fillna(first_seen.reindex(known.index))
    return known.index[known <= at].to_numpy()


def _any_in_window(events: pd.DataFrame, types: tuple[str, ...], t0: pd.Timestamp,
                   t1: pd.Timestamp) -> set[str]:
    """Customers with an event of `types` in (t0, t1]."""
    ev = events[(events[s.EVENT_TS] > t0) & (events[s.EVENT_TS] <= t1)]
    return set(ev.loc[ev[s.EVENT_TYPE].astype(str).isin(types), s.CUSTOMER_ID])


def intent_labels(events: pd.DataFrame, customers: pd.DataFrame, times: list[pd.Timestamp],
                  horizon: pd.Timedelta = INTENT_HORIZON) -> pd.DataFrame:
    """`label` = 1 if the customer purchases in (T, T + horizon]; every known customer."""
    frames = []
    for t in times:
        cust = _customers_signed_up(customers, events, t)
        buyers = _any_in_window(events, (str(E.PURCHASE),), t, t + horizon)
        frames.append(pd.DataFrame({s.CUSTOMER_ID: cust, ENTITY_TS: t,
                                    "label": np.isin(cust, list(buyers)).astype(int)}))
    return pd.concat(frames, ignore_index=True)


def churn_labels(events: pd.DataFrame, times: list[pd.Timestamp],
                 horizon: pd.Timedelta = CHURN_HORIZON,
                 active_before: pd.Timedelta = CHURN_ACTIVE_BEFORE) -> pd.DataFrame:
    """Among customers engaged in the `active_before` window before T (site activity, purchase,
    email open or click), `label` = 1 if they show none of these in (T, T + horizon]."""
    frames = []
    for t in times:
        active = sorted(_any_in_window(events, ENGAGEMENT, t - active_before, t))
        later = _any_in_window(events, ENGAGEMENT, t, t + horizon)
        frames.append(pd.DataFrame({s.CUSTOMER_ID: active, ENTITY_TS: t,
                                    "label": (~np.isin(active, list(later))).astype(int)}))
    return pd.concat(frames, ignore_index=True)


def send_time_source(events: pd.DataFrame) -> tuple[str, ...]:
    """Event types whose hour the send-time model predicts: email opens where the data has
    them, else site activity, else purchases (transaction-only data)."""
    types = set(events[s.EVENT_TYPE].astype(str).unique())
    if str(E.EMAIL_OPEN) in types:
        return (str(E.EMAIL_OPEN),)
    site = tuple(t for t in SITE if t in types)
    return site or (str(E.PURCHASE),)


def send_time_labels(events: pd.DataFrame, times: list[pd.Timestamp],
                     types: tuple[str, ...] | None = None,
                     horizon: pd.Timedelta = SEND_TIME_HORIZON) -> pd.DataFrame:
    """`hour` (0-23, UTC) of the customer's first `types` event in (T, T + horizon]."""
    types = types or send_time_source(events)
    ev = events[events[s.EVENT_TYPE].astype(str).isin(types)][[s.CUSTOMER_ID, s.EVENT_TS]]
    frames = []
    for t in times:
        nxt = ev[(ev[s.EVENT_TS] > t) & (ev[s.EVENT_TS] <= t + horizon)]
        first = nxt.groupby(s.CUSTOMER_ID, observed=True)[s.EVENT_TS].min()
        frames.append(pd.DataFrame({s.CUSTOMER_ID: first.index.to_numpy(), ENTITY_TS: t,
                                    "hour": first.dt.hour.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def interactions(events: pd.DataFrame, t0: pd.Timestamp | None,
                 t1: pd.Timestamp) -> pd.DataFrame:
    """Weighted customer-product interactions in (t0, t1]: view 1, cart 3, purchase 5 (summed)."""
    ev = events[events[s.EVENT_TS] <= t1]
    if t0 is not None:
        ev = ev[ev[s.EVENT_TS] > t0]
    ev = ev[ev[s.EVENT_TYPE].astype(str).isin(list(INTERACTION_WEIGHTS))]
    w = ev[s.EVENT_TYPE].astype(str).map(INTERACTION_WEIGHTS).astype(float)
    out = (ev.assign(weight=w).groupby([s.CUSTOMER_ID, s.PRODUCT_ID], observed=True)["weight"]
           .sum().reset_index())
    return out


def affinity_labels(events: pd.DataFrame, t: pd.Timestamp,
                    horizon: pd.Timedelta = AFFINITY_HORIZON) -> pd.DataFrame:
    """Products each customer interacts with in (T, T + horizon], with their summed weight."""
    return interactions(events, t, t + horizon)


def label_window_end(times: pd.Series, horizon: pd.Timedelta) -> pd.Series:
    return times + horizon


def epoch(ts: pd.Series) -> np.ndarray:
    """Epoch seconds of snapshot times (the request time of training rows)."""
    return epoch_seconds(ts).astype(np.float64)
