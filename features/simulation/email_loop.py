"""Closed-loop email simulation: a policy decides every day for every customer, the simulated
customers respond by their ground-truth traits, and what they did feeds the next day's features.

The behavioral simulator's own ESP emails stop at `SimConfig.esp_days`; from then on the policy
under test is the only sender. Each day at `decision_hour_utc` every customer's features are
computed from the events so far (organic ones from the simulator, email ones from this loop) with
the production transforms (`customer_state_at`), the policy returns the emails to send, and each
email is answered with the simulator's rules (`open_probability`, `unsubscribe_probability`:
fatigue and unsubscribes grow with the emails of the past 7 days) plus the per-kind responses in
`RESPONSE` (docs/simulator.md, "Closed loop"), adjusted for the email's content: a
`CONTENT_RESPONSE` treatment (reactivation) and the price level of its products
(`price_ratio`: pricier products convert less by the simulator's own carting rule and make a
larger order). Customers with an email still scheduled are not decided again until it has gone
out.

Random numbers are drawn per customer and day before the policy runs, so two policies compared
on the same world meet the same luck (common random numbers): differences are the policies'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from features import schema as s
from features.simulation.behavior import (
    CATEGORIES,
    CATEGORY_MEDIAN_PRICE,
    DAY,
    HOUR,
    open_probability,
    unsubscribe_probability,
)
from features.simulation.campaigns import UNSUBSCRIBE_COST, alive_at
from features.sources.dataset import Dataset
from features.transforms import customer_state_at

E = s.EventType
TRUE_INTENT, TRUE_CHURN = "true_intent", "true_churn"  # ground-truth scores given to the policy


@dataclass(frozen=True)
class Response:
    """How customers respond to one kind of email (ground truth of the loop)."""

    relevance: float  # open multiplier (the simulator: 1.4 cart reminder, 1.5 welcome)
    click: float  # P(click | open)
    interest: float  # P(buy | click) = 0.52 x (interest + 0.4 x mission conversion)


DEFAULT_RESPONSE = Response(relevance=1.0, click=0.15, interest=0.1)
RESPONSE: dict[str, Response] = {
    "cart_abandonment": Response(1.4, 0.35, 0.0),  # P(buy | click): cart_reminder_response
    "welcome": Response(1.5, 0.2, 0.1),
    "browse_abandonment": Response(1.2, 0.25, 0.2),
    # follow-ups: a product the customer clicked, seen again, converts more; an email they
    # opened gets a second look at other products; a new subject for an unopened one is read
    # like any other email
    "follow_up_clicked": Response(1.4, 0.3, 0.3),
    "follow_up_opened": Response(1.1, 0.2, 0.15),
    "follow_up_ignored": Response(1.0, 0.15, 0.1),
}



@dataclass(frozen=True)
class ContentResponse:
    """How customers respond to a content treatment, on top of the email kind's `Response`."""

    relevance: float = 1.0  # x the open multiplier
    click: float = 1.0  # x P(click | open)


# message intensity (assumption, docs/simulator.md): a reactivation email (the customer's top
# tastes, then best-sellers, under a "we miss you" subject) is opened and clicked a tenth more
# than the standard email of its kind
CONTENT_RESPONSE: dict[str, ContentResponse] = {"reactivation": ContentResponse(1.1, 1.1)}
STANDARD = ContentResponse()  # the standard content: no adjustment

# the policy: (features at `now`, one row per customer, with TRUE_INTENT / TRUE_CHURN; now)
# -> emails to send: customer_id, send_at (UTC timestamp), action, discount (0..1), and
# optionally content (a treatment's name, "" for standard; those not in CONTENT_RESPONSE answer
# as standard) and price_ratio (the price level of the email's products relative to the
# standard email's, 1 by default)
Policy = Callable[[pd.DataFrame, pd.Timestamp], pd.DataFrame]


@dataclass
class LoopResult:
    emails: int = 0
    opens: int = 0
    clicks: int = 0
    purchases: int = 0
    revenue: float = 0.0  # after discounts
    unsubscribes: int = 0
    by_action: Counter = field(default_factory=Counter)  # emails per action
    revenue_by_action: Counter = field(default_factory=Counter)
    by_content: Counter = field(default_factory=Counter)  # emails per content treatment
    revenue_by_content: Counter = field(default_factory=Counter)
    events: pd.DataFrame | None = None

    @property
    def net(self) -> float:
        """Revenue minus the future value lost with each unsubscribe (campaign_sim's cost)."""
        return self.revenue - UNSUBSCRIBE_COST * self.unsubscribes


class _Truth:
    """The customers' latent traits, aligned with `ds.customers`."""

    def __init__(self, ds: Dataset, at: pd.Timestamp) -> None:
        if ds.truth is None:
            raise ValueError("the closed loop needs a simulated dataset (its ground truth)")
        t = ds.customers[[s.CUSTOMER_ID]].merge(ds.truth, on=s.CUSTOMER_ID, how="left")
        self.ids = t[s.CUSTOMER_ID].to_numpy()
        self.col = {c: t[c].to_numpy() for c in t.columns if c != s.CUSTOMER_ID}
        self.churn = pd.to_datetime(t["churn_ts"], utc=True).astype("int64").to_numpy() / 1e9
        zones = {z: ZoneInfo(z).utcoffset(at.to_pydatetime()).total_seconds() / HOUR
                 for z in t["timezone"].unique()}
        self.offset = t["timezone"].map(zones).to_numpy(dtype=float)
        top = pd.Index(CATEGORIES).get_indexer(t["top_category"].astype(str))
        self.basket = 0.4 * np.array(CATEGORY_MEDIAN_PRICE)[np.maximum(top, 0)]

    def order_value(self, c: np.ndarray, price_ratio: np.ndarray) -> np.ndarray:
        """An order's value: 30 + 0.4 x the median price of the customer's top category, that
        part scaled by the price level of the products the email showed."""
        return 30.0 + self.basket[c] * price_ratio

    def price_factor(self, c: np.ndarray, price_ratio: np.ndarray) -> np.ndarray:
        """P(buy) multiplier for products priced `price_ratio` x the usual: the simulator's
        carting rule (behavior.py: exp(-price sensitivity x (relative price - 1)), 0.4..1.4)."""
        return np.clip(np.exp(-self.col["price_sensitivity"][c] * (price_ratio - 1.0)), 0.4, 1.4)

    def scores(self, at: float) -> tuple[np.ndarray, np.ndarray]:
        """True 7-day purchase probability without email (campaign_sim's baseline, without its
        open-cart bump), and 1 - activity as churn risk."""
        rate = self.col["mission_rate"] * self.col["mission_conversion"] \
            + 0.05 * self.col["browse_rate"]
        alive = alive_at(self.churn, at)
        return 1 - np.exp(-7 * rate * alive), 1 - alive


def run_loop(ds: Dataset, policy: Policy, start: pd.Timestamp, days: int,
             decision_hour_utc: int = 9, seed: int = 0) -> LoopResult:
    """Run `policy` every day for `days` days from `start` (UTC midnight) on the world `ds`."""
    rng = np.random.default_rng(seed)
    truth = _Truth(ds, start)
    index = pd.Index(truth.ids)
    n = len(index)
    organic = ds.events
    sent = organic[organic[s.EVENT_TYPE] == E.EMAIL_SENT]
    send_c = index.get_indexer(sent[s.CUSTOMER_ID]).astype(np.int64)
    send_t = (sent[s.EVENT_TS].astype("int64").to_numpy() // 10**9).astype(np.int64)
    rows: list[dict] = []
    busy_until = np.zeros(n, dtype=np.int64)  # a scheduled email not yet sent
    result = LoopResult()
    for d in range(days):
        now = start + pd.Timedelta(days=d, hours=decision_hour_utc)
        luck = rng.random((5, n))  # open, click, buy, unsubscribe, open delay: same per policy
        events = organic if not rows else pd.concat([organic, pd.DataFrame(rows)],
                                                    ignore_index=True)
        state = ds.customers[[s.CUSTOMER_ID]].merge(
            customer_state_at(events, ds.customers, now), on=s.CUSTOMER_ID, how="left")
        state[TRUE_INTENT], state[TRUE_CHURN] = truth.scores(now.timestamp())
        free = busy_until <= now.timestamp()
        sends = policy(state[free].reset_index(drop=True), now)
        if sends.empty:
            continue
        c = index.get_indexer(sends[s.CUSTOMER_ID])
        t = (pd.to_datetime(sends["send_at"], utc=True).astype("int64").to_numpy()
             // 10**9).astype(np.int64)
        busy_until[c] = t
        # emails of the past 7 days, at each send (the ESP's and this loop's)
        key = np.sort(send_c * 2**40 + send_t)
        k = c.astype(np.int64) * 2**40 + t
        n7 = np.searchsorted(key, k, side="left") - np.searchsorted(key, k - 7 * DAY,
                                                                     side="right")
        send_c, send_t = np.r_[send_c, c], np.r_[send_t, t]
        kinds = sends["action"].astype(str).to_numpy()
        resp = [RESPONSE.get(a, DEFAULT_RESPONSE) for a in kinds]
        content = _column(sends, "content", "").astype(str)
        extra = [CONTENT_RESPONSE.get(x, STANDARD) for x in content]
        relevance = np.array([r.relevance * x.relevance for r, x in zip(resp, extra, strict=True)])
        p_click = np.array([r.click * x.click for r, x in zip(resp, extra, strict=True)])
        conv = truth.col["mission_conversion"][c]
        p_buy = np.where(kinds == "cart_abandonment", truth.col["cart_reminder_response"][c],
                         0.52 * (np.array([r.interest for r in resp]) + 0.4 * conv))
        discount = sends["discount"].to_numpy(dtype=float)
        ratio = _column(sends, "price_ratio", 1.0).astype(float)
        p_buy = np.clip(p_buy * (1 + 4 * truth.col["discount_sensitivity"][c] * discount)
                        * truth.price_factor(c, ratio), 0, 0.97)
        churned = t >= truth.churn[c]
        local = np.mod(t / HOUR + truth.offset[c], 24)
        pref = truth.col["preferred_hour_local"][c]
        lead = np.mod(pref - local + 12, 24) - 12
        p_open = open_probability(truth.col["open_base"][c], lead,
                                  truth.col["hour_sd"][c], relevance, n7, churned)
        opened = luck[0, c] < p_open
        clicked = opened & (luck[1, c] < p_click)
        bought = clicked & (luck[2, c] < p_buy)
        unsub = luck[3, c] < unsubscribe_probability(
            n7, truth.col["fatigue_tolerance"][c], churned)
        open_t = t + ((np.mod(pref - local, 24) + 0.25 * luck[4, c]) * HOUR).astype(np.int64)
        value = truth.order_value(c, ratio) * (1 - discount)
        ids = truth.ids[c]
        for i in range(len(c)):
            rows.append(_event(ids[i], t[i], E.EMAIL_SENT, campaign=kinds[i]))
            if opened[i]:
                rows.append(_event(ids[i], open_t[i], E.EMAIL_OPEN, campaign=kinds[i]))
            if clicked[i]:
                rows.append(_event(ids[i], open_t[i] + 60, E.EMAIL_CLICK, campaign=kinds[i]))
                rows.append(_event(ids[i], open_t[i] + 90, E.PRODUCT_VIEW))
            if bought[i]:
                rows.append(_event(ids[i], open_t[i] + 400, E.PURCHASE, price=value[i],
                                   qty=1))
            if unsub[i]:
                u_t = open_t[i] + 20 if opened[i] else t[i] + 2 * HOUR
                rows.append(_event(ids[i], u_t, E.UNSUBSCRIBE, campaign=kinds[i]))
        result.emails += len(c)
        result.opens += int(opened.sum())
        result.clicks += int(clicked.sum())
        result.purchases += int(bought.sum())
        result.revenue += float(value[bought].sum())
        result.unsubscribes += int(unsub.sum())
        result.by_action.update(kinds.tolist())
        result.by_content.update(x for x in content.tolist() if x)
        for a, x, v in zip(kinds[bought], content[bought], value[bought], strict=True):
            result.revenue_by_action[a] += float(v)
            if x:
                result.revenue_by_content[x] += float(v)
    result.events = pd.DataFrame(rows)
    return result


def _column(sends: pd.DataFrame, name: str, default: object) -> np.ndarray:
    """An optional column of the policy's sends (missing or empty cells: `default`)."""
    if name not in sends:
        return np.full(len(sends), default, dtype=object)
    return sends[name].where(sends[name].notna(), default).to_numpy()


def _event(customer: str, t: int, etype: str, *, campaign: str | None = None,
           price: float = np.nan, qty: int = 0) -> dict:
    return {s.CUSTOMER_ID: customer, s.EVENT_TYPE: str(etype),
            s.EVENT_TS: pd.Timestamp(int(t), unit="s", tz="UTC"), s.PRODUCT_ID: None,
            s.PRICE: price, s.QUANTITY: qty, s.CAMPAIGN_ID: campaign}
