"""Exploration, with the probability of every treatment given logged so logs stay learnable.

- **epsilon-greedy** (`explore_method="epsilon"`): with probability `explore_share` a decision
  that has something to send about gets a treatment drawn uniformly from `explore_treatments`
  (sending nothing included); otherwise the greedy choice.
- **Thompson sampling** (`explore_method="thompson"`): per context bucket (open cart, site
  recency, email engagement) and treatment, a Gaussian posterior of the mean net value from
  past outcomes (`ArmStats`, made by `nba bandit update` from `nba outcomes`); each decision
  draws one value per treatment and takes the largest, so treatments are tried in proportion to
  the chance that they are best: uncertain arms get tried, clearly worse ones stop being sent.
  Its propensity is that chance (Monte Carlo, cached per bucket).

Draws are stable functions of the decision id (reproducible, and replay gives the same answer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from serving.policy.config import PolicyConfig
from training.arm_stats import ArmStats


def draws(decision_id: str) -> tuple[float, float]:
    """Two uniform numbers from a hex decision id (a uuid4 is random)."""
    h = decision_id.replace("-", "").ljust(16, "0")
    try:
        return int(h[:8], 16) / 2**32, int(h[8:16], 16) / 2**32
    except ValueError:  # a non-hex id: hash it
        d = hashlib.sha256(decision_id.encode()).hexdigest()
        return int(d[:8], 16) / 2**32, int(d[8:16], 16) / 2**32


def explored_treatment(decision_id: str, cfg: PolicyConfig) -> str | None:
    """Epsilon-greedy: the treatment to try instead of the greedy one, or None (exploit)."""
    if cfg.explore_share <= 0 or not cfg.explore_treatments:
        return None
    u, v = draws(decision_id)
    if u >= cfg.explore_share:
        return None
    arms = cfg.explore_treatments
    return arms[min(int(v * len(arms)), len(arms) - 1)]


def propensity(treatment: str, greedy: str, cfg: PolicyConfig,
               realized: Callable[[str], str] = lambda arm: arm) -> float:
    """Epsilon-greedy: probability that the policy gives `treatment` when its greedy choice is
    `greedy`; `realized(arm)` is what an explored arm really becomes (a discount the margin
    does not allow becomes a plain email)."""
    arms = cfg.explore_treatments
    eps = cfg.explore_share if arms else 0.0
    p = (1 - eps) * (treatment == greedy)
    if arms:
        p += eps * sum(realized(a) == treatment for a in arms) / len(arms)
    return p


# ------------------------------------------------------------------------- Thompson sampling
def _normals(decision_id: str, k: int) -> np.ndarray:
    """k standard normal numbers, a stable function of the decision id."""
    digest = hashlib.sha256(f"thompson:{decision_id}".encode()).digest()
    while len(digest) < 8 * k:
        digest += hashlib.sha256(digest).digest()
    u = (np.frombuffer(digest[: 8 * k], dtype=">u8").astype(np.float64) + 0.5) / 2.0**64
    from scipy.special import ndtri

    return ndtri(u)


class Thompson:
    """Thompson sampling over treatments with the current `ArmStats`."""

    def __init__(self, stats: ArmStats, arms: tuple[str, ...],
                 draws: int = PolicyConfig.propensity_draws) -> None:
        self.stats, self.arms, self.draws = stats, arms, draws
        self._propensity: dict[str, np.ndarray] = {}

    def choose(self, decision_id: str, bucket: str) -> tuple[str, float]:
        """The treatment whose draw is largest, and the probability of choosing it."""
        mean, sd = self.stats.posterior(bucket, self.arms)
        j = int(np.argmax(mean + sd * _normals(decision_id, len(self.arms))))
        return self.arms[j], float(self.probabilities(bucket)[j])

    def probabilities(self, bucket: str) -> np.ndarray:
        """P(each arm's draw is the largest) in `bucket` (Monte Carlo, cached)."""
        if bucket not in self._propensity:
            mean, sd = self.stats.posterior(bucket, self.arms)
            rng = np.random.default_rng(int.from_bytes(
                hashlib.sha256(bucket.encode()).digest()[:8], "big"))
            z = mean + sd * rng.standard_normal((self.draws, len(self.arms)))
            counts = np.bincount(z.argmax(axis=1), minlength=len(self.arms))
            # never exactly 0: a logged choice must keep a positive probability
            self._propensity[bucket] = np.maximum(counts, 0.5) / max(counts.sum(), 1)
        return self._propensity[bucket]
