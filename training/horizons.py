"""Label horizons and snapshot spacing: given by the user, or chosen from the data.

A horizon is how far ahead a label looks ("purchase within 7 days", "no purchase for 90 days").
Logs with site or email events keep the event-data defaults (intent 7 days, churn 60 days);
transaction-only logs get horizons from the gaps between each customer's purchase days, since
a grocer and a furniture shop do not share a sensible "soon". Every choice carries its reason,
which `nba train` prints and MLflow keeps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import schema as s

DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
EVENT_DEFAULTS = {"intent": pd.Timedelta(days=7), "churn": pd.Timedelta(days=60)}
HORIZON_MODELS = tuple(EVENT_DEFAULTS)
WARMUP = pd.Timedelta(days=28)  # history before the first snapshot
MIN_SNAPSHOTS = 3  # train, validation and test need one each at least
# transaction-only logs: intent = a typical gap, churn = a gap few returning customers exceed
INTENT_GAP_QUANTILE = 0.5
CHURN_GAP_QUANTILE = 0.9
MAX_SNAPSHOTS_PER_HORIZON = 4  # spacing: at least horizon / 4 (overlapping windows add little)

_UNITS = {"h": pd.Timedelta(hours=1), "d": DAY, "w": WEEK}


class HorizonError(ValueError):
    """A horizon or spacing that cannot be parsed or does not fit the data."""


def parse_duration(text: str, what: str = "duration") -> pd.Timedelta:
    """'7d', '12w', '36h' or a bare number of days; positive."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hdw]?)\s*", str(text).lower())
    if not m:
        raise HorizonError(f"{what} {text!r}: expected a number with a unit, e.g. 7d, 12w or 36h")
    value = float(m.group(1)) * _UNITS[m.group(2) or "d"]
    if value <= pd.Timedelta(0):
        raise HorizonError(f"{what} {text!r}: must be positive")
    return value


def parse_horizons(text: str | None) -> dict[str, pd.Timedelta]:
    """'intent=7d,churn=60d' -> {model: duration}; models: intent, churn."""
    out: dict[str, pd.Timedelta] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise HorizonError(f"--horizon {part.strip()!r}: expected model=duration, e.g. "
                               "intent=7d,churn=60d")
        name, value = (p.strip() for p in part.split("=", 1))
        if name not in HORIZON_MODELS:
            raise HorizonError(f"--horizon {name}: horizons are set for "
                               f"{', '.join(HORIZON_MODELS)}")
        out[name] = parse_duration(value, f"--horizon {name}")
    return out


def describe(td: pd.Timedelta) -> str:
    """'7d', '12w', '36h': the shortest exact form."""
    hours = td / pd.Timedelta(hours=1)
    if hours % (24 * 7) == 0:
        return f"{int(hours // (24 * 7))}w" if hours >= 24 * 7 * 4 else f"{int(hours // 24)}d"
    if hours % 24 == 0:
        return f"{int(hours // 24)}d"
    return f"{hours:g}h"


def is_transaction_only(events: pd.DataFrame) -> bool:
    """Only purchases (and sign-ups): no site browsing and no email events to learn from."""
    kinds = set(events[s.EVENT_TYPE].astype(str).unique())
    return kinds <= {str(s.EventType.PURCHASE), str(s.EventType.SIGNUP)}


def purchase_gaps(events: pd.DataFrame) -> np.ndarray:
    """Days between consecutive distinct purchase days of each customer (UTC days)."""
    buys = events[events[s.EVENT_TYPE].astype(str) == str(s.EventType.PURCHASE)]
    days = pd.DataFrame({"c": buys[s.CUSTOMER_ID].to_numpy(),
                         "d": buys[s.EVENT_TS].dt.floor("D").to_numpy()}).drop_duplicates()
    days = days.sort_values(["c", "d"])
    gap = days.groupby("c", sort=False)["d"].diff().dropna()
    return (gap / DAY).to_numpy(dtype=float)


def _weeks_up(days: float) -> pd.Timedelta:
    return WEEK * max(1, math.ceil(days / 7))


def max_horizon(start: pd.Timestamp, end: pd.Timestamp, every: pd.Timedelta = WEEK
                ) -> pd.Timedelta:
    """The longest horizon that leaves `MIN_SNAPSHOTS` snapshots after the warm-up."""
    return (end - start) - WARMUP - (MIN_SNAPSHOTS - 1) * every


@dataclass(frozen=True)
class Horizons:
    """Label horizon per model, snapshot spacing per model, and why each was chosen."""

    horizon: dict[str, pd.Timedelta]
    every: dict[str, pd.Timedelta]
    why: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        return {m: f"{describe(h)} (snapshots every {describe(self.every[m])}): {self.why[m]}"
                for m, h in self.horizon.items()}


def default_every(horizon: pd.Timedelta) -> pd.Timedelta:
    """Weekly, or horizon / 4 in whole weeks when longer: snapshots closer than that have
    overlapping label windows and repeat the same customers, adding rows but little signal."""
    return max(WEEK, WEEK * math.floor((horizon / MAX_SNAPSHOTS_PER_HORIZON) / WEEK))


def choose_horizons(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                    given: dict[str, pd.Timedelta] | None = None,
                    every: pd.Timedelta | None = None) -> Horizons:
    """Horizons for intent and churn: `given` ones as they are; else event-data defaults, or
    for transaction-only logs quantiles of the gaps between purchase days (in whole weeks,
    clipped to what the data's length allows)."""
    given = dict(given or {})
    horizon: dict[str, pd.Timedelta] = {}
    why: dict[str, str] = {}
    longest = max_horizon(start, end, every or WEEK)
    transactions = is_transaction_only(events)
    gaps = purchase_gaps(events) if transactions else np.zeros(0)
    for model in HORIZON_MODELS:
        if model in given:
            horizon[model], why[model] = given[model], "given"
            continue
        if not transactions:
            horizon[model] = EVENT_DEFAULTS[model]
            why[model] = "default for logs with site or email events"
        elif len(gaps) < 20:
            horizon[model] = EVENT_DEFAULTS[model]
            why[model] = (f"default: only {len(gaps)} repeat purchases, too few to read a "
                          "typical gap from")
        else:
            q = INTENT_GAP_QUANTILE if model == "intent" else CHURN_GAP_QUANTILE
            value = float(np.quantile(gaps, q))
            horizon[model] = _weeks_up(value)
            label = "median" if q == 0.5 else f"{q:.0%} quantile"
            why[model] = (f"transaction-only log: {label} of the {len(gaps):,} gaps between "
                          f"customers' purchase days is {value:.1f} days, rounded up to weeks")
        if horizon[model] > longest and longest >= WEEK:
            why[model] += (f"; shortened from {describe(horizon[model])} to fit "
                           f"{MIN_SNAPSHOTS} snapshots in {(end - start).days} days of data")
            horizon[model] = WEEK * math.floor(longest / WEEK)
    spacing = {m: every if every is not None else default_every(h) for m, h in horizon.items()}
    return Horizons(horizon, spacing, why)


def label_window_note(full, cutoff: pd.Timestamp, horizon: pd.Timedelta) -> str | None:
    """None when the log covers the whole label window after the cutoff, else the problem."""
    if cutoff <= full.start:
        return f"the cutoff {cutoff:%Y-%m-%d} is before the data starts ({full.start:%Y-%m-%d})"
    if cutoff + horizon > full.end + pd.Timedelta(days=1):
        return (f"the data ends {full.end:%Y-%m-%d}: a {describe(horizon)} window after the "
                f"cutoff {cutoff:%Y-%m-%d} needs data until {cutoff + horizon:%Y-%m-%d}; choose "
                "an earlier cutoff or a shorter horizon")
    return None
