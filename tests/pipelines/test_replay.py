"""`nba replay`: events after a cut stream through the live path with decisions on triggers."""

from __future__ import annotations

import pandas as pd
import pytest

from features.sources.dataset import read_dataset

pytestmark = pytest.mark.slow  # uses the trained_world fixture


def test_replay_streams_events_and_sends_or_cancels(trained_world) -> None:
    from pipelines.replay import run_replay
    from pipelines.train_steps import promote_step
    from training.model_specs import DATASET_MODELS

    settings, _ = trained_world
    promote_step(settings, list(DATASET_MODELS))
    ds = read_dataset(settings.data_dir)
    hours = 48
    window = ds.events[ds.events["timestamp"] > ds.end - pd.Timedelta(hours=hours)]
    stats = run_replay(settings, hours=hours, tick_minutes=30)
    assert stats.events == len(window) and stats.rejected == 0
    assert stats.decisions > 0 and sum(stats.actions.values()) == stats.decisions
    assert sum(stats.sent.values()) + sum(stats.cancelled.values()) > 0
    assert set(stats.cancelled) <= {"cart_abandonment", "browse_abandonment"}
    # escalation steps of sent cart reminders are sent or cancelled when due, per channel
    assert {k.split()[0] for k in stats.steps} <= {"push", "sms"}
    assert {k.split()[1] for k in stats.steps} <= {"sent", "cancelled:purchased",
                                                   "cancelled:cart_closed"}
