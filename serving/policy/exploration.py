"""Exploration: with probability `explore_share` a decision that has something to send
about gets a treatment drawn uniformly from `explore_treatments` (sending nothing included),
and every decision records the probability of the treatment it got, so logs stay learnable
by off-policy methods. The draw is a stable function of the decision id (reproducible)."""

from __future__ import annotations

from collections.abc import Callable

from serving.policy.config import PolicyConfig


def draws(decision_id: str) -> tuple[float, float]:
    """Two uniform numbers from a hex decision id (a uuid4 is random)."""
    h = decision_id.replace("-", "").ljust(16, "0")
    try:
        return int(h[:8], 16) / 2**32, int(h[8:16], 16) / 2**32
    except ValueError:  # a non-hex id: hash it
        import hashlib

        d = hashlib.sha256(decision_id.encode()).hexdigest()
        return int(d[:8], 16) / 2**32, int(d[8:16], 16) / 2**32


def explored_treatment(decision_id: str, cfg: PolicyConfig) -> str | None:
    """The treatment to try instead of the greedy one, or None (exploit)."""
    if cfg.explore_share <= 0 or not cfg.explore_treatments:
        return None
    u, v = draws(decision_id)
    if u >= cfg.explore_share:
        return None
    arms = cfg.explore_treatments
    return arms[min(int(v * len(arms)), len(arms) - 1)]


def propensity(treatment: str, greedy: str, cfg: PolicyConfig,
               realized: Callable[[str], str] = lambda arm: arm) -> float:
    """Probability that the policy gives `treatment` when its greedy choice is `greedy`;
    `realized(arm)` is what an explored arm really becomes (a discount the margin does not
    allow becomes a plain email)."""
    arms = cfg.explore_treatments
    eps = cfg.explore_share if arms else 0.0
    p = (1 - eps) * (treatment == greedy)
    if arms:
        p += eps * sum(realized(a) == treatment for a in arms) / len(arms)
    return p
