"""The closed-loop email simulation: ground truth that responds to pressure and to the kind of
email, the ESP switched off for the loop, and the loop's own events feeding its features."""

from __future__ import annotations

import pandas as pd
import pytest

from features import schema as s
from features.simulation.behavior import SimConfig, simulate
from features.simulation.email_loop import LoopResult, run_loop
from features.sources.dataset import Dataset

SIM = SimConfig(customers=400, days=50, products=100, seed=3, esp_days=40)


@pytest.fixture(scope="module")
def world() -> Dataset:
    return simulate(SIM)


def start(ds: Dataset) -> pd.Timestamp:
    return ds.start + pd.Timedelta(days=SIM.esp_days)


def everyone(kind: str, every_days: int = 1, **content):
    """A policy that emails every reachable customer every `every_days` days, now (`content`:
    extra columns of the sends, e.g. content="reactivation", price_ratio=2.0)."""
    first: list[pd.Timestamp] = []

    def policy(state: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
        first[:] = first or [now]
        reachable = (state["consent"] == 1) & (state["unsubscribed"].fillna(0) < 1)
        if (now - first[0]).days % every_days:
            reachable &= False
        ids = state.loc[reachable, s.CUSTOMER_ID]
        return pd.DataFrame({s.CUSTOMER_ID: ids, "send_at": now, "action": kind,
                             "discount": 0.0, **content})
    return policy


def loop(ds: Dataset, kind: str, every_days: int = 1, days: int = 7, **content) -> LoopResult:
    return run_loop(ds, everyone(kind, every_days, **content), start(ds), days, seed=1)


def test_the_esp_stops_and_the_loop_is_the_only_sender(world: Dataset) -> None:
    sent = world.events[world.events[s.EVENT_TYPE] == s.EventType.EMAIL_SENT]
    assert len(sent) and sent[s.EVENT_TS].max() < start(world)
    r = loop(world, "browse_abandonment", days=3)
    assert r.emails == (r.events[s.EVENT_TYPE] == s.EventType.EMAIL_SENT).sum() > 0


def test_more_email_pressure_means_more_unsubscribes_and_fewer_opens(world: Dataset) -> None:
    daily = loop(world, "browse_abandonment", every_days=1)
    weekly = loop(world, "browse_abandonment", every_days=7)
    assert daily.emails > 5 * weekly.emails
    assert daily.unsubscribes > 3 * max(weekly.unsubscribes, 1)
    assert daily.opens / daily.emails < weekly.opens / weekly.emails  # fatigue


def test_unsubscribed_customers_are_not_emailed_again(world: Dataset) -> None:
    ev = loop(world, "browse_abandonment").events
    unsub = ev[ev[s.EVENT_TYPE] == s.EventType.UNSUBSCRIBE].groupby(s.CUSTOMER_ID)[
        s.EVENT_TS].min()
    assert len(unsub)
    sent = ev[ev[s.EVENT_TYPE] == s.EventType.EMAIL_SENT]
    later = sent[s.EVENT_TS].to_numpy() > sent[s.CUSTOMER_ID].map(unsub).to_numpy()
    # the decision after an unsubscribe reads it (an email already scheduled may still go)
    assert later.sum() <= len(unsub)


def test_follow_up_kinds_answer_by_their_ground_truth(world: Dataset) -> None:
    """Same customers, same luck: a follow-up on a clicked product is opened, clicked and
    bought more than a new subject for an unopened email."""
    clicked = loop(world, "follow_up_clicked", every_days=7)
    ignored = loop(world, "follow_up_ignored", every_days=7)
    assert clicked.emails == ignored.emails
    assert clicked.opens > ignored.opens and clicked.clicks > ignored.clicks
    assert clicked.purchases >= ignored.purchases and clicked.revenue >= ignored.revenue


def test_content_answers_by_its_assumed_response_and_the_price_rule(world: Dataset) -> None:
    """Same customers, same luck: a reactivation email is opened and clicked more than the
    standard one; products priced twice as high sell less often but for more."""
    standard = loop(world, "browse_abandonment", every_days=2, days=14)
    reactivation = loop(world, "browse_abandonment", every_days=2, days=14,
                        content="reactivation")
    pricier = loop(world, "browse_abandonment", every_days=2, days=14, price_ratio=2.0)
    assert standard.emails == reactivation.emails == pricier.emails
    assert reactivation.opens > standard.opens and reactivation.clicks > standard.clicks
    assert pricier.clicks == standard.clicks and pricier.purchases < standard.purchases
    assert pricier.revenue / pricier.purchases > standard.revenue / standard.purchases
    same = loop(world, "browse_abandonment", every_days=2, days=14, content="", price_ratio=1.0)
    assert (same.opens, same.purchases, same.revenue) == (
        standard.opens, standard.purchases, standard.revenue)
