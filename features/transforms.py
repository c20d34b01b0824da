"""Feature transforms: the one definition of every feature, used offline and online alike.

Pure functions of events (no I/O). `customer_activity_rows` gives, for each customer, one row per
distinct event time holding the features *as of that moment, inclusive*: a row never uses a later
event (point-in-time correct by construction). The offline build writes all rows; the live path
runs the same function over a customer's recent history and keeps the last row, so online values
equal the offline ones at the same moment (`test_live_replay_matches_the_offline_build` in
tests/features/test_feature_store.py).

Every feature looks back at most `LOOKBACK` (90 days), except the sticky states `unsubscribed`
and `signup_ts` and the customer-base features over the whole purchase history (`*_total`,
`first_purchase_ts`, `last_purchase_ts`): the live history store keeps signups, unsubscribes and
purchases forever and everything else for the lookback, so it reproduces them exactly.
Window counts are over (t - w, t]; `*_ts` features are epoch seconds (NaN: none in the lookback).
Purchase days are UTC calendar days (the unit of the customer-base model in
training/customer_base.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise

import numpy as np
import pandas as pd

from features import schema as s

E = s.EventType
HOUR = 3_600
DAY = 86_400
LOOKBACK_DAYS = 90
LOOKBACK = LOOKBACK_DAYS * DAY
CART_WINDOW = 30 * DAY
STICKY_EVENTS = (E.SIGNUP, E.UNSUBSCRIBE, E.PURCHASE)  # kept forever by the live history
ENTITY_TS = "event_timestamp"  # Feast's timestamp column in feature rows
REQUEST_TS = "request_ts"  # epoch seconds of the decision moment (request-time features)

WINDOWS = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": LOOKBACK}
SITE = tuple(str(t) for t in s.SITE_EVENTS)

# (feature prefix, event types counted, windows). Order here is the order of the columns.
COUNTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("views", (E.PRODUCT_VIEW,), ("1h", "24h", "7d", "30d")),
    ("searches", (E.SEARCH,), ("24h", "7d", "30d")),
    ("cart_adds", (E.ADD_TO_CART,), ("1h", "24h", "7d", "30d")),
    ("checkouts", (E.CHECKOUT_START,), ("24h", "7d", "30d")),
    ("purchases", (E.PURCHASE,), ("24h", "7d", "30d", "90d")),
    ("site_events", SITE, ("24h", "7d", "30d", "90d")),
    ("emails_sent", (E.EMAIL_SENT,), ("24h", "7d", "30d")),
    ("email_opens", (E.EMAIL_OPEN,), ("30d", "90d")),
    ("email_clicks", (E.EMAIL_CLICK,), ("30d",)),
)
SPEND_WINDOWS = ("7d", "30d", "90d")
LAST_TS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("last_event_ts", tuple(s.EVENT_TYPES)),
    ("last_site_ts", SITE),
    ("last_view_ts", (E.PRODUCT_VIEW,)),
    ("last_cart_add_ts", (E.ADD_TO_CART,)),
    ("last_purchase_ts", (E.PURCHASE,)),  # whole history (a customer-base feature)
    ("last_email_sent_ts", (E.EMAIL_SENT,)),
    ("last_email_open_ts", (E.EMAIL_OPEN,)),
    ("last_email_click_ts", (E.EMAIL_CLICK,)),
)


def _is_count(name: str) -> bool:
    return name.rsplit("_", 1)[-1] in WINDOWS and not name.startswith(
        ("spend", "email_open_rate", "email_click_rate"))


def activity_feature_names() -> list[str]:
    """Column order of `customer_activity_rows` (after customer_id and event_timestamp)."""
    names = [f"{p}_{w}" for p, _, ws in COUNTS for w in ws]
    names += [f"spend_{w}" for w in SPEND_WINDOWS]
    names += ["email_open_rate_90d", "email_click_rate_90d"]
    names += [n for n, _ in LAST_TS]
    names += ["cart_value", "cart_items", "unsubscribed", "signup_ts"]
    names += ["open_hour_sin", "open_hour_cos", "active_hour_sin", "active_hour_cos"]
    names += [*LIFETIME_FEATURES, "first_purchase_ts"]
    names += list(ENGAGEMENT_FEATURES)
    names += list(CHANNEL_SEND_FEATURES)
    return names


# Customer-base features over the whole purchase history (no lookback).
LIFETIME_FEATURES = ("purchase_days_total", "orders_total", "purchase_lines_total",
                     "products_total", "units_total", "spend_total", "purchase_gap_sq_total")
LIFETIME_LAST_TS = frozenset({"last_purchase_ts"})

# Engagement (docs/policy.md, "Engagement tiers"): a recency-weighted sum of opens, clicks, site
# events and purchases in the lookback, each weighed by 2^(-age / half-life). Stored as of the
# customer's last event (`engagement_decayed`) and decayed to the request moment on read
# (`engagement_score`, 0..1). `emails_since_last_open`: emails sent after the latest open (in the
# lookback), the saturation signal of adaptive frequency and the "once" of ignored follow-ups.
ENGAGEMENT_HALF_LIFE_DAYS = 14.0
ENGAGEMENT_WEIGHTS: tuple[tuple[tuple[str, ...], float], ...] = (
    ((E.EMAIL_OPEN,), 1.0), ((E.EMAIL_CLICK,), 2.0), (SITE, 0.25), ((E.PURCHASE,), 3.0))
ENGAGEMENT_SCALE = 5.0  # engagement_score = 1 - exp(-decayed sum / scale)
ENGAGEMENT_FEATURES = ("engagement_decayed", "emails_since_last_open")
# Sends on other channels (sms_sent / push_sent events the caller reports): counts per window and
# the latest send, for the per-channel caps of channel escalation (serving/policy/escalation.py).
CHANNEL_WINDOWS = ("24h", "7d")
CHANNEL_SEND_FEATURES = tuple(
    name for ch in s.CHANNEL_SENDS
    for name in (*(f"{ch}_sent_{w}" for w in CHANNEL_WINDOWS), f"last_{ch}_sent_ts"))
CHANNEL_CONSENT_FEATURES = tuple(s.CHANNEL_CONSENTS.values())
# Features only the policy reads: not inputs of the intent / churn / send-time models.
POLICY_ONLY_FEATURES = frozenset({*ENGAGEMENT_FEATURES, "engagement_score",
                                  *CHANNEL_SEND_FEATURES, *CHANNEL_CONSENT_FEATURES})


def epoch_seconds(ts: pd.Series) -> np.ndarray:
    """Whole seconds since the epoch (floored), whatever the datetime unit."""
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.to_datetime(ts, utc=True)
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[ts.dt.unit]
    return np.asarray(ts.array.asi8, dtype=np.int64) // per_second


_TYPE_CODE = {t: i for i, t in enumerate(s.EVENT_TYPES)}


def type_codes(types: tuple[str, ...] | list[str]) -> np.ndarray:
    """Integer codes (schema order) of event types."""
    return np.array([_TYPE_CODE[str(t)] for t in types], dtype=np.int8)


def type_mask(etype: np.ndarray, types: Iterable[str]) -> np.ndarray:
    """Events whose type code (schema order, `etype`; -1: unknown) is one of `types`: a table
    lookup, a few times faster than `np.isin` on the small arrays of the live path."""
    table = np.zeros(len(s.EVENT_TYPES) + 1, dtype=bool)  # the last slot answers code -1
    table[type_codes(tuple(types))] = True
    return table[etype]


PRODUCT_FEATURES = ("price", "margin", "in_stock", "product_views_7d", "product_carts_7d",
                    "product_purchases_30d", "product_conversion_30d")
PROFILE_FEATURES = ("consent", "utc_offset_hours", "profile_signup_ts",
                    *CHANNEL_CONSENT_FEATURES)
# Integer-valued features (counts and flags); every other stored feature is a float.
INT_FEATURES = frozenset(
    [n for n in activity_feature_names() if _is_count(n)]
    + ["cart_items", "unsubscribed", "consent", "in_stock", "product_views_7d",
       "product_carts_7d", "product_purchases_30d", "purchase_days_total", "orders_total",
       "purchase_lines_total", "products_total", "emails_since_last_open",
       *CHANNEL_CONSENT_FEATURES]
)


def _prepare(events: pd.DataFrame) -> tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray,
                                              pd.DataFrame]:
    """Sort by (customer, time): customer codes, ids, seconds, type codes and the sorted events."""
    codes, uniques = pd.factorize(events[s.CUSTOMER_ID], sort=False)
    t = epoch_seconds(events[s.EVENT_TS])
    etype = pd.Categorical(events[s.EVENT_TYPE], categories=list(s.EVENT_TYPES)).codes
    order = np.lexsort((t, codes))
    cols = [s.PRICE, s.QUANTITY] + ([s.PRODUCT_ID] if s.PRODUCT_ID in events.columns else [])
    # column by column (a frame's take and re-index cost more than the values of a live batch)
    ev = pd.DataFrame({c: events[c].array[order] for c in cols}, copy=False)
    return codes[order], uniques, t[order], etype[order].astype(np.int8), ev


class _Windows:
    """Vectorized window sums over events sorted by (customer, time), evaluated after every
    event or only after the events `at` (the live path wants each customer's last one)."""

    def __init__(self, cust_code: np.ndarray, t: np.ndarray, at: np.ndarray | None = None
                 ) -> None:
        self.t = t.astype(np.int64)
        self.t0 = int(self.t.min()) - LOOKBACK - 1 if len(t) else 0
        rel = self.t - self.t0  # > 0 and well below 2**33 for any realistic log
        self.key = cust_code.astype(np.int64) * (1 << 34) + rel
        self.block_start = cust_code.astype(np.int64) * (1 << 34)
        self.at = np.arange(len(t)) if at is None else at
        self._starts: dict[int, np.ndarray] = {}

    def pick(self, values: np.ndarray) -> np.ndarray:
        """Per-event values at the evaluated events."""
        return values[self.at]

    def start(self, w: int) -> np.ndarray:
        """Index of the first event inside (t - w, t] for each evaluated event."""
        if w not in self._starts:
            self._starts[w] = np.searchsorted(self.key, self.pick(self.key) - w, side="right")
        return self._starts[w]

    def total(self, values: np.ndarray, w: int) -> np.ndarray:
        csum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
        return csum[self.at + 1] - csum[self.start(w)]

    def total_since(self, values: np.ndarray, bound_key: np.ndarray) -> np.ndarray:
        """Sum over events with key in (bound_key, key] (`bound_key`: per event)."""
        csum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
        j = np.searchsorted(self.key, self.pick(bound_key), side="right")
        return csum[self.at + 1] - csum[j]

    def decayed(self, codes: np.ndarray, values: np.ndarray, w: int,
                half_life: float) -> np.ndarray:
        """Sum over (t - w, t] of value x 2^(-(t - t_i) / half_life), for each event. The
        weights are taken relative to each customer's first event and accumulated per customer,
        so customers do not cancel each other's digits (fine for spans < 38 years at 14 days)."""
        if not len(values):
            return np.zeros(0)
        new = np.r_[True, codes[1:] != codes[:-1]]
        first = np.maximum.accumulate(np.where(new, np.arange(len(codes)), 0))
        rel = (self.t - self.t[first]) / half_life
        csum = pd.Series(values * np.exp2(rel)).groupby(codes).cumsum().to_numpy()
        start, first, rel = self.start(w), self.pick(first), self.pick(rel)
        before = np.where(start > first, csum[np.maximum(start - 1, 0)], 0.0)
        return np.maximum(self.pick(csum) - before, 0.0) * np.exp2(-rel)

    def last_key(self, mask: np.ndarray) -> np.ndarray:
        """Key of the latest event matching `mask` at or before each event (any customer)."""
        marked = np.where(mask, self.key, -1)
        return np.maximum.accumulate(marked) if len(marked) else marked

    def last_ts(self, mask: np.ndarray, lookback: int | None = LOOKBACK) -> np.ndarray:
        """Epoch seconds of the customer's latest matching event in the lookback, else NaN
        (at the evaluated events)."""
        k, block = self.pick(self.last_key(mask)), self.pick(self.block_start)
        ok = k >= block
        if lookback is not None:
            ok &= (self.pick(self.key) - k) < lookback
        return np.where(ok, (k - block + self.t0).astype(np.float64), np.nan)


def customer_activity_rows(events: pd.DataFrame, latest_only: bool = False) -> pd.DataFrame:
    """Customer features after each event (one row per customer and distinct event time).

    `latest_only` keeps just each customer's last row (the live path) without building the
    others; the values are the same as `latest_per_customer(customer_activity_rows(events))`.
    """
    names = activity_feature_names()
    if events.empty:
        return pd.DataFrame(columns=[s.CUSTOMER_ID, ENTITY_TS, *names])
    codes, uniques, t, etype, ev = _prepare(events)
    # One row per customer and distinct time: the last one holds every event at that time.
    new_customer = np.r_[codes[1:] != codes[:-1], True]
    keep = new_customer if latest_only else new_customer | np.r_[t[1:] != t[:-1], True]
    idx = np.flatnonzero(keep)
    win = _Windows(codes, t, at=idx)  # every feature below: at the kept events only
    out: dict[str, np.ndarray] = {}

    def is_type(types: tuple[str, ...]) -> np.ndarray:
        return type_mask(etype, types)

    for prefix, types, ws in COUNTS:
        ind = is_type(types).astype(np.float64)
        for w in ws:
            out[f"{prefix}_{w}"] = win.total(ind, WINDOWS[w])
    price = ev[s.PRICE].fillna(0.0).to_numpy(dtype=np.float64)
    qty = ev[s.QUANTITY].fillna(0).to_numpy(dtype=np.float64)
    qty = np.where(qty > 0, qty, 1.0)
    is_buy = is_type((E.PURCHASE,))
    spend = np.where(is_buy, price * qty, 0.0)
    for w in SPEND_WINDOWS:
        out[f"spend_{w}"] = win.total(spend, WINDOWS[w])
    sent90 = win.total(is_type((E.EMAIL_SENT,)).astype(float), LOOKBACK)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["email_open_rate_90d"] = np.where(sent90 > 0, out["email_opens_90d"] / sent90, np.nan)
        clicks90 = win.total(is_type((E.EMAIL_CLICK,)).astype(float), LOOKBACK)
        out["email_click_rate_90d"] = np.where(sent90 > 0, clicks90 / sent90, np.nan)
    for name, types in LAST_TS:
        lookback = None if name in LIFETIME_LAST_TS else LOOKBACK
        out[name] = win.last_ts(is_type(types), lookback=lookback)
    out.update(_lifetime(win, codes, t, is_buy, ev, price * qty, qty))
    weight = sum(is_type(types) * w for types, w in ENGAGEMENT_WEIGHTS).astype(np.float64)
    out["engagement_decayed"] = win.decayed(codes, weight, LOOKBACK,
                                            ENGAGEMENT_HALF_LIFE_DAYS * DAY)
    last_open = win.last_key(is_type((E.EMAIL_OPEN,)))
    since_open = np.maximum(np.maximum(last_open, win.key - LOOKBACK), win.block_start - 1)
    out["emails_since_last_open"] = win.total_since(is_type((E.EMAIL_SENT,)).astype(float),
                                                    since_open)
    for ch, sent in s.CHANNEL_SENDS.items():
        mask = is_type((sent,))
        for w in CHANNEL_WINDOWS:
            out[f"{ch}_sent_{w}"] = win.total(mask.astype(float), WINDOWS[w])
        out[f"last_{ch}_sent_ts"] = win.last_ts(mask)

    # Open cart: adds minus removes since the last purchase, within the cart window.
    is_add, is_rm = is_type((E.ADD_TO_CART,)), is_type((E.REMOVE_FROM_CART,))
    last_buy = win.last_key(is_buy)
    bound = np.maximum(np.maximum(last_buy, win.key - CART_WINDOW), win.block_start - 1)
    sign = np.where(is_add, 1.0, np.where(is_rm, -1.0, 0.0))
    out["cart_value"] = np.maximum(win.total_since(sign * price * qty, bound), 0.0)
    out["cart_items"] = np.maximum(win.total_since(sign * qty, bound), 0.0)
    unsub = win.last_key(is_type((E.UNSUBSCRIBE,)))
    out["unsubscribed"] = win.pick(unsub >= win.block_start).astype(np.int64)
    out["signup_ts"] = win.last_ts(is_type((E.SIGNUP,)), lookback=None)

    hour = (t % DAY) / HOUR * (2 * np.pi / 24)  # per event
    for prefix, mask in (("open", is_type((E.EMAIL_OPEN,))), ("active", is_type(SITE))):
        n = win.total(mask.astype(float), LOOKBACK)
        with np.errstate(divide="ignore", invalid="ignore"):
            for fn, suffix in ((np.sin, "sin"), (np.cos, "cos")):
                tot = win.total(np.where(mask, fn(hour), 0.0), LOOKBACK)
                out[f"{prefix}_hour_{suffix}"] = np.where(n > 0, tot / n, 0.0)

    cols: dict[str, object] = {
        s.CUSTOMER_ID: uniques.to_numpy()[codes[idx]],
        ENTITY_TS: pd.to_datetime(t[idx], unit="s", utc=True),
    }
    for name in names:
        cols[name] = out[name].astype(np.int64 if name in INT_FEATURES else np.float64)
    return pd.DataFrame(cols)


def _lifetime(win: _Windows, codes: np.ndarray, t: np.ndarray, is_buy: np.ndarray,
              ev: pd.DataFrame, amount: np.ndarray, qty: np.ndarray) -> dict[str, np.ndarray]:
    """Whole-history purchase aggregates after each event (events sorted by customer, time)."""
    n = len(t)
    buy = np.flatnonzero(is_buy)
    cb, tb, day = codes[buy], t[buy], t[buy] // DAY
    new_customer = np.r_[True, cb[1:] != cb[:-1]] if len(buy) else np.zeros(0, bool)
    new_day = new_customer | np.r_[True, day[1:] != day[:-1]] if len(buy) else new_customer
    new_order = new_customer | np.r_[True, tb[1:] != tb[:-1]] if len(buy) else new_customer
    # gap in days between consecutive purchase days of the same customer
    day_idx = np.flatnonzero(new_day)
    gaps = np.zeros(len(buy))
    if len(day_idx) > 1:
        d = np.diff(day[day_idx]).astype(np.float64)
        same = ~new_customer[day_idx[1:]]
        gaps[day_idx[1:]] = np.where(same, d, 0.0)
    products = (pd.DataFrame({"c": cb, "p": ev[s.PRODUCT_ID].to_numpy(dtype=object)[buy]})
                .duplicated().to_numpy() if s.PRODUCT_ID in ev.columns and len(buy)
                else np.ones(len(buy), bool))
    per_event = {
        "purchase_days_total": new_day, "orders_total": new_order,
        "purchase_lines_total": np.ones(len(buy)), "products_total": ~products,
        "units_total": qty[buy], "spend_total": amount[buy], "purchase_gap_sq_total": gaps ** 2,
    }
    everything = win.block_start - 1  # every earlier event of the same customer
    out = {}
    for name, values in per_event.items():
        full = np.zeros(n)
        full[buy] = values
        out[name] = win.total_since(full, everything)
    first = np.full(int(codes.max()) + 1 if n else 0, np.inf)
    np.minimum.at(first, cb, tb.astype(np.float64))
    f = first[codes] if n else np.zeros(0)
    out["first_purchase_ts"] = win.pick(np.where(t >= f, f, np.nan))
    return out


def latest_per_customer(rows: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """The last row of each customer at or before `as_of` (all rows when None)."""
    if as_of is not None:
        rows = rows[rows[ENTITY_TS] <= as_of]
    return rows.sort_values(ENTITY_TS, kind="stable").groupby(s.CUSTOMER_ID, sort=True).tail(
        1).reset_index(drop=True)


# ---------------------------------------------------------------------------- serving items
ITEM_FEATURES = ("cart_products", "recent_views", "recent_purchases", "open_hour_hist",
                 "active_hour_hist")
MAX_CART, MAX_RECENT = 5, 10


def _pair_keys(cust: np.ndarray, prod: np.ndarray) -> np.ndarray:
    """One integer per (customer code, product), ordered by customer then product code (a
    missing product is one value)."""
    codes = pd.factorize(prod)[0].astype(np.int64) + 1
    return cust.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes


def _recent_distinct(cust: np.ndarray, t: np.ndarray, prod: np.ndarray, mask: np.ndarray,
                     limit: int) -> dict[int, list[str]]:
    """Per customer code: distinct products among `mask` events, newest first, at most `limit`
    (numpy sorts: a live batch of a few customers called this three times per batch, and
    pandas' per-call cost dominated it)."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return {}
    order = idx[np.lexsort((-t[idx], cust[idx]))]  # by customer, newest first (stable)
    _, first = np.unique(_pair_keys(cust[order], prod[order]), return_index=True)
    keep = np.sort(first)  # each (customer, product) at its newest event, order kept
    c = cust[order][keep]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    rank = np.arange(len(c)) - np.repeat(starts, np.diff(np.r_[starts, len(c)]))
    top = rank < limit
    c, products = c[top], prod[order][keep][top]
    bounds = np.flatnonzero(np.r_[True, c[1:] != c[:-1], True])
    return {int(c[a]): products[a:b].tolist() for a, b in pairwise(bounds)}


def _hour_hist(cust: np.ndarray, t: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    hist = np.zeros((n, 24), dtype=np.float32)
    np.add.at(hist, (cust[mask], (t[mask] % DAY) // HOUR), 1.0)
    return hist


def customer_items(events: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Serving-only list features, as of `as_of` (default: each customer's last event).

    cart_products: open-cart items (added since the last purchase within 30 days, not removed
    since), newest first; recent_views / recent_purchases: distinct products in 30 / 90 days,
    newest first; open_hour_hist / active_hour_hist: counts of email opens / site events per UTC
    hour in the last 90 days.
    """
    if as_of is not None:
        events = events[events[s.EVENT_TS] <= as_of]
    if events.empty:
        return pd.DataFrame(columns=[s.CUSTOMER_ID, ENTITY_TS, *ITEM_FEATURES])
    cust, uniques = pd.factorize(events[s.CUSTOMER_ID], sort=True)
    t = epoch_seconds(events[s.EVENT_TS])
    etype = pd.Categorical(events[s.EVENT_TYPE], categories=list(s.EVENT_TYPES)).codes
    prod = events[s.PRODUCT_ID].to_numpy(dtype=object)
    n = len(uniques)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, cust, t)
    ref = last if as_of is None else np.full(n, int(as_of.timestamp()))
    age = ref[cust] - t
    in90, in30 = age < LOOKBACK, age < CART_WINDOW

    def is_type(*types: str) -> np.ndarray:
        return type_mask(etype, types)

    buy = is_type(E.PURCHASE) & in90
    last_buy = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_buy, cust[buy], t[buy])
    cart_ev = is_type(E.ADD_TO_CART, E.REMOVE_FROM_CART) & in30 & (t > last_buy[cust])
    # The latest cart event per (customer, product) decides whether the item is still in.
    idx = np.flatnonzero(cart_ev)
    keys = _pair_keys(cust[idx], prod[idx])
    pos = np.lexsort((t[idx], keys))  # stable: ties keep the log order
    pair = keys[pos]
    still_in = np.zeros(len(t), dtype=bool)
    if len(pos):  # the last event of each (customer, product)
        still_in[idx[pos][np.r_[pair[1:] != pair[:-1], True]]] = True
    still_in &= is_type(E.ADD_TO_CART)

    cart = _recent_distinct(cust, t, prod, still_in, MAX_CART)
    views = _recent_distinct(cust, t, prod, is_type(E.PRODUCT_VIEW) & in30, MAX_RECENT)
    bought = _recent_distinct(cust, t, prod, buy, MAX_RECENT)
    opens = _hour_hist(cust, t, is_type(E.EMAIL_OPEN) & in90, n)
    active = _hour_hist(cust, t, type_mask(etype, SITE) & in90, n)
    return pd.DataFrame({
        s.CUSTOMER_ID: uniques.to_numpy(),
        ENTITY_TS: pd.to_datetime(last, unit="s", utc=True),
        "cart_products": [cart.get(i, []) for i in range(n)],
        "recent_views": [views.get(i, []) for i in range(n)],
        "recent_purchases": [bought.get(i, []) for i in range(n)],
        "open_hour_hist": list(opens),
        "active_hour_hist": list(active),
    })


# ---------------------------------------------------------------------------- request time
CONTEXT_INPUTS = (*(n for n, _ in LAST_TS), "signup_ts", "profile_signup_ts", "cart_items",
                  "utc_offset_hours", "first_purchase_ts", "purchase_days_total",
                  "purchase_lines_total", "units_total", "spend_total", "purchase_gap_sq_total",
                  "engagement_decayed")
CONTEXT_FEATURES = (
    "hours_since_last_event", "hours_since_last_site", "hours_since_last_view",
    "hours_since_last_cart_add", "hours_since_last_purchase", "hours_since_last_email_sent",
    "hours_since_last_email_open", "hours_since_last_email_click", "days_since_signup",
    "cart_open", "local_hour",
    # customer base: the BG/NBD summary (T, t_x) and the regularity of purchases
    "days_since_first_purchase", "purchase_span_days", "mean_purchase_gap_days",
    "purchase_gap_cv", "recency_over_gap", "units_per_line", "spend_per_purchase_day",
    "engagement_score",
)


def request_context(inputs: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Request-time features from stored timestamps and the decision moment `request_ts`.

    Works on a DataFrame or a dict of columns; the Feast on-demand view and the serving fast
    path both call it. Missing timestamps give NaN hours (the models handle missing values).
    """
    now = np.asarray(inputs[REQUEST_TS], dtype=np.float64)

    def col(name: str) -> np.ndarray:
        return np.asarray(inputs[name], dtype=np.float64)

    out: dict[str, np.ndarray] = {}
    for name, _ in LAST_TS:
        stem = name.removeprefix("last_").removesuffix("_ts")
        out[f"hours_since_last_{stem}"] = (now - col(name)) / HOUR
    signup = np.where(np.isnan(col("profile_signup_ts")), col("signup_ts"),
                      col("profile_signup_ts"))
    out["days_since_signup"] = (now - signup) / DAY
    out["cart_open"] = (col("cart_items") > 0).astype(np.int64)  # NaN: closed
    offset = col("utc_offset_hours")
    offset = np.where(np.isnan(offset), 0.0, offset)  # unknown: UTC (np.nan_to_num: 6 us)
    out["local_hour"] = np.floor(np.mod(now / HOUR + offset, 24)).astype(np.int64)
    first, last = col("first_purchase_ts"), col("last_purchase_ts")
    days = col("purchase_days_total")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["days_since_first_purchase"] = (now - first) / DAY
        span = (last - first) / DAY
        out["purchase_span_days"] = span
        gap = np.where(days > 1, span / (days - 1), np.nan)
        out["mean_purchase_gap_days"] = gap
        var = col("purchase_gap_sq_total") / (days - 1) - gap ** 2
        out["purchase_gap_cv"] = np.where(days > 1, np.sqrt(np.maximum(var, 0.0)) / gap, np.nan)
        out["recency_over_gap"] = np.where(gap > 0, (now - last) / DAY / gap, np.nan)
        out["units_per_line"] = np.where(col("purchase_lines_total") > 0,
                                         col("units_total") / col("purchase_lines_total"), np.nan)
        out["spend_per_purchase_day"] = np.where(days > 0, col("spend_total") / days, np.nan)
    out["engagement_score"] = engagement_score(col("engagement_decayed"),
                                               (now - col("last_event_ts")) / DAY)
    return out


def engagement_score(decayed: np.ndarray, days_since: np.ndarray) -> np.ndarray:
    """0..1: the stored decayed sum, decayed further to the request moment (NaN: no events)."""
    fresh = decayed * np.exp2(-np.maximum(days_since, 0.0) / ENGAGEMENT_HALF_LIFE_DAYS)
    return 1.0 - np.exp(-fresh / ENGAGEMENT_SCALE)


# ---------------------------------------------------------------------------- profiles
def customer_profile_rows(customers: pd.DataFrame, as_of: pd.Timestamp,
                          start: pd.Timestamp | None = None) -> pd.DataFrame:
    """Customer attributes from the customers table (consent, SMS / push consent, UTC offset
    at `as_of`), valid from the sign-up (or `start`, the data's beginning, when unknown)."""
    from zoneinfo import ZoneInfo

    tz = customers[s.TIMEZONE].fillna("UTC").astype(str)
    offsets = {z: ZoneInfo(z).utcoffset(as_of.to_pydatetime()).total_seconds() / HOUR
               for z in tz.unique()}
    ts = pd.to_datetime(customers[s.SIGNUP_TS], utc=True)
    known = ts.min() if ts.notna().any() else as_of
    first = min(known, start) if start is not None else known
    return pd.DataFrame({
        s.CUSTOMER_ID: customers[s.CUSTOMER_ID].astype(str).to_numpy(),
        ENTITY_TS: ts.fillna(first).clip(upper=as_of).to_numpy(),
        "consent": customers[s.CONSENT].astype(np.int64).to_numpy(),
        "utc_offset_hours": tz.map(offsets).astype(np.float64).to_numpy(),
        "profile_signup_ts": (ts.astype("int64") // 10**9).where(ts.notna()).astype(
            np.float64).to_numpy(),
        **{col: (customers[col].fillna(False).astype(np.int64).to_numpy()
                 if col in customers.columns else np.zeros(len(customers), np.int64))
           for col in CHANNEL_CONSENT_FEATURES},  # absent (older datasets): no consent
    })


# ---------------------------------------------------------------------------- products


def product_stats_rows(events: pd.DataFrame, products: pd.DataFrame,
                       start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Daily product rows (at each day's end): catalog attributes and popularity."""
    days = pd.date_range(start.normalize() + pd.Timedelta(days=1), end.ceil("D"), freq="D")
    ev = events[events[s.PRODUCT_ID].notna()][[s.PRODUCT_ID, s.EVENT_TYPE, s.EVENT_TS]]
    etype = ev[s.EVENT_TYPE].astype(str)
    pids = products[s.PRODUCT_ID].astype(str).to_numpy()
    index = pd.Index(pids)
    d_idx = np.searchsorted(days.asi8, ev[s.EVENT_TS].astype("int64").to_numpy(), side="right")

    def daily(mask: pd.Series) -> np.ndarray:
        """[day, product] counts of events on each day (index: day end boundary)."""
        m = np.zeros((len(days) + 1, len(pids)))
        pos = index.get_indexer(ev.loc[mask, s.PRODUCT_ID].astype(str))
        keep = pos >= 0
        np.add.at(m, (d_idx[mask.to_numpy()][keep], pos[keep]), 1.0)
        return np.cumsum(m, axis=0)

    def window(cum: np.ndarray, n: int) -> np.ndarray:
        shifted = np.vstack([np.zeros((n, cum.shape[1])), cum])[: len(cum)]
        return (cum - shifted)[: len(days)]

    views = daily(etype == E.PRODUCT_VIEW)
    carts = daily(etype == E.ADD_TO_CART)
    buys = daily(etype == E.PURCHASE)
    v7, c7, b30, v30 = window(views, 7), window(carts, 7), window(buys, 30), window(views, 30)
    n_d, n_p = len(days), len(pids)
    rows = pd.DataFrame({
        s.PRODUCT_ID: np.tile(pids, n_d),
        ENTITY_TS: np.repeat(days.to_numpy(), n_p),
        "price": np.tile(products[s.PRICE].astype(float).to_numpy(), n_d),
        "margin": np.tile(products[s.MARGIN].astype(float).to_numpy(), n_d),
        "in_stock": np.tile(products[s.IN_STOCK].astype(np.int64).to_numpy(), n_d),
        "product_views_7d": v7.ravel().astype(np.int64),
        "product_carts_7d": c7.ravel().astype(np.int64),
        "product_purchases_30d": b30.ravel().astype(np.int64),
        "product_conversion_30d": ((b30 + 0.1) / (v30 + 5.0)).ravel(),
    })
    rows[ENTITY_TS] = pd.to_datetime(rows[ENTITY_TS], utc=True)
    return rows


# ---------------------------------------------------------------------------- one moment
# Observable features a response (uplift) model learns from: the `response_v1` Feast feature
# service (features/repo/feature_services.py) is built from this list; logged with every
# decision and written into simulated campaign logs, so models trained on either can score online.
RESPONSE_FEATURES = (
    "views_7d", "views_30d", "cart_adds_7d", "cart_adds_30d", "checkouts_30d",
    "purchases_30d", "purchases_90d", "spend_90d", "site_events_30d", "emails_sent_7d",
    "email_opens_90d", "email_open_rate_90d", "email_click_rate_90d", "cart_open",
    "cart_value", "hours_since_last_site", "hours_since_last_purchase",
    "hours_since_last_email_open", "days_since_signup",
)


def customer_state_at(events: pd.DataFrame, customers: pd.DataFrame,
                      as_of: pd.Timestamp) -> pd.DataFrame:
    """Every customer's activity, profile and request-time features at `as_of`, computed
    offline: what an online read at that moment returns (customers without events get NaN
    activity). Used where a whole population is decided at one time (campaign simulation)."""
    as_of = pd.Timestamp(as_of)
    past = events[events[s.EVENT_TS] <= as_of]
    activity = customer_activity_rows(past, latest_only=True).drop(columns=[ENTITY_TS])
    profile = customer_profile_rows(customers, as_of).drop(columns=[ENTITY_TS])
    state = profile.merge(activity, on=s.CUSTOMER_ID, how="left")
    inputs = {c: state[c].to_numpy(dtype=np.float64) for c in CONTEXT_INPUTS}
    inputs[REQUEST_TS] = np.full(len(state), as_of.timestamp())
    for name, values in request_context(inputs).items():
        state[name] = values
    return state
