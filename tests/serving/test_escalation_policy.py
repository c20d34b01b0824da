"""Channel escalation through the policy: one scenario per test (no training)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from serving.policy import PolicyInputs, Scores, decide
from serving.schemas import Action, Channel, TriggerEvent
from tests.serving.test_policy import CATALOG, CFG, NOW, OPEN_CART, H, customer, run

BOTH = {"push_consent": 1, "sms_consent": 1}
PLAN_REASONS = ("escalation_",)


def plan_reasons(d) -> list[str]:
    return [r for r in d.reasons if r.startswith(PLAN_REASONS)]


def test_cart_reminder_plans_push_then_sms_for_a_customer_who_consented_to_both() -> None:
    d = run(customer(**OPEN_CART, **BOTH))
    assert d.action == Action.CART_ABANDONMENT and d.send_at == NOW, d.reasons
    assert [(s.channel, s.at) for s in d.plan] == [
        (Channel.PUSH, NOW + timedelta(hours=1)), (Channel.SMS, NOW + timedelta(hours=2))]
    assert all(s.condition == "cart_open" and s.cancel_on == ["purchase"] for s in d.plan)
    assert plan_reasons(d) == ["escalation_push_after_1h", "escalation_sms_after_2h"]


def test_only_consented_channels_get_a_step() -> None:
    d = run(customer(**OPEN_CART, sms_consent=1))
    assert [(s.channel, s.at) for s in d.plan] == [(Channel.SMS, NOW + timedelta(hours=1))]
    assert plan_reasons(d) == ["escalation_skipped:push_no_consent", "escalation_sms_after_1h"]


@pytest.mark.parametrize("consent", [{}, {"push_consent": 0, "sms_consent": 0},
                                     {"push_consent": None, "sms_consent": None}],
                         ids=["not in the profile", "refused", "unknown"])
def test_no_plan_without_channel_consent(consent: dict) -> None:
    d = run(customer(**OPEN_CART, **consent))
    assert d.action == Action.CART_ABANDONMENT and d.plan == []
    assert plan_reasons(d) == ["escalation_skipped:push_no_consent",
                               "escalation_skipped:sms_no_consent"]


def sent(channel: str, hours_ago: float, day: int, week: int) -> dict:
    return {f"last_{channel}_sent_ts": NOW.timestamp() - hours_ago * H,
            f"{channel}_sent_24h": day, f"{channel}_sent_7d": week}


@pytest.mark.parametrize(("history", "channels", "why"), [
    (sent("sms", 3, 1, 1), [Channel.PUSH], "escalation_skipped:sms_cap_day"),
    (sent("sms", 50, 0, 2), [Channel.PUSH], "escalation_skipped:sms_cap_week"),
    (sent("push", 5, 1, 1), [Channel.SMS], "escalation_skipped:push_cap_day"),
    # the stored 24 h count is as of the last event: a send 30 h ago no longer counts today
    (sent("sms", 30, 1, 1), [Channel.PUSH, Channel.SMS], "escalation_sms_after_2h"),
    # nor does one older than a week count this week
    (sent("push", 200, 1, 3), [Channel.PUSH, Channel.SMS], "escalation_push_after_1h"),
], ids=["sms sent 3 h ago", "2 sms this week", "push sent 5 h ago", "sms 30 h ago",
        "push 200 h ago"])
def test_per_channel_caps(history: dict, channels: list, why: str) -> None:
    d = run(customer(**OPEN_CART, **BOTH, **history))
    assert [s.channel for s in d.plan] == channels, d.reasons
    assert why in d.reasons


def test_caps_are_per_channel_and_configurable() -> None:
    three_sms = sent("sms", 50, 0, 2)
    looser = replace(CFG, channel_cap_per_week={"push": 3, "sms": 3})
    assert [s.channel for s in run(customer(**OPEN_CART, **BOTH, **three_sms),
                                   cfg=looser).plan] == [Channel.PUSH, Channel.SMS]
    no_sms = replace(CFG, channel_cap_per_day={"push": 1})  # a channel without a cap: never
    assert [s.channel for s in run(customer(**OPEN_CART, **BOTH), cfg=no_sms).plan] == [
        Channel.PUSH]


def test_a_step_in_quiet_hours_moves_to_the_morning() -> None:
    evening = NOW.replace(hour=20, minute=30)  # email 20:30, push 21:30, sms 22:30 -> 07:00
    d = run(customer(**OPEN_CART, **BOTH), now=evening)
    assert d.send_at == evening
    assert [(s.channel, s.at) for s in d.plan] == [
        (Channel.PUSH, evening + timedelta(hours=1)),
        (Channel.SMS, (evening + timedelta(days=1)).replace(hour=7, minute=0))]
    assert "escalation_quiet_hours_shift:sms" in d.reasons
    assert "escalation_quiet_hours_shift:push" not in d.reasons
    # customer-local: 14:00 UTC is 22:00 in Tokyo, so the email goes at 07:00 local and the
    # steps follow it at 08:00 and 09:00 local
    tokyo = run(customer(**OPEN_CART, **BOTH, utc_offset_hours=9.0))
    assert [(s.at.hour + 9) % 24 for s in tokyo.plan] == [8, 9]


def test_the_delay_and_the_channel_order_are_settings() -> None:
    cfg = replace(CFG, escalation_delay_hours=0.5, escalation_channels=("sms", "push"))
    d = run(customer(**OPEN_CART, **BOTH), cfg=cfg)
    assert [(s.channel, s.at) for s in d.plan] == [
        (Channel.SMS, NOW + timedelta(minutes=30)), (Channel.PUSH, NOW + timedelta(hours=1))]
    assert plan_reasons(d) == ["escalation_sms_after_0.5h", "escalation_push_after_1h"]
    off = run(customer(**OPEN_CART, **BOTH), cfg=replace(CFG, escalation=False))
    assert off.action == Action.CART_ABANDONMENT and off.plan == [] and not plan_reasons(off)


def test_a_purchase_cancels_the_plan() -> None:
    """Each step says a purchase cancels it; a purchase before the decision means no plan."""
    d = run(customer(**OPEN_CART, **BOTH))
    assert d.plan and all("purchase" in s.cancel_on for s in d.plan)
    added = NOW - timedelta(hours=2)
    bought = customer(**BOTH, hours_since_last_view=2.1, hours_since_last_purchase=1.0,
                      last_purchase_ts=(NOW - timedelta(hours=1)).timestamp())
    after = run(bought, trigger=TriggerEvent(event_type="add_to_cart", timestamp=added,
                                             product_id="cart1"))
    assert after.action != Action.CART_ABANDONMENT and after.plan == []


@pytest.mark.parametrize(("features", "kwargs"), [
    (customer(**OPEN_CART, **BOTH, unsubscribed=1), {}),
    (customer(**OPEN_CART, **BOTH, consent=0), {}),
    (customer(**OPEN_CART, **BOTH, emails_sent_7d=3), {}),
    (customer(**BOTH), {}),
    (customer(**OPEN_CART, **BOTH), {"cfg": replace(CFG, control_share=1.0)}),
], ids=["unsubscribed", "no email consent", "email cap", "nothing to send", "control group"])
def test_decisions_that_send_nothing_plan_nothing(features: dict, kwargs: dict) -> None:
    d = run(features, **kwargs)
    assert d.action == Action.NONE and d.plan == [] and not plan_reasons(d), d.reasons


def test_response_model_holding_the_email_back_plans_nothing() -> None:
    inp = PolicyInputs("c1", NOW, customer(**OPEN_CART, **BOTH),
                       Scores(0.2, 0.1, response={"none": 1.0, "email": 0.5}))
    d = decide(inp, CFG, CATALOG, decision_id="d1")
    assert d.action == Action.NONE and d.plan == []


def test_other_flows_do_not_escalate_unless_configured() -> None:
    browse = customer(**BOTH, hours_since_last_view=3.0)
    d = run(browse)
    assert d.action == Action.BROWSE_ABANDONMENT and d.plan == [] and not plan_reasons(d)
    cfg = replace(CFG, escalation_actions=(Action.CART_ABANDONMENT, Action.BROWSE_ABANDONMENT))
    d = run(browse, cfg=cfg)
    assert [s.channel for s in d.plan] == [Channel.PUSH, Channel.SMS]
    assert all(s.condition == "not_purchased" and s.at > d.send_at for s in d.plan)


def test_the_plan_is_optional_in_the_api() -> None:
    """Existing clients see one more field, empty unless a step is planned."""
    d = run(customer(**OPEN_CART))
    assert d.model_dump(mode="json")["plan"] == []
    step = run(customer(**OPEN_CART, sms_consent=1)).model_dump(mode="json")["plan"][0]
    assert step == {"channel": "sms", "at": "2026-06-01T15:00:00Z", "condition": "cart_open",
                    "cancel_on": ["purchase"]}


def test_a_due_step_is_sent_only_while_the_cart_is_open_and_nothing_was_bought() -> None:
    """The caller's check when a step is due (the replay does it with the online features)."""
    from serving.policy.escalation import step_status

    step = run(customer(**OPEN_CART, sms_consent=1)).plan[0]
    later = NOW + timedelta(hours=1)
    assert step_status(step, NOW, {"cart_open": 1, "last_purchase_ts": None}) == "send"
    bought = {"cart_open": 0, "last_purchase_ts": (later - timedelta(minutes=5)).timestamp()}
    assert step_status(step, NOW, bought) == "cancelled:purchased"
    assert step_status(step, NOW, {"cart_open": 0, "last_purchase_ts": None}) == (
        "cancelled:cart_closed")
    earlier_buy = {"cart_open": 1, "last_purchase_ts": (NOW - timedelta(days=3)).timestamp()}
    assert step_status(step, NOW, earlier_buy) == "send"  # bought before the decision: no cancel


def test_the_channels_are_one_list() -> None:
    """The API's channels, their send events and their consent columns name the same set."""
    from features import schema as s

    assert {c.value for c in Channel} == set(s.CHANNEL_SENDS) == set(s.CHANNEL_CONSENTS)
    assert set(CFG.escalation_channels) <= set(s.CHANNEL_SENDS)
    assert set(CFG.channel_cap_per_day) == set(CFG.channel_cap_per_week) == set(s.CHANNEL_SENDS)
