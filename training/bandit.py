"""Bandit exploration offline: arm statistics from decision outcomes (what Thompson sampling in
the service learns from), and a replay on the simulator that measures the regret of
epsilon-greedy and Thompson sampling against the best treatment per customer.

The replay plays a campaign in rounds (a day of decisions each): every round the policy
chooses a treatment per customer from what it has learned so far, the customer's reward is
drawn around the simulator's exact expected reward of that treatment (noise as large as the
logged rewards'), and the statistics are updated before the next round, as `nba bandit update`
would between days. Regret = the exact expected reward of the best treatment for the customer
minus that of the chosen one (pseudo-regret: it does not depend on the noise draw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.schema import TRUTH_PREFIX
from features.simulation.campaigns import TREATMENTS
from training.arm_stats import ArmStats, context_bucket

METHODS = ("uniform", "epsilon", "thompson")


def buckets(frame: pd.DataFrame) -> np.ndarray:
    """`context_bucket` of every row (the same function the service uses)."""
    cols = [c for c in ("cart_open", "hours_since_last_site", "email_open_rate_90d")
            if c in frame.columns]
    sub = frame[cols].astype(object).where(frame[cols].notna(), None)
    return np.array([context_bucket(r) for r in sub.to_dict("records")], dtype=object)


def arm_stats(table: pd.DataFrame, treatment: str = "treatment", reward: str = "revenue",
              arms: tuple[str, ...] | None = None) -> ArmStats:
    """Statistics of `reward` per (context bucket, treatment) from an outcomes table (one row
    per decision with its logged features); `arms` limits the treatments kept."""
    missing = [c for c in (treatment, reward) if c not in table.columns]
    if missing:
        raise ValueError(f"outcomes table lacks {', '.join(missing)}")
    stats = ArmStats()
    frame = table if arms is None else table[table[treatment].astype(str).isin(arms)]
    r = pd.to_numeric(frame[reward], errors="coerce")
    frame = frame[r.notna()]
    b = buckets(frame)
    for (bucket, arm), idx in pd.Series(range(len(frame))).groupby(
            [b, frame[treatment].astype(str).to_numpy()]).groups.items():
        stats.add(bucket, arm, r.to_numpy(dtype=float)[r.notna().to_numpy()][idx])
    return stats


def bucket_oracle_regret(log: pd.DataFrame) -> float:
    """Mean regret of the best single treatment per context bucket (known exactly): the floor
    a bandit over these buckets can reach; the rest needs a richer model of the customer."""
    truth = log[[TRUTH_PREFIX + t for t in TREATMENTS]].to_numpy(dtype=float)
    b = buckets(log)
    best = pd.DataFrame(truth).groupby(b).transform("mean").to_numpy().argmax(axis=1)
    return float((truth.max(axis=1) - truth[np.arange(len(truth)), best]).mean())


@dataclass
class ReplayResult:
    method: str
    regret_per_round: np.ndarray  # mean regret per decision in each round
    value_per_round: np.ndarray  # mean exact expected reward per decision in each round
    shares: dict[str, float]  # share of each treatment over the replay

    @property
    def cumulative_regret(self) -> float:
        """Mean regret per decision over the whole replay."""
        return float(self.regret_per_round.mean())


def replay(log: pd.DataFrame, method: str, rounds: int = 40, per_round: int = 500,
           epsilon: float = 0.1, seed: int = 0) -> ReplayResult:
    """Play `rounds` x `per_round` decisions drawn from a simulated campaign log."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    truth = log[[TRUTH_PREFIX + t for t in TREATMENTS]].to_numpy(dtype=float)
    logged = pd.Index(TREATMENTS).get_indexer(log["treatment"].astype(str))
    noise = np.array([np.std(log["reward"].to_numpy()[logged == j]
                             - truth[logged == j, j]) for j in range(len(TREATMENTS))])
    b = buckets(log)
    rng = np.random.default_rng(seed)
    stats = ArmStats()
    regret, value = np.zeros(rounds), np.zeros(rounds)
    counts = np.zeros(len(TREATMENTS))
    k = len(TREATMENTS)
    for r in range(rounds):
        rows = rng.integers(0, len(log), per_round)
        post = {bk: stats.posterior(bk, TREATMENTS) for bk in np.unique(b[rows])}
        mean = np.array([post[bk][0] for bk in b[rows]])
        sd = np.array([post[bk][1] for bk in b[rows]])
        if method == "uniform":
            arm = rng.integers(0, k, per_round)
        elif method == "epsilon":
            explore = rng.random(per_round) < epsilon
            arm = np.where(explore, rng.integers(0, k, per_round),
                           (mean + 1e-9 * rng.random(mean.shape)).argmax(axis=1))
        else:
            arm = (mean + sd * rng.standard_normal(mean.shape)).argmax(axis=1)
        t = truth[rows]
        got = t[np.arange(per_round), arm]
        regret[r], value[r] = (t.max(axis=1) - got).mean(), got.mean()
        reward = got + noise[arm] * rng.standard_normal(per_round)
        for j in range(k):
            for bk in np.unique(b[rows][arm == j]):
                sel = (arm == j) & (b[rows] == bk)
                stats.add(bk, TREATMENTS[j], reward[sel])
        counts += np.bincount(arm, minlength=k)
    return ReplayResult(method, regret, value,
                        {t: float(c / counts.sum()) for t, c in zip(TREATMENTS, counts,
                                                                     strict=True)})
