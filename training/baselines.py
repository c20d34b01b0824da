"""The standard customer-base baselines every intent/churn report is measured against.

- `recency`: days since the last purchase (fewer: more likely to buy again),
- `frequency`: distinct purchase days so far,
- `rfm_logistic`: a logistic regression on log recency, frequency and monetary value,
- `bgnbd`: BG/NBD's probability of a purchase within the horizon (training/customer_base.py),
- `engagement_recency_frequency` (engagement churn only): days since the last event and site
  events in 90 days.

Each baseline turns a feature frame into a score oriented to the task's label (for churn labels,
"no purchase", the repurchase scores are negated), and is calibrated to a probability on the
validation rows, so the gate can hand the policy a baseline's score when the model loses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from training.customer_base import BGNBD

HOURS_PER_DAY = 24.0
NEVER = 10_000.0  # days since the last purchase of a customer who never bought


def days_since_last_purchase(df: Mapping[str, np.ndarray]) -> np.ndarray:
    h = np.asarray(df["hours_since_last_purchase"], dtype=np.float64)
    return np.where(np.isnan(h), NEVER, h / HOURS_PER_DAY)


def purchase_days(df: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.nan_to_num(np.asarray(df["purchase_days_total"], dtype=np.float64))


def bgnbd_summary(df: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's (x, t_x, T) in days from the customer-base features (NaN without a purchase)."""
    days = np.asarray(df["purchase_days_total"], dtype=np.float64)
    T = np.asarray(df["days_since_first_purchase"], dtype=np.float64)
    recency = np.asarray(df["hours_since_last_purchase"], dtype=np.float64) / HOURS_PER_DAY
    bought = (days >= 1) & np.isfinite(T)
    x = np.where(bought, days - 1, np.nan)
    t_x = np.where(bought, np.maximum(T - recency, 0.0), np.nan)
    return x, t_x, np.where(bought, np.maximum(T, 1e-3), np.nan)


BGNBD_FEATURES = ("bgnbd_p_alive", "bgnbd_expected_purchases", "bgnbd_p_purchase")


Term = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def on_buyers(summary: tuple[np.ndarray, np.ndarray, np.ndarray], *terms: Term
              ) -> list[np.ndarray]:
    """Each BG/NBD term of `bgnbd_summary`'s (x, t_x, T) for the customers who have bought,
    NaN for the others (no masking when all have: one served customer, say)."""
    x, t_x, T = summary
    ok = np.isfinite(x)
    if ok.all():
        return [term(x, t_x, T) for term in terms]
    outs = [np.full(len(x), np.nan) for _ in terms]
    if ok.any():
        x, t_x, T = x[ok], t_x[ok], T[ok]
        for out, term in zip(outs, terms, strict=True):
            out[ok] = term(x, t_x, T)
    return outs


def bgnbd_features(cb: BGNBD, horizon_days: float,
                   df: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """P(alive), expected purchase days and P(any purchase) within the horizon."""
    terms = (cb.p_alive, partial(cb.expected_purchases, horizon_days),
             partial(cb.p_purchase, horizon_days))
    return dict(zip(BGNBD_FEATURES, on_buyers(bgnbd_summary(df), *terms), strict=True))


def _log_rfm(df: Mapping[str, np.ndarray]) -> np.ndarray:
    days = purchase_days(df)
    spend = np.nan_to_num(np.asarray(df["spend_total"], dtype=np.float64))
    monetary = np.where(days > 0, spend / np.maximum(days, 1), 0.0)
    return np.column_stack([np.log1p(days_since_last_purchase(df)), np.log1p(days),
                            np.log1p(np.maximum(monetary, 0.0))])


def _log_engagement(df: Mapping[str, np.ndarray]) -> np.ndarray:
    h = np.asarray(df["hours_since_last_event"], dtype=np.float64)
    days = np.where(np.isnan(h), 365.0, np.minimum(h / HOURS_PER_DAY, 365.0))
    return np.column_stack([np.log1p(days), np.log1p(np.nan_to_num(
        np.asarray(df["site_events_90d"], dtype=np.float64)))])


@dataclass(frozen=True)
class Calibration:
    """Isotonic calibration that keeps the score's ranking: isotonic regression is a step
    function (ties within a step, and one flat value beyond the fitted range, which would throw
    away the ranking of customers unlike any seen in training), so a tiny strictly increasing
    term of the raw score (1e-6 of the probability scale) breaks those ties."""

    x: np.ndarray
    y: np.ndarray
    eps: float = 1e-6

    @staticmethod
    def fit(score: np.ndarray, y: np.ndarray) -> Calibration:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(score, y)
        return Calibration(np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_))

    def apply(self, score: np.ndarray) -> np.ndarray:
        score = np.asarray(score, dtype=np.float64)
        tie_break = 0.5 + np.arctan(score) / np.pi
        return (1 - self.eps) * np.interp(score, self.x, self.y) + self.eps * tie_break


def _recency_score(d: Mapping[str, np.ndarray]) -> np.ndarray:
    return -days_since_last_purchase(d)


RULES: dict[str, Callable[[Mapping[str, np.ndarray]], np.ndarray]] = {
    "recency": _recency_score, "frequency": purchase_days}
DESIGNS: dict[str, Callable[[Mapping[str, np.ndarray]], np.ndarray]] = {
    "rfm_logistic": _log_rfm, "engagement_recency_frequency": _log_engagement}
INPUTS: dict[str, tuple[str, ...]] = {
    "recency": ("hours_since_last_purchase",),
    "frequency": ("purchase_days_total",),
    "rfm_logistic": ("hours_since_last_purchase", "purchase_days_total", "spend_total"),
    "bgnbd": ("purchase_days_total", "days_since_first_purchase", "hours_since_last_purchase"),
    "engagement_recency_frequency": ("hours_since_last_event", "site_events_90d"),
}


@dataclass
class Baseline:
    """A score from a few columns: a fixed rule (recency, frequency, BG/NBD) or a logistic
    regression on a small design (RFM, engagement); `calibrate` maps the score to a probability
    of the task's label on validation rows. Plain data, so it pickles with the model."""

    name: str
    sign: float = 1.0  # -1 when the task's label is "no purchase" (rules are repurchase scores)
    customer_base: BGNBD | None = None  # bgnbd only
    horizon_days: float = 0.0  # bgnbd only
    model: LogisticRegression | None = None
    calibration: Calibration | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return INPUTS[self.name]

    def fit(self, df: Mapping[str, np.ndarray], y: np.ndarray) -> Baseline:
        if self.name in DESIGNS:
            self.model = LogisticRegression(max_iter=1000).fit(DESIGNS[self.name](df), y)
        return self

    def score(self, df: Mapping[str, np.ndarray]) -> np.ndarray:
        """Higher = the task's label more likely."""
        if self.name in DESIGNS:
            return self.model.predict_proba(DESIGNS[self.name](df))[:, 1]
        if self.name == "bgnbd":
            p = bgnbd_features(self.customer_base, self.horizon_days, df)["bgnbd_p_purchase"]
            return self.sign * np.where(np.isnan(p), -1.0, p)  # never bought: least likely
        return self.sign * RULES[self.name](df)

    def calibrate(self, df: Mapping[str, np.ndarray], y: np.ndarray) -> Baseline:
        self.calibration = Calibration.fit(self.score(df), y)
        return self

    def predict_proba(self, df: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.calibration.apply(self.score(df))


def customer_base_baselines(label_is_lapse: bool, horizon_days: float, cb: BGNBD | None,
                            engagement: bool = False) -> list[Baseline]:
    """The baselines of an intent (`label_is_lapse`=False) or churn task."""
    sign = -1.0 if label_is_lapse else 1.0
    out = [Baseline("recency", sign), Baseline("frequency", sign), Baseline("rfm_logistic")]
    if cb is not None:
        out.append(Baseline("bgnbd", sign, customer_base=cb, horizon_days=horizon_days))
    if engagement:
        out.append(Baseline("engagement_recency_frequency"))
    return out


def columns(df: pd.DataFrame | Mapping[str, np.ndarray], names: tuple[str, ...] | list[str]
            ) -> dict[str, np.ndarray]:
    """The named columns as float arrays (what baselines and the bundle read)."""
    return {n: np.asarray(df[n], dtype=np.float64) for n in names}
