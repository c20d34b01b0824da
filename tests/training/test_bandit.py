"""Exploration offline: arm statistics from outcomes, and a replay on the simulator where
Thompson sampling and epsilon-greedy both learn, and Thompson ends with the lower regret."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.simulation.behavior import SimConfig, simulate
from features.simulation.campaigns import campaign_log, decision_times
from training.bandit import arm_stats, bucket_oracle_regret, buckets, replay


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    ds = simulate(SimConfig(customers=2000, days=120, seed=7))
    return campaign_log(ds, decision_times(ds, 6), seed=0)


def test_arm_statistics_from_an_outcomes_table(log: pd.DataFrame) -> None:
    stats = arm_stats(log, "treatment", "reward")
    b = buckets(log)
    bucket = b[0]
    sel = (b == bucket) & (log["treatment"] == "email").to_numpy()
    n, s, _ = stats.cells[(bucket, "email")]
    assert n == sel.sum() and s == pytest.approx(log.loc[sel, "reward"].sum())
    assert sum(c[0] for c in stats.cells.values()) == len(log)
    mean, sd = stats.posterior(bucket, ("none", "email"))
    assert (sd > 0).all() and np.isfinite(mean).all()
    with pytest.raises(ValueError, match="lacks"):
        arm_stats(log, "treatment", "nope")


def test_thompson_learns_and_ends_below_epsilon_greedy(log: pd.DataFrame) -> None:
    floor = bucket_oracle_regret(log)
    late = {"epsilon": [], "thompson": []}
    for seed in range(3):
        uniform = replay(log, "uniform", rounds=150, per_round=400, seed=seed)
        for method in late:
            r = replay(log, method, rounds=150, per_round=400, seed=seed)
            assert r.cumulative_regret < uniform.cumulative_regret - 0.5
            assert r.regret_per_round[-30:].mean() > floor - 1e-9  # cannot beat the floor
            late[method].append(r.regret_per_round[-30:].mean())
    # Thompson stops trying clearly worse treatments; epsilon keeps wasting 10% on them
    assert np.mean(late["thompson"]) < np.mean(late["epsilon"])
