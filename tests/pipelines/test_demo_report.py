"""The demo report's lines on follow-ups, engagement tiers, adaptive frequency and channel
escalation."""

from __future__ import annotations

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
