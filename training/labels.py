"""Labels at snapshot times, from events only (definitions in docs/models.md).

A snapshot is a (customer, time T) pair; features come from before T (Feast point-in-time join),
labels from the window after T. Every label function returns one row per labelled snapshot with
`customer_id`, `event_timestamp` (= T) and its label column(s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import schema as s
from features.transforms import ENTITY_TS, SITE, epoch_seconds

if TYPE_CHECKING:
    from training.horizons import Horizons

E = s.EventType
INTENT_HORIZON = pd.Timedelta(days=7)
CHURN_HORIZON = pd.Timedelta(days=60)
CHURN_ACTIVE_BEFORE = pd.Timedelta(days=60)
SEND_TIME_HORIZON = pd.Timedelta(days=7)
AFFINITY_HORIZON = pd.Timedelta(days=7)
ENGAGEMENT = (*SITE, str(E.PURCHASE), str(E.EMAIL_OPEN), str(E.EMAIL_CLICK))
INTERACTION_WEIGHTS = {str(E.PRODUCT_VIEW): 1.0, str(E.ADD_TO_CART): 3.0,
                       str(E.PURCHASE): 5.0}


WEEK = pd.Timedelta(days=7)
WARMUP = pd.Timedelta(days=28)  # history before the first snapshot


def snapshot_times(start: pd.Timestamp, end: pd.Timestamp, horizon: pd.Timedelta,
                   every: pd.Timedelta = WEEK,
                   warmup: pd.Timedelta = WARMUP) -> list[pd.Timestamp]:
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


class HistoryError(ValueError):
    """The data is too short for a model's snapshots."""


def _n(td: pd.Timedelta) -> str:
    """Days: '35', '41.5'."""
    return f"{td / pd.Timedelta(days=1):.1f}".removesuffix(".0")


def _days(td: pd.Timedelta) -> str:
    """'35 days', '1 day'."""
    return f"{_n(td)} day{'' if _n(td) == '1' else 's'}"


@dataclass(frozen=True)
class SnapshotPlan:
    """The snapshots a model trains on: `snapshot_times` with this horizon, spacing and warm-up,
    the last one tested; `before_test` earlier ones must have label windows that close by it
    (1: fit and test; 2: train, validation and test)."""

    model: str
    horizon: pd.Timedelta
    every: pd.Timedelta = WEEK
    before_test: int = 1
    warmup: pd.Timedelta = WARMUP

    def problem(self, start: pd.Timestamp, end: pd.Timestamp) -> str | None:
        """None when the data from `start` to `end` is long enough, else why not."""
        times = snapshot_times(start, end, self.horizon, self.every, self.warmup)
        if times and sum(t + self.horizon <= times[-1] for t in times) >= self.before_test:
            return None
        steps = math.ceil(self.horizon / self.every) + self.before_test - 1
        history = self.warmup + steps * self.every
        return (f"the data covers {_days(end - start)}; {self.model} needs at least "
                f"{_days(history)} of history plus its {_n(self.horizon)}-day horizon "
                f"({_days(self.warmup)} before the first snapshot, snapshots every "
                f"{_days(self.every)})")

    def times(self, start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
        """The snapshot times; `HistoryError` when the data is too short for them."""
        why = self.problem(start, end)
        if why:
            raise HistoryError(why)
        return snapshot_times(start, end, self.horizon, self.every, self.warmup)


class _Timeline:
    """Events of some types sorted by time, for fast "who did it in (t0, t1]" queries: one
    sort up front instead of a scan of the whole log per snapshot. Times in UTC nanoseconds."""

    def __init__(self, events: pd.DataFrame, types: tuple[str, ...] | None = None) -> None:
        ev = events if types is None else events[events[s.EVENT_TYPE].astype(str).isin(types)]
        codes, ids = pd.factorize(ev[s.CUSTOMER_ID])
        self.ids = np.asarray(ids, dtype=object)
        t = pd.to_datetime(ev[s.EVENT_TS], utc=True).dt.as_unit("ns").array.asi8
        order = np.argsort(t, kind="stable")
        self.t, self.codes = t[order], codes[order]
        self.first = np.full(len(self.ids), np.iinfo(np.int64).max)
        np.minimum.at(self.first, self.codes, self.t)

    @staticmethod
    def _ns(ts: pd.Timestamp) -> int:
        ts = pd.Timestamp(ts)
        return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).as_unit("ns").value

    def between(self, t0: pd.Timestamp | None, t1: pd.Timestamp) -> np.ndarray:
        """Ids of customers with an event in (t0, t1] (t0 None: from the beginning)."""
        lo = 0 if t0 is None else np.searchsorted(self.t, self._ns(t0), side="right")
        hi = np.searchsorted(self.t, self._ns(t1), side="right")
        return self.ids[np.unique(self.codes[lo:hi])]

    def first_by(self, at: pd.Timestamp) -> np.ndarray:
        """Ids of customers whose first event is at or before `at`."""
        return self.ids[self.first <= self._ns(at)]

    def first_seen(self) -> pd.Series:
        return pd.Series(pd.to_datetime(self.first, utc=True), index=self.ids)


SEND_TIME_PLAN = SnapshotPlan("send_time", SEND_TIME_HORIZON, before_test=2)
# affinity: validation and test weeks at the end, fitted on whatever history precedes them
AFFINITY_PLAN = SnapshotPlan("affinity", AFFINITY_HORIZON, AFFINITY_HORIZON,
                             warmup=pd.Timedelta(days=1))


def training_plan(model: str, horizons: Horizons) -> SnapshotPlan:
    """The snapshots `model` trains on (intent and churn: at their chosen horizons)."""
    if model in horizons.horizon:
        return SnapshotPlan(model, horizons.horizon[model], horizons.every[model])
    return {"send_time": SEND_TIME_PLAN, "affinity": AFFINITY_PLAN}[model]


def _known_customers(customers: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """When each customer became known: sign-up, else first event."""
    first_seen = _Timeline(events).first_seen()
    signup = pd.to_datetime(customers.set_index(s.CUSTOMER_ID)[s.SIGNUP_TS], utc=True)
    known = signup.reindex(first_seen.index.union(signup.index))
    return known.fillna(first_seen.reindex(known.index))


def intent_labels(events: pd.DataFrame, customers: pd.DataFrame, times: list[pd.Timestamp],
                  horizon: pd.Timedelta = INTENT_HORIZON) -> pd.DataFrame:
    """`label` = 1 if the customer purchases in (T, T + horizon]; every known customer."""
    known = _known_customers(customers, events)
    buys = _Timeline(events, (str(E.PURCHASE),))
    frames = []
    for t in times:
        cust = known.index[known <= t].to_numpy()
        buyers = buys.between(t, t + horizon)
        frames.append(pd.DataFrame({s.CUSTOMER_ID: cust, ENTITY_TS: t,
                                    "label": pd.Index(cust).isin(buyers).astype(int)}))
    return pd.concat(frames, ignore_index=True)


def buyers_before(events: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    """Customers with a purchase at or before `at` (sorted)."""
    return np.sort(_Timeline(events, (str(E.PURCHASE),)).first_by(at))


def lapse_labels(events: pd.DataFrame, times: list[pd.Timestamp],
                 horizon: pd.Timedelta = CHURN_HORIZON) -> pd.DataFrame:
    """Churn for transaction-only logs: among customers with a purchase at or before T,
    `label` = 1 if they make no purchase in (T, T + horizon]."""
    buys = _Timeline(events, (str(E.PURCHASE),))
    frames = []
    for t in times:
        base = np.sort(buys.first_by(t))
        later = buys.between(t, t + horizon)
        frames.append(pd.DataFrame({s.CUSTOMER_ID: base, ENTITY_TS: t,
                                    "label": (~pd.Index(base).isin(later)).astype(int)}))
    return pd.concat(frames, ignore_index=True)


CHURN_DEFINITIONS = {
    "engagement": "no purchase, site visit, email open or click in (T, T + {h}], among "
                  "customers with any of those in the {a} before T",
    "purchase": "no purchase in (T, T + {h}], among customers with a purchase at or before T "
                "(transaction-only log)",
}


def churn_definition(events: pd.DataFrame) -> str:
    """'engagement' for logs with site or email events, 'purchase' for transaction-only logs."""
    from training.horizons import is_transaction_only

    return "purchase" if is_transaction_only(events) else "engagement"


def churn_labels(events: pd.DataFrame, times: list[pd.Timestamp],
                 horizon: pd.Timedelta = CHURN_HORIZON,
                 active_before: pd.Timedelta = CHURN_ACTIVE_BEFORE) -> pd.DataFrame:
    """Among customers engaged in the `active_before` window before T (site activity, purchase,
    email open or click), `label` = 1 if they show none of these in (T, T + horizon]."""
    engaged = _Timeline(events, ENGAGEMENT)
    frames = []
    for t in times:
        active = np.sort(engaged.between(t - active_before, t))
        later = engaged.between(t, t + horizon)
        frames.append(pd.DataFrame({s.CUSTOMER_ID: active, ENTITY_TS: t,
                                    "label": (~pd.Index(active).isin(later)).astype(int)}))
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
