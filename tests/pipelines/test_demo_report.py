"""The demo report's lines on follow-ups, engagement tiers and adaptive frequency."""

from __future__ import annotations

from tests.serving.test_policy import FOLLOW_UP_SCENARIOS, emailed, run


def test_demo_report_counts_follow_ups_tiers_and_adaptive_caps(capsys) -> None:
    from pipelines.demo import _adaptive_report

    decisions = [run(FOLLOW_UP_SCENARIOS[0][1]), run(emailed(2, engagement_score=0.05)),
                 run(emailed(1, engagement_score=0.8))]
    _adaptive_report(decisions)
    text = capsys.readouterr().out
    assert "follow-ups on the last email: follow_up_clicked 1" in text
    assert "engagement tiers: " in text and "low 33%" in text and "high 33%" in text
    assert "adaptive frequency held back 1 customers (low_engagement 1)" in text
