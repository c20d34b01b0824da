"""What a bandit learns from: the context bucket of a customer's features and the reward
statistics per (bucket, treatment) that `nba bandit update` computes from decision outcomes
(training/bandit.py) and Thompson sampling in the service draws from
(serving/policy/exploration.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

PRIOR_ROWS = 20.0  # pseudo-observations of the treatment's overall mean in every bucket
WEEK_HOURS, MONTH_HOURS = 7 * 24.0, 30 * 24.0


def _num(features: Mapping[str, object], name: str) -> float | None:
    v = features.get(name)
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def context_bucket(features: Mapping[str, object]) -> str:
    """The context a bandit learns per: open cart or not, site recency (7 / 30 days), email
    engagement (90-day open rate at least 20%). Twelve buckets: enough to differ, few enough to
    fill quickly."""
    cart = "cart" if (_num(features, "cart_open") or 0) >= 1 else "nocart"
    h = _num(features, "hours_since_last_site")
    recency = ("week" if h is not None and h <= WEEK_HOURS else
               "month" if h is not None and h <= MONTH_HOURS else "lapsed")
    opener = "opener" if (_num(features, "email_open_rate_90d") or 0) >= 0.2 else "quiet"
    return f"{cart}|{recency}|{opener}"


@dataclass
class ArmStats:
    """Sufficient statistics of rewards per (bucket, treatment): count, sum, sum of squares."""

    cells: dict[tuple[str, str], tuple[float, float, float]] = field(default_factory=dict)

    def add(self, bucket: str, arm: str, rewards: np.ndarray) -> None:
        n, s, q = self.cells.get((bucket, arm), (0.0, 0.0, 0.0))
        r = np.asarray(rewards, dtype=float)
        self.cells[(bucket, arm)] = (n + len(r), s + float(r.sum()), q + float((r ** 2).sum()))

    def _overall(self, arm: str) -> tuple[float, float, float]:
        tot = [c for (b, a), c in self.cells.items() if a == arm]
        return tuple(float(sum(x)) for x in zip(*tot, strict=True)) if tot else (0.0, 0.0, 0.0)

    def posterior(self, bucket: str, arms: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of each arm's mean reward in `bucket`: the
        arm's overall mean (worth `PRIOR_ROWS` rows) updated with the bucket's rows; the
        reward variance is the arm's own (all rewards' while the arm has fewer than 2)."""
        var_all = _variance(*[sum(c[i] for c in self.cells.values()) for i in range(3)])
        mean, sd = np.zeros(len(arms)), np.zeros(len(arms))
        for j, arm in enumerate(arms):
            n0, s0, q0 = self._overall(arm)
            prior = s0 / n0 if n0 else 0.0
            var = _variance(n0, s0, q0) if n0 >= 2 else var_all
            n, s, _ = self.cells.get((bucket, arm), (0.0, 0.0, 0.0))
            strength = PRIOR_ROWS if n0 else 1.0  # no data at all: a vague prior
            mean[j] = (strength * prior + s) / (strength + n)
            sd[j] = math.sqrt(var / (strength + n))
        return mean, sd

    def to_json(self) -> dict:
        return {"cells": [[b, a, *v] for (b, a), v in sorted(self.cells.items())]}

    @staticmethod
    def from_json(data: dict) -> ArmStats:
        return ArmStats({(b, a): (float(n), float(s), float(q))
                         for b, a, n, s, q in data.get("cells", [])})


def _variance(n: float, s: float, q: float) -> float:
    return max(q / n - (s / n) ** 2, 1e-9) if n > 1 else 1.0
