"""The demo report's lines on follow-ups, engagement tiers, adaptive frequency and channel
escalation."""

from __future__ import annotations

import pytest

from tests.serving.test_policy import FOLLOW_UP_SCENARIOS, OPEN_CART, customer, emailed, run


def test_demo_report_counts_follow_ups_tiers_and_adaptive_caps(capsys) -> None:
    from pipelines.demo import _adaptive_report

    decisions = [run(FOLLOW_UP_SCENARIOS[0][1]), run(emailed(2, engagement_score=0.05)),
                 run(emailed(1, engagement_score=0.8))]
    _adaptive_report(decisions)
    text = capsys.readouterr().out
    assert "follow-ups on the last email: follow_up_clicked 1" in text
    assert "engagement tiers: " in text and "low 33%" in text and "high 33%" in text
    assert "adaptive frequency held back 1 customers (low_engagement 1)" in text
    assert "next order: expected date for " in text and "re-engagement timed before it: 0" in text


def test_demo_report_summarizes_next_order_dates_and_values(capsys) -> None:
    from pipelines.demo import _adaptive_report

    decisions = [run(emailed(1)), run(emailed(1))]
    decisions[0].scores.update(next_order_days=12.0, next_order_value_12m=80.0)
    decisions[1].scores.update(next_order_days=-3.0, next_order_value_12m=40.0)
    _adaptive_report(decisions)
    text = capsys.readouterr().out
    assert "next order: expected date for 2 customers (median in 4 days, 1 overdue)" in text
    assert "12-month value median 60.00 for 2" in text


def test_demo_report_counts_escalation_plans_and_skips(capsys) -> None:
    from pipelines.demo import _escalation_report
    from pipelines.serve_steps import decisions_frame

    decisions = [run(customer(**OPEN_CART, sms_consent=1, push_consent=1)),
                 run(customer(**OPEN_CART, sms_consent=1)), run(customer(**OPEN_CART)),
                 run(customer())]
    frame = decisions_frame(decisions)
    from pipelines.serve_steps import DECISION_COLUMNS

    assert list(frame.columns) == list(DECISION_COLUMNS)  # the Spark batch score's schema too
    assert frame["plan"].iloc[1] == "sms@2026-06-01T15:00:00+00:00"
    _escalation_report(frame)
    text = capsys.readouterr().out
    assert "channel escalation: 2 of 3 cart reminders plan a step (sms 2, push 1)" in text
    assert "skipped: push_no_consent 2, sms_no_consent 1" in text


def test_demo_opens_the_first_email_with_an_offer() -> None:
    from pipelines.open_events_report import email_to_open

    plain = run(customer(hours_since_last_view=3.0), intent=0.5)  # high intent: no offer
    offer = run(customer(**OPEN_CART, purchases_30d=0, cart_adds_30d=4), intent=0.15)
    nothing = run(customer())
    assert plain.send_at and not plain.offer.value and offer.offer.value
    assert email_to_open([nothing, plain, offer]) is offer
    assert email_to_open([nothing, plain]) is plain
    assert email_to_open([nothing]) is None


def test_demo_open_line_shows_what_the_open_rendered() -> None:
    from pipelines.open_events_report import open_line
    from tests.serving.test_open_content_policy import CART, at_open, sent

    d, stored = sent(CART)
    o = at_open(stored, CART, hours=2, intent=0.6)  # hotter now: another headline
    line = open_line(d, o)
    hours_left = round(o.offer_seconds_left / 3600)
    products = ", ".join(r.product_id for r in o.recommendations[:3])
    assert line.startswith(f"  content at open (+2 h): c1 cart_abandonment, headline urgency, "
                           f"offer percent_off ({hours_left} h left), products {products}; ")
    assert line.endswith("; ".join(o.reasons)) and "open_variant_urgency_high_intent" in line
    expired = open_line(d, at_open(stored, CART, hours=100))
    assert "offer none (none)" in expired and "open_offer_expired_removed" in expired


def test_demo_price_drop_line_counts_audience_and_emails() -> None:
    from pipelines.open_events_report import price_drop_line

    line = price_drop_line("p00042", 1234, 56)
    assert "price drop 20% on p00042 -> 1,234 interested customers -> 56 price_drop emails" \
        in line


@pytest.mark.slow  # the trained_world fixture: features materialized, models trained
def test_demo_open_and_event_lines_on_a_trained_world(trained_world) -> None:
    from features.sources.dataset import read_dataset
    from pipelines.open_events_report import (
        OPEN_AFTER,
        email_to_open,
        open_and_events_lines,
        open_line,
    )
    from serving.decision_index import open_index
    from serving.engine import DecisionEngine
    from serving.open_content import open_content
    from serving.schemas import DecisionRequest

    settings, _ = trained_world
    ds = read_dataset(settings.data_dir)
    engine = DecisionEngine(settings, log_decisions=False)
    try:
        ids = ds.customers["customer_id"].head(300).tolist()
        decisions = engine.decide_many([DecisionRequest(customer_id=c, now=ds.end.to_pydatetime())
                                        for c in ids])
        index = open_index(settings)
        index.put(decisions)  # as batch scoring does
        index.close()
        lines = open_and_events_lines(settings, decisions)
        email = email_to_open(decisions)
        shown = open_content(engine, email.decision_id, email.send_at + OPEN_AFTER)
    finally:
        engine.close()
    assert not shown.degraded and shown.recommendations
    assert lines[0] == open_line(email, shown)  # that email, opened then, as the engine renders
    event = lines[1]
    assert event.startswith("  business event (dry run): price drop 20% on "), lines
    interested, sent = (int(x.split()[0].replace(",", "")) for x in event.split("-> ")[1:3])
    assert interested > 0 and 0 <= sent <= interested
