"""Behavioral simulator: customers, products, sessions, carts, purchases, emails, churn.

Deterministic by seed and vectorized with numpy. The generative story and its default rates are
documented in `docs/simulator.md`; the latent traits are written as ground truth so models can
be checked against what really drove the data.

Times are int64 seconds since the epoch (UTC) until the final table is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from features import schema as s
from features.sources.dataset import Dataset
from features.sources.validation import sort_events

DAY = 86_400
HOUR = 3_600

CATEGORIES = (
    "electronics", "home", "kitchen", "beauty", "fashion", "shoes",
    "sports", "toys", "books", "grocery", "pet", "garden",
)
CATEGORY_MEDIAN_PRICE = (120.0, 45.0, 35.0, 22.0, 40.0, 70.0, 50.0, 25.0, 15.0, 12.0, 20.0, 30.0)
REPLENISHABLE = frozenset({"beauty", "grocery", "pet"})
COUNTRIES = (  # country, IANA timezone, share of customers
    ("US", "America/New_York", 0.34),
    ("GB", "Europe/London", 0.20),
    ("DE", "Europe/Berlin", 0.14),
    ("FR", "Europe/Paris", 0.10),
    ("BR", "America/Sao_Paulo", 0.08),
    ("IN", "Asia/Kolkata", 0.08),
    ("JP", "Asia/Tokyo", 0.06),
)
CAMPAIGN_WELCOME = "welcome"
CAMPAIGN_CART = "cart_reminder"
CAMPAIGN_STREAM = 17  # a chunked world's broadcast categories: default_rng([seed, 17])

# event type codes, in schema order
_ET = {e: i for i, e in enumerate(s.EVENT_TYPES)}
_CHANNELS = ("web", "app", "email")


@dataclass(frozen=True)
class SimConfig:
    """Size, seed and behavioral knobs of a simulation (defaults: docs/simulator.md)."""

    customers: int = 5_000
    days: int = 182  # 26 weeks: starts on a Monday, ends on one
    seed: int = 7
    start: str = "2026-01-05"
    products: int = 500
    new_customer_share: float = 0.15
    consent_share: float = 0.88
    # consent to SMS / push (channel escalation), drawn apart from the email behavior so adding
    # them left every other simulated value as it was
    sms_consent_share: float = 0.25
    push_consent_share: float = 0.35
    campaigns_per_week: int = 2
    cart_email_share: float = 0.5  # existing trigger system, randomized per abandoned cart
    browse_rate: float = 0.08  # median browse sessions per customer-day
    mission_rate: float = 0.035  # median shopping missions per customer-day
    churn_median_days: float = 200.0
    esp_days: int | None = None  # the existing ESP stops emailing after this many days

    @property
    def esp_end_day(self) -> int:
        return self.days if self.esp_days is None else min(self.days, self.esp_days)

    def validate(self) -> None:
        if self.customers < 1 or self.days < 1 or self.products < len(CATEGORIES):
            raise ValueError(
                f"need customers >= 1, days >= 1, products >= {len(CATEGORIES)}; got "
                f"customers={self.customers}, days={self.days}, products={self.products}"
            )


# ------------------------------------------------------------------ email response rules
# How a customer responds to one email (docs/simulator.md, "Email"); the closed-loop simulation
# (features/simulation/email_loop.py) applies the same rules to the emails a policy sends.
def open_probability(open_base: np.ndarray, lead_hours: np.ndarray, hour_sd: np.ndarray,
                     relevance: np.ndarray, emails_7d: np.ndarray,
                     churned: np.ndarray) -> np.ndarray:
    """P(open): base x timing (lead from the send to the preferred hour) x relevance x fatigue."""
    timing = 0.3 + 0.7 * np.exp(-0.5 * ((lead_hours - 1.0) / (hour_sd + 1.0)) ** 2)
    fatigue = np.exp(-0.12 * np.maximum(0, emails_7d - 2))
    return np.clip(open_base * timing * np.minimum(relevance, 1.6) * fatigue
                   * np.where(churned, 0.08, 1.0), 0, 0.95)


def unsubscribe_probability(emails_7d: np.ndarray, tolerance: np.ndarray,
                            churned: np.ndarray) -> np.ndarray:
    """P(unsubscribe) per email: grows with the emails of the past 7 days above tolerance."""
    over = np.maximum(0, emails_7d - tolerance)
    return 0.0012 + 0.012 * over + 0.002 * churned


class _Events:
    """Column buffers of generated events (integer codes until the table is built)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, cust, t, etype, product=None, qty=None, price=None, campaign=None,
            query=None, channel=None, category=None) -> None:
        n = len(cust)
        if n == 0:
            return
        def full(v, fill, dtype):
            if v is None:
                return np.full(n, fill, dtype=dtype)
            return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()
        self.parts.append({
            "cust": np.asarray(cust, dtype=np.int32),
            "t": np.asarray(t, dtype=np.int64),
            "etype": full(etype, 0, np.int8),
            "product": full(product, -1, np.int32),
            "qty": full(qty, 0, np.int16),
            "price": full(price, np.nan, np.float64),
            "campaign": full(campaign, -1, np.int32),
            "query": full(query, -1, np.int16),
            "channel": full(channel, 0, np.int8),
            "category": full(category, -1, np.int16),
        })

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


@dataclass(frozen=True)
class Chunk:
    """A slice of a world's customers simulated on its own (`features/simulation/chunked.py`):
    customers `first` .. `first + customers - 1` of the world, chunk number `index`."""

    index: int
    first: int
    customers: int

    def seeds(self, seed: int, *key: int) -> np.random.SeedSequence:
        """This chunk's random stream `key`, derived from the world seed (disjoint per chunk)."""
        return np.random.SeedSequence(seed, spawn_key=(self.index, *key))


class Simulator:
    """Generates one dataset; `run()` returns it. Use `simulate()` rather than this class.

    With a `chunk`, only that chunk's customers are simulated, from the chunk's own random
    stream; the catalog and the broadcast calendar (each campaign's category) are the world's,
    drawn from the world seed, so every chunk shares them. Event ids start at `first_event`."""

    def __init__(self, cfg: SimConfig, progress: Callable[[str], None] | None = None,
                 chunk: Chunk | None = None, first_event: int = 0) -> None:
        cfg.validate()
        self.cfg = cfg
        self.chunked = chunk is not None
        self.chunk = chunk or Chunk(0, 0, cfg.customers)
        self.first_event = first_event
        self.rng = np.random.default_rng(chunk.seeds(cfg.seed) if chunk else cfg.seed)
        # whole world: one stream for everything (the data of every seed as it always was)
        self.world_rng = np.random.default_rng(cfg.seed) if chunk else self.rng
        self.campaign_rng = (np.random.default_rng([cfg.seed, CAMPAIGN_STREAM]) if chunk
                             else self.rng)
        self.progress = progress or (lambda _msg: None)
        self.t0 = int(pd.Timestamp(cfg.start, tz="UTC").timestamp())
        self.t_end = self.t0 + cfg.days * DAY
        self.events = _Events()
        self.campaigns: list[str] = [CAMPAIGN_WELCOME, CAMPAIGN_CART]

    # ------------------------------------------------------------------ catalog + people
    def _make_products(self) -> None:
        """The catalog: the world stream's first draws (the same in every chunk)."""
        rng, n = self.world_rng, self.cfg.products
        n_cat = len(CATEGORIES)
        cat = np.sort(np.concatenate([np.arange(n_cat), rng.integers(0, n_cat, n - n_cat)]))
        median = np.array(CATEGORY_MEDIAN_PRICE)[cat]
        self.p_cat = cat
        self.p_price = np.round(median * rng.lognormal(0.0, 0.35, n), 2)
        self.p_margin = np.round(np.clip(rng.normal(0.32, 0.1, n), 0.08, 0.6), 3)
        self.p_in_stock = rng.random(n) > 0.05
        # Zipf-like popularity inside each category, in random order.
        pop = np.empty(n)
        for c in range(n_cat):
            idx = np.flatnonzero(cat == c)
            pop[idx] = 1.0 / (rng.permutation(len(idx)) + 2.0) ** 1.1
        self.p_pop = pop
        # Sampling key: category c occupies (c, c+1]; within it the popularity CDF.
        cum = np.empty(n)
        for c in range(n_cat):
            idx = np.flatnonzero(cat == c)
            w = pop[idx] / pop[idx].sum()
            cum[idx] = c + np.cumsum(w)
        cum[np.r_[np.flatnonzero(np.diff(cat)), n - 1]] = np.arange(n_cat) + 1.0
        self.p_key = cum

    def _draw_products(self, cats: np.ndarray) -> np.ndarray:
        """One product per entry of `cats`, by popularity within the category."""
        u = self.rng.random(len(cats)) * (1 - 1e-9)
        return np.searchsorted(self.p_key, cats + u, side="left").astype(np.int32)

    def _make_customers(self) -> None:
        rng, cfg = self.rng, self.cfg
        n = self.chunk.customers
        shares = np.array([c[2] for c in COUNTRIES])
        self.c_country = rng.choice(len(COUNTRIES), n, p=shares / shares.sum())
        is_new = rng.random(n) < cfg.new_customer_share
        signup = np.where(
            is_new,
            self.t0 + rng.random(n) * (self.t_end - self.t0) * 0.9,
            self.t0 - rng.random(n) * 730 * DAY,
        ).astype(np.int64)
        self.c_signup, self.c_is_new = signup, is_new
        self.c_consent = rng.random(n) < cfg.consent_share
        # Time-of-day habit (local hours): morning, lunch or evening people.
        mode = rng.choice(3, n, p=[0.35, 0.25, 0.40])
        centre = np.array([8.0, 12.5, 20.0])[mode]
        spread = np.array([1.0, 0.8, 1.3])[mode]
        self.c_pref_hour = np.mod(centre + rng.normal(0, 1, n) * spread, 24)
        self.c_hour_sd = rng.uniform(0.6, 1.6, n)
        self.c_browse = cfg.browse_rate * rng.lognormal(0, 0.7, n)
        self.c_mission = cfg.mission_rate * rng.lognormal(0, 0.6, n)
        self.c_convert = rng.beta(2.0, 2.5, n)  # share of missions ending in a purchase
        self.c_prefs = rng.dirichlet(np.full(len(CATEGORIES), 0.35), n)
        self.c_price_sens = rng.beta(2, 2, n)
        self.c_discount_sens = rng.beta(1.2, 3, n)
        self.c_open_base = rng.beta(3.0, 4.0, n)
        self.c_fatigue_tol = rng.integers(2, 6, n)
        self.c_cart_response = rng.beta(1.2, 3.5, n)  # P(buy | clicked a cart reminder)
        self.c_cycle = rng.uniform(21, 45, n)  # replenishment cycle, days
        hazard = np.log(2) / cfg.churn_median_days * rng.lognormal(0, 0.9, n)
        churn = np.maximum(self.t0, signup) + rng.exponential(1 / hazard) * DAY
        self.c_churn = np.minimum(churn, np.iinfo(np.int64).max // 2).astype(np.int64)
        # UTC offsets per timezone per day (DST aware), for local <-> UTC conversion.
        first_day = (min(self.t0, int(signup.min())) // DAY) - 2
        self.day0 = first_day
        n_days = (self.t_end // DAY) - first_day + 4
        days = pd.to_datetime((first_day + np.arange(n_days)) * DAY, unit="s")
        self.tz_offset = np.zeros((len(COUNTRIES), n_days), dtype=np.int64)
        for k, (_, tz, _) in enumerate(COUNTRIES):
            zone = ZoneInfo(tz)
            noon = days + pd.Timedelta(hours=12)
            self.tz_offset[k] = [int(zone.utcoffset(d.to_pydatetime()).total_seconds())
                                 for d in noon]

    def _offset(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        day = np.clip(t // DAY - self.day0, 0, self.tz_offset.shape[1] - 1)
        return self.tz_offset[self.c_country[cust], day]

    def _local_hour(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        return ((t + self._offset(cust, t)) % DAY) / HOUR

    def _at_local_hour(self, cust: np.ndarray, day_t: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """UTC time of `hour` (local, fractional) on the local day containing UTC `day_t`."""
        local_day = (day_t + self._offset(cust, day_t)) // DAY * DAY
        local = local_day + (hour * HOUR).astype(np.int64)
        return local - self._offset(cust, local)

    def _habit_hours(self, cust: np.ndarray, noise: float = 0.25) -> np.ndarray:
        """Local hours drawn from each customer's time-of-day habit, with some uniform noise."""
        n = len(cust)
        h = self.c_pref_hour[cust] + self.rng.normal(0, 1, n) * self.c_hour_sd[cust] * 1.5
        uniform = self.rng.uniform(7, 23.5, n)
        return np.mod(np.where(self.rng.random(n) < noise, uniform, h), 24)

    def activity(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Activity multiplier: fades over the 30 days before churn, ~0 after."""
        to_churn = (self.c_churn[cust] - t) / DAY
        fade = np.clip(0.25 + 0.75 * to_churn / 30.0, 0.25, 1.0)
        return np.where(to_churn <= 0, 0.0, fade)

    # ------------------------------------------------------------------ sessions
    def _poisson_times(self, rate: np.ndarray, thin: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Session start times per customer: Poisson counts, habit hours, thinned by activity."""
        start = np.maximum(self.c_signup, self.t0)
        span_days = np.maximum(self.t_end - start, 0) / DAY
        counts = self.rng.poisson(rate * span_days)
        cust = np.repeat(np.arange(len(rate), dtype=np.int32), counts)
        day_t = start[cust] + (self.rng.random(len(cust)) * span_days[cust] * DAY).astype(np.int64)
        t = self._at_local_hour(cust, day_t, self._habit_hours(cust))
        keep = (t >= start[cust]) & (t < self.t_end)
        if thin:
            keep &= self.rng.random(len(cust)) < self.activity(cust, t)
        return cust[keep], t[keep]

    def _next_session(self, cust: np.ndarray, prev: np.ndarray) -> np.ndarray:
        """A follow-up session: 0-3 days later at a habit hour, at least 30 minutes after."""
        day_t = prev + self.rng.poisson(0.8, len(cust)) * DAY
        t = self._at_local_hour(cust, day_t, self._habit_hours(cust))
        soon = prev + (self.rng.uniform(0.5, 3.0, len(cust)) * HOUR).astype(np.int64)
        return np.where(t <= prev + 1800, soon, t)

    def _run_sessions(self, plan: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Expand sessions into a funnel of events; return purchases and abandoned carts.

        plan: cust, t, cat, anchor (-1: draw one), n_views, p_cart, p_checkout, p_buy,
        p_search, qty_max, channel.
        """
        rng = self.rng
        n = len(plan["cust"])
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return {"cust": empty, "t": empty, "product": empty, "kind": empty}
        cust, cat = plan["cust"], plan["cat"]
        anchor = np.where(plan["anchor"] >= 0, plan["anchor"], self._draw_products(cat))
        # Price-sensitive customers add expensive items to the cart less often.
        rel = self.p_price[anchor] / np.array(CATEGORY_MEDIAN_PRICE)[self.p_cat[anchor]]
        price_factor = np.clip(np.exp(-self.c_price_sens[cust] * (rel - 1.0)), 0.4, 1.4)
        has_search = rng.random(n) < plan["p_search"]
        has_catview = rng.random(n) < 0.35
        carted = rng.random(n) < np.clip(plan["p_cart"] * price_factor, 0, 1)
        removed = carted & (rng.random(n) < 0.08)
        checkout = carted & ~removed & (rng.random(n) < plan["p_checkout"])
        bought = checkout & (rng.random(n) < plan["p_buy"])
        qty = 1 + (rng.random(n) * plan["qty_max"]).astype(np.int16)

        # Event slots in session order: search, category view, views, cart, remove, checkout, buy.
        sess, order, etype, prod = [], [], [], []

        def slot(mask, k, code, product):
            idx = np.flatnonzero(mask)
            sess.append(idx)
            order.append(np.full(len(idx), k, dtype=np.int32))
            etype.append(np.full(len(idx), code, dtype=np.int8))
            prod.append(product[idx] if product is not None else np.full(len(idx), -1))

        slot(has_search, 0, _ET[s.EventType.SEARCH], None)
        slot(has_catview, 1, _ET[s.EventType.CATEGORY_VIEW], None)
        nv = plan["n_views"]
        v_sess = np.repeat(np.arange(n), nv)
        v_rank = np.arange(len(v_sess)) - np.repeat(np.cumsum(nv) - nv, nv)
        v_prod = self._draw_products(cat[v_sess])
        first = v_rank == 0
        v_prod[first] = anchor[v_sess[first]]
        sess.append(v_sess)
        order.append(2 + v_rank.astype(np.int32))
        etype.append(np.full(len(v_sess), _ET[s.EventType.PRODUCT_VIEW], dtype=np.int8))
        prod.append(v_prod)
        late = 2 + int(nv.max()) + 1
        slot(carted, late, _ET[s.EventType.ADD_TO_CART], anchor)
        slot(removed, late + 1, _ET[s.EventType.REMOVE_FROM_CART], anchor)
        slot(checkout, late + 2, _ET[s.EventType.CHECKOUT_START], anchor)
        slot(bought, late + 3, _ET[s.EventType.PURCHASE], anchor)

        sess_a = np.concatenate(sess)
        order_a = np.concatenate(order)
        sort = np.lexsort((order_a, sess_a))
        sess_a, etype_a = sess_a[sort], np.concatenate(etype)[sort]
        prod_a = np.concatenate(prod)[sort].astype(np.int32)
        gaps = rng.exponential(50.0, len(sess_a)).astype(np.int64) + 5
        csum = np.cumsum(gaps)
        first_of = np.r_[0, np.flatnonzero(np.diff(sess_a)) + 1]
        base = np.repeat(csum[first_of] - gaps[first_of], np.diff(np.r_[first_of, len(sess_a)]))
        t_a = plan["t"][sess_a] + (csum - base)
        is_cart_or_buy = np.isin(etype_a, [_ET[s.EventType.ADD_TO_CART], _ET[s.EventType.PURCHASE]])
        is_product = prod_a >= 0
        price = np.where(is_product, self.p_price[np.maximum(prod_a, 0)], np.nan)
        self.events.add(
            cust[sess_a], t_a, etype_a, product=prod_a, category=cat[sess_a],
            qty=np.where(is_cart_or_buy, qty[sess_a], 0), price=price,
            query=np.where(etype_a == _ET[s.EventType.SEARCH], cat[sess_a], -1),
            channel=plan["channel"][sess_a],
        )
        end_t = np.zeros(n, dtype=np.int64)
        np.maximum.at(end_t, sess_a, t_a)
        abandoned = carted & ~removed & ~bought
        kind = np.where(bought, 1, np.where(abandoned, 2, 0))
        keep = kind > 0
        return {"cust": cust[keep], "t": end_t[keep], "product": anchor[keep], "kind": kind[keep]}

    def _plan(self, cust, t, cat, *, anchor=None, n_views, p_cart, p_checkout, p_buy,
              p_search=0.3, qty_max=1.0, channel=None) -> dict[str, np.ndarray]:
        n = len(cust)

        def arr(v, dtype=np.float64):
            return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

        if channel is None:
            channel = (self.rng.random(n) < 0.35).astype(np.int8)  # web or app
        return {
            "cust": np.asarray(cust, dtype=np.int32), "t": np.asarray(t, dtype=np.int64),
            "cat": np.asarray(cat, dtype=np.int64),
            "anchor": arr(-1 if anchor is None else anchor, np.int64),
            "n_views": arr(n_views, np.int64), "p_cart": arr(p_cart), "p_checkout": arr(p_checkout),
            "p_buy": arr(p_buy), "p_search": arr(p_search), "qty_max": arr(qty_max),
            "channel": arr(channel, np.int8),
        }

    def _pref_category(self, cust: np.ndarray) -> np.ndarray:
        cum = np.cumsum(self.c_prefs[cust], axis=1)
        u = self.rng.random(len(cust))[:, None]
        return np.minimum((u > cum).sum(axis=1), len(CATEGORIES) - 1)

    def _organic_sessions(self) -> list[dict[str, np.ndarray]]:
        rng = self.rng
        plans = []
        # Browsing: a few views, rare impulse purchase.
        cust, t = self._poisson_times(self.c_browse)
        plans.append(self._plan(cust, t, self._pref_category(cust),
                                n_views=1 + rng.poisson(1.0, len(cust)),
                                p_cart=0.04, p_checkout=0.5, p_buy=0.6, p_search=0.2))
        # Shopping missions: 1-4 sessions on one anchor product; the last may convert.
        cust, t = self._poisson_times(self.c_mission)
        n_sess = 1 + np.minimum(rng.poisson(1.2, len(cust)), 3)
        converts = rng.random(len(cust)) < self.c_convert[cust]
        cat = self._pref_category(cust)
        anchor = self._draw_products(cat)
        times = [t]
        for _ in range(1, int(n_sess.max()) if len(n_sess) else 1):
            times.append(self._next_session(cust, times[-1]))
        for j, tj in enumerate(times):
            live = (n_sess > j) & (tj < self.t_end) & (rng.random(len(cust)) <
                                                        self.activity(cust, tj) + 0.3)
            final = n_sess == j + 1
            conv = live & final & converts
            idx = np.flatnonzero(live)
            k = len(idx)
            p_cart = np.where(conv[idx], 1.0, np.where(final[idx], 0.35, 0.3))
            p_checkout = np.where(conv[idx], 1.0, 0.15)
            p_buy = np.where(conv[idx], 0.93, 0.0)
            plans.append(self._plan(cust[idx], tj[idx], cat[idx], anchor=anchor[idx],
                                    n_views=2 + rng.poisson(1.5, k), p_cart=p_cart,
                                    p_checkout=p_checkout, p_buy=p_buy, p_search=0.45))
        if self.c_is_new.any():  # new customers explore soon after signing up
            new = np.flatnonzero(self.c_is_new)
            t = self.c_signup[new] + rng.integers(60, 1800, len(new))
            plans.append(self._plan(new, t, self._pref_category(new),
                                    n_views=1 + rng.poisson(2.0, len(new)),
                                    p_cart=0.25, p_checkout=0.6, p_buy=0.7, p_search=0.4))
            self.events.add(new, self.c_signup[new], _ET[s.EventType.SIGNUP],
                            channel=np.zeros(len(new)))
        return plans

    def _replenishment(self, purchases: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Replenishable purchases come back after the customer's cycle (until churn)."""
        repl_cats = [CATEGORIES.index(c) for c in REPLENISHABLE]
        outcomes = []
        cur = purchases
        for _ in range(12):
            is_buy = cur["kind"] == 1
            repl = is_buy & np.isin(self.p_cat[cur["product"]], repl_cats)
            again = repl & (self.rng.random(len(repl)) < 0.6)
            cust, prod = cur["cust"][again], cur["product"][again]
            gap = self.c_cycle[cust] * self.rng.uniform(0.85, 1.15, len(cust)) * DAY
            day_t = cur["t"][again] + gap.astype(np.int64)
            t = self._at_local_hour(cust, day_t, self._habit_hours(cust))
            keep = (t < self.t_end) & (self.rng.random(len(cust)) < self.activity(cust, t))
            if not keep.any():
                break
            cust, t, prod = cust[keep], t[keep], prod[keep]
            plan = self._plan(cust, t, self.p_cat[prod], anchor=prod,
                              n_views=1 + self.rng.poisson(0.5, len(cust)), p_cart=0.85,
                              p_checkout=0.95, p_buy=0.95, p_search=0.1, qty_max=3.0)
            cur = self._run_sessions(plan)
            outcomes.append(cur)
        return outcomes

    # ------------------------------------------------------------------ email
    def _emails(self, outcomes: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        rng, cfg = self.rng, self.cfg
        n = self.chunk.customers
        sends_c, sends_t, sends_camp, sends_cat = [], [], [], []
        # Broadcast campaigns on fixed weekdays, each about one category; the ESP staggers send
        # hours at random per recipient, which is what lets a send-time model learn.
        weekdays = (1, 4, 3, 0, 2, 5, 6)[: max(1, cfg.campaigns_per_week)]
        for d in range(cfg.days):
            day_t = self.t0 + d * DAY
            if pd.Timestamp(day_t, unit="s").weekday() not in weekdays:
                continue
            cat = int(self.campaign_rng.integers(len(CATEGORIES)))
            self.campaigns.append(f"bc{len(self.campaigns) - 1:03d}_{CATEGORIES[cat]}")
            cust = np.flatnonzero(self.c_consent & (self.c_signup < day_t))
            hour = rng.uniform(6, 22, len(cust))
            t = self._at_local_hour(cust, np.full(len(cust), day_t + 12 * HOUR), hour)
            sends_c.append(cust)
            sends_t.append(t)
            sends_camp.append(np.full(len(cust), len(self.campaigns) - 1))
            sends_cat.append(np.full(len(cust), cat))
        # Welcome email for new sign-ups.
        new = np.flatnonzero(self.c_is_new & self.c_consent)
        sends_c.append(new)
        sends_t.append(self.c_signup[new] + 600)
        sends_camp.append(np.zeros(len(new), dtype=np.int64))
        sends_cat.append(np.argmax(self.c_prefs[new], axis=1))
        # Cart reminders: the existing trigger system emails a random half of abandoned carts an
        # hour later, unless the customer bought in that hour (at most one per day per customer).
        ab = outcomes["kind"] == 2
        ab_c, ab_t, ab_p = outcomes["cust"][ab], outcomes["t"][ab], outcomes["product"][ab]
        buys = outcomes["kind"] == 1
        key_b = np.sort(outcomes["cust"][buys].astype(np.int64) * 2**40 + outcomes["t"][buys])
        key_a = ab_c.astype(np.int64) * 2**40 + ab_t
        nxt = np.searchsorted(key_b, key_a, side="right")
        nxt_key = np.where(nxt < len(key_b), key_b[np.minimum(nxt, len(key_b) - 1)], -1)
        bought_soon = (nxt_key // 2**40 == ab_c) & (nxt_key - key_a <= HOUR)
        lucky = rng.random(len(ab_c)) < cfg.cart_email_share
        chosen = self.c_consent[ab_c] & ~bought_soon & lucky
        o = np.lexsort((ab_t, ab_c))
        ab_c, ab_t, ab_p, chosen = ab_c[o], ab_t[o], ab_p[o], chosen[o]
        self.cart_candidates = pd.DataFrame({  # ground truth for the randomized reminder
            "customer": ab_c, "t": ab_t, "product": ab_p, "reminded": chosen})
        c_idx = np.flatnonzero(chosen)
        keep = np.ones(len(c_idx), dtype=bool)
        same = (ab_c[c_idx][1:] == ab_c[c_idx][:-1]) & (ab_t[c_idx][1:] - ab_t[c_idx][:-1] < DAY)
        keep[1:] = ~same
        c_idx = c_idx[keep]
        sends_c.append(ab_c[c_idx])
        sends_t.append(ab_t[c_idx] + HOUR)
        sends_camp.append(np.ones(len(c_idx), dtype=np.int64))
        sends_cat.append(self.p_cat[ab_p[c_idx]])
        reminders = pd.DataFrame({"c": ab_c[c_idx], "t": ab_t[c_idx] + HOUR, "p": ab_p[c_idx]})

        cust = np.concatenate(sends_c).astype(np.int32)
        t = np.concatenate(sends_t).astype(np.int64)
        camp = np.concatenate(sends_camp).astype(np.int32)
        cat = np.concatenate(sends_cat).astype(np.int64)
        keep = t < min(self.t_end, self.t0 + cfg.esp_end_day * DAY)
        cust, t, camp, cat = cust[keep], t[keep], camp[keep], cat[keep]
        o = np.lexsort((t, cust))
        cust, t, camp, cat = cust[o], t[o], camp[o], cat[o]
        m = len(cust)
        # Emails received in the previous 7 days (fatigue).
        key = cust.astype(np.int64) * 2**40 + t
        n7 = np.arange(m) - np.searchsorted(key, key - 7 * DAY, side="right")
        churned = t >= self.c_churn[cust]
        p_unsub = unsubscribe_probability(n7, self.c_fatigue_tol[cust], churned)
        unsub = rng.random(m) < p_unsub
        # Emails after a customer's first unsubscribe are never sent.
        first_unsub = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first_unsub, cust[unsub], np.flatnonzero(unsub))
        sent = np.arange(m) <= first_unsub[cust]
        cust, t, camp, cat, n7, churned, unsub = (
            a[sent] for a in (cust, t, camp, cat, n7, churned, unsub))
        m = len(cust)
        self.events.add(cust, t, _ET[s.EventType.EMAIL_SENT], campaign=camp, channel=2,
                        query=-1)
        # Opens: likelier when the email lands just before the customer's usual hour; the open
        # happens at that usual hour (same day, or next day when the hour has passed).
        send_h = self._local_hour(cust, t)
        pref = self.c_pref_hour[cust]
        lead = np.mod(pref - send_h + 12, 24) - 12  # hours from send to habit hour
        sd = self.c_hour_sd[cust]
        relevance = np.where(
            camp == 1, 1.4, np.where(camp == 0, 1.5, 0.7 + 3.0 * self.c_prefs[cust, cat]))
        p_open = open_probability(self.c_open_base[cust], lead, sd, relevance, n7, churned)
        opened = rng.random(m) < p_open
        open_h = np.mod(pref + rng.normal(0, 1, m) * sd * 0.5, 24)
        open_t = self._at_local_hour(cust, t, open_h)
        in_window = (t - open_t >= 0) & (t - open_t < 1.5 * HOUR)
        open_t = np.where(in_window, t + rng.exponential(900, m).astype(np.int64) + 30,
                          np.where(open_t < t, open_t + DAY, open_t))
        opened &= open_t < self.t_end
        oc, ot, ocamp, ocat = cust[opened], open_t[opened], camp[opened], cat[opened]
        self.events.add(oc, ot, _ET[s.EventType.EMAIL_OPEN], campaign=ocamp, channel=2)
        # Unsubscribes happen on opening (or within a day when never opened).
        u_t = np.where(opened, open_t + 20, t + rng.integers(HOUR, DAY, m))
        u = unsub & (u_t < self.t_end)
        self.events.add(cust[u], u_t[u], _ET[s.EventType.UNSUBSCRIBE], campaign=camp[u], channel=2)
        # Clicks, then a site session from the click.
        p_click = np.where(ocamp == 1, 0.35, np.where(ocamp == 0, 0.2,
                           np.clip(0.04 + 0.8 * self.c_prefs[oc, ocat], 0, 0.5)))
        clicked = rng.random(len(oc)) < p_click
        cc, ct, ccamp, ccat = oc[clicked], ot[clicked] + rng.integers(10, 180, clicked.sum()), \
            ocamp[clicked], ocat[clicked]
        keep = ct < self.t_end
        cc, ct, ccamp, ccat = cc[keep], ct[keep], ccamp[keep], ccat[keep]
        self.events.add(cc, ct, _ET[s.EventType.EMAIL_CLICK], campaign=ccamp, channel=2)
        alive = rng.random(len(cc)) < np.maximum(self.activity(cc, ct), 0.05)
        cc, ct, ccamp, ccat = cc[alive], ct[alive] + 5, ccamp[alive], ccat[alive]
        is_cart = ccamp == 1
        # A click on a reminder returns to the cart item: the latest reminder sent before it.
        anchor = np.full(len(cc), -1, dtype=np.int64)
        if is_cart.any():
            clicks = pd.DataFrame({"c": cc[is_cart], "t": ct[is_cart]}).reset_index()
            j = pd.merge_asof(clicks.sort_values("t"), reminders.sort_values("t"), on="t",
                              by="c", direction="backward").sort_values("index")
            anchor[is_cart] = j["p"].fillna(-1).to_numpy(dtype=np.int64)
        conv = self.c_convert[cc]
        plan = self._plan(
            cc, ct, ccat, anchor=anchor, n_views=1 + rng.poisson(1.5, len(cc)),
            p_cart=np.where(is_cart, 0.9, 0.1 + 0.4 * conv),
            p_checkout=np.where(is_cart, 0.95, 0.7),
            p_buy=np.where(is_cart, self.c_cart_response[cc], 0.8),
            p_search=0.1, channel=np.zeros(len(cc)))
        return [self._run_sessions(plan)]

    # ------------------------------------------------------------------ output
    def run(self) -> Dataset:
        self.progress("catalog and customers")
        self._make_products()
        self._make_customers()
        self.progress("sessions")
        outcomes = [self._run_sessions(p) for p in self._organic_sessions()]
        merged = {k: np.concatenate([o[k] for o in outcomes]) for k in outcomes[0]}
        self.progress("replenishment")
        outcomes += self._replenishment(merged)
        merged = {k: np.concatenate([o[k] for o in outcomes]) for k in outcomes[0]}
        self.progress("email")
        self._emails(merged)
        self.progress("tables")
        return self._tables()

    def _tables(self) -> Dataset:
        ev = self.events.concat()
        keep = (ev["t"] < self.t_end) & (ev["t"] >= self.t0)
        ev = {k: v[keep] for k, v in ev.items()}
        o = np.lexsort((ev["etype"], ev["cust"], ev["t"]))
        ev = {k: v[o] for k, v in ev.items()}
        n_ev = len(ev["t"])
        first = self.chunk.first
        cust_ids = np.array([f"c{i:06d}" for i in range(first, first + self.chunk.customers)],
                            dtype=object)
        prod_ids = np.array([f"p{i:05d}" for i in range(self.cfg.products)], dtype=object)
        cat_names = np.array(CATEGORIES, dtype=object)
        has_p = ev["product"] >= 0
        has_c = ev["campaign"] >= 0
        has_q = ev["query"] >= 0
        camp_names = np.array(self.campaigns, dtype=object)
        cat_code = np.where(has_p, self.p_cat[np.maximum(ev["product"], 0)], ev["category"])
        category = np.where(cat_code >= 0, cat_names[np.maximum(cat_code, 0)], None)
        is_email = np.isin(ev["etype"], [_ET[e] for e in s.EMAIL_EVENTS])
        events = pd.DataFrame({
            s.EVENT_ID: pd.Series(self.first_event + np.arange(n_ev)).map("e{:09d}".format
                                                                          ).to_numpy(),
            s.CUSTOMER_ID: cust_ids[ev["cust"]],
            s.EVENT_TYPE: np.array(s.EVENT_TYPES, dtype=object)[ev["etype"]],
            s.EVENT_TS: pd.to_datetime(ev["t"], unit="s", utc=True),
            s.PRODUCT_ID: np.where(has_p, prod_ids[np.maximum(ev["product"], 0)], None),
            s.CATEGORY: category,
            s.PRICE: ev["price"],
            s.QUANTITY: ev["qty"].astype(np.int64),
            s.QUERY: np.where(has_q, cat_names[np.maximum(ev["query"], 0)], None),
            s.CAMPAIGN_ID: np.where(has_c & is_email, camp_names[np.maximum(ev["campaign"], 0)],
                                    None),
            s.CHANNEL: np.array(_CHANNELS, dtype=object)[ev["channel"]],
        })
        events = sort_events(events)
        unsub_custs = set(events.loc[events[s.EVENT_TYPE] == s.EventType.UNSUBSCRIBE,
                                     s.CUSTOMER_ID])
        customers = pd.DataFrame({
            s.CUSTOMER_ID: cust_ids,
            s.SIGNUP_TS: pd.to_datetime(self.c_signup, unit="s", utc=True),
            s.COUNTRY: [COUNTRIES[k][0] for k in self.c_country],
            s.TIMEZONE: [COUNTRIES[k][1] for k in self.c_country],
            s.CONSENT: self.c_consent,
            s.UNSUBSCRIBED: np.isin(cust_ids, list(unsub_custs)),
            **self._channel_consents(),
        })
        products = pd.DataFrame({
            s.PRODUCT_ID: prod_ids,
            s.CATEGORY: cat_names[self.p_cat],
            s.PRICE: self.p_price,
            s.MARGIN: self.p_margin,
            s.IN_STOCK: self.p_in_stock,
        })
        churn_ts = pd.to_datetime(np.where(self.c_churn < self.t_end + 365 * DAY,
                                           self.c_churn, self.t_end + 365 * DAY), unit="s",
                                  utc=True)
        truth = pd.DataFrame({
            s.CUSTOMER_ID: cust_ids,
            "timezone": customers[s.TIMEZONE],
            "preferred_hour_local": self.c_pref_hour,
            "hour_sd": self.c_hour_sd,
            "browse_rate": self.c_browse,
            "mission_rate": self.c_mission,
            "mission_conversion": self.c_convert,
            "price_sensitivity": self.c_price_sens,
            "discount_sensitivity": self.c_discount_sens,
            "open_base": self.c_open_base,
            "fatigue_tolerance": self.c_fatigue_tol,
            "cart_reminder_response": self.c_cart_response,
            "replenish_cycle_days": self.c_cycle,
            "top_category": cat_names[np.argmax(self.c_prefs, axis=1)],
            "churn_ts": churn_ts,
            "churned_by_end": self.c_churn < self.t_end,
        })
        manifest = {
            "source": "simulator",
            "simulator": asdict(self.cfg),
            "start": str(pd.Timestamp(self.t0, unit="s", tz="UTC")),
            "end": str(pd.Timestamp(self.t_end, unit="s", tz="UTC")),
        }
        return Dataset(events=events, customers=customers, products=products,
                       manifest=manifest, truth=truth)

    def _channel_consents(self) -> dict[str, np.ndarray]:
        """SMS / push consent per customer, from a generator of their own (the main stream,
        and so every other simulated value, is the same as without them)."""
        seed = self.cfg.seed
        rng = np.random.default_rng(self.chunk.seeds(seed, 16) if self.chunked else [seed, 16])
        n = self.chunk.customers
        return {s.SMS_CONSENT: rng.random(n) < self.cfg.sms_consent_share,
                s.PUSH_CONSENT: rng.random(n) < self.cfg.push_consent_share}


def simulate(cfg: SimConfig, progress: Callable[[str], None] | None = None) -> Dataset:
    """Simulate a dataset; the same config (seed included) always gives the same data."""
    return Simulator(cfg, progress).run()
