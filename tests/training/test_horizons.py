"""Horizons: parsing, defaults for event logs, and choices read from transaction logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import schema as s
from training.horizons import (
    HorizonError,
    choose_horizons,
    default_every,
    describe,
    parse_duration,
    parse_horizons,
    purchase_gaps,
)

START = pd.Timestamp("1997-01-01", tz="UTC")


def test_durations_and_errors() -> None:
    assert parse_duration("7d") == pd.Timedelta(days=7)
    assert parse_duration("39w") == pd.Timedelta(weeks=39)
    assert parse_duration("36h") == pd.Timedelta(hours=36)
    assert parse_duration("90") == pd.Timedelta(days=90)
    assert parse_horizons("intent=7d, churn=12w") == {"intent": pd.Timedelta(days=7),
                                                     "churn": pd.Timedelta(weeks=12)}
    for bad in ("7 days", "-3d", "0d", "w"):
        with pytest.raises(HorizonError):
            parse_duration(bad)
    with pytest.raises(HorizonError, match="horizons are set for intent, churn"):
        parse_horizons("send_time=7d")
    assert describe(pd.Timedelta(days=7)) == "7d" and describe(pd.Timedelta(weeks=39)) == "39w"
    assert default_every(pd.Timedelta(days=7)) == pd.Timedelta(days=7)
    assert default_every(pd.Timedelta(weeks=16)) == pd.Timedelta(weeks=4)


def purchases(gaps_by_customer: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for c, gaps in gaps_by_customer.items():
        t = START + pd.Timedelta(days=3)
        rows.append((c, t))
        for g in gaps:
            t = t + pd.Timedelta(days=g)
            rows.append((c, t))
    return pd.DataFrame(rows, columns=[s.CUSTOMER_ID, s.EVENT_TS]).assign(
        **{s.EVENT_TYPE: "purchase"})


def test_transaction_log_horizons_come_from_purchase_gaps() -> None:
    rng = np.random.default_rng(0)
    ev = purchases({f"c{i}": list(rng.integers(5, 60, 4)) for i in range(50)})
    gaps = purchase_gaps(ev)
    assert len(gaps) == 200
    h = choose_horizons(ev, START, START + pd.Timedelta(days=730))
    med, q90 = np.quantile(gaps, 0.5), np.quantile(gaps, 0.9)
    assert h.horizon["intent"] == pd.Timedelta(weeks=int(np.ceil(med / 7)))
    assert h.horizon["churn"] == pd.Timedelta(weeks=int(np.ceil(q90 / 7)))
    assert "median of the 200 gaps" in h.why["intent"] and "90% quantile" in h.why["churn"]


def test_given_and_event_defaults_and_short_data() -> None:
    ev = purchases({"a": [10.0]}).assign(**{s.EVENT_TYPE: ["product_view", "purchase"]})
    h = choose_horizons(ev, START, START + pd.Timedelta(days=365),
                        given={"intent": pd.Timedelta(days=3)})
    assert h.horizon == {"intent": pd.Timedelta(days=3), "churn": pd.Timedelta(days=60)}
    assert h.why["intent"] == "given" and "site or email" in h.why["churn"]
    short = choose_horizons(ev, START, START + pd.Timedelta(days=80))
    assert short.horizon["churn"] < pd.Timedelta(days=60) and "shortened" in short.why["churn"]
