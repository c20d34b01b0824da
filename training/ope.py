"""Off-policy evaluation on logged decisions: IPS, self-normalized IPS and doubly robust
estimates with bootstrap confidence intervals, and Qini / AUUC for uplift rankings.

A target policy is a matrix `pi[i, k]`: the probability it gives treatment k to row i (one-hot
for a deterministic policy). Rows carry the logged treatment index, the logging propensity of
that treatment and the observed reward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ESTIMATORS = ("ips", "snips", "dr")


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def one_hot(choice: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(choice), k))
    out[np.arange(len(choice)), choice] = 1.0
    return out


def evaluate(pi: np.ndarray, logged: np.ndarray, propensity: np.ndarray, reward: np.ndarray,
             mu: np.ndarray | None = None, groups: np.ndarray | None = None, n_boot: int = 400,
             level: float = 0.95, seed: int = 0) -> dict[str, Estimate]:
    """IPS, SNIPS and (when reward predictions `mu[i, k]` are given) DR estimates of the mean
    reward per row under `pi`, each with a percentile bootstrap interval. With `groups` (e.g.
    customer ids) whole groups are resampled, since rows of one customer are correlated."""
    n = len(reward)
    if n == 0:
        raise ValueError("no rows to evaluate")
    rows = np.arange(n)
    w = pi[rows, logged] / propensity
    terms = np.column_stack([np.ones(n), w, w * reward,
                             (pi * mu).sum(axis=1) + w * (reward - mu[rows, logged])
                             if mu is not None else np.zeros(n)])
    # per-group sums: the bootstrap draws groups and adds their sums
    codes = np.unique(groups, return_inverse=True)[1] if groups is not None else rows
    sums = np.zeros((codes.max() + 1, terms.shape[1]))
    np.add.at(sums, codes, terms)

    def point(s: np.ndarray) -> np.ndarray:  # [.., 4] sums -> ips, snips, dr
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.stack([s[..., 2] / s[..., 0], s[..., 2] / s[..., 1],
                             s[..., 3] / s[..., 0]], axis=-1)

    est = point(terms.sum(axis=0))
    rng = np.random.default_rng(seed)
    g = len(sums)
    boot = np.empty((n_boot, 3))
    for start in range(0, n_boot, 50):  # chunks keep memory small on big logs
        k = min(50, n_boot - start)
        pick = rng.integers(0, g, (k, g))
        boot[start:start + k] = point(sums[pick].sum(axis=1))
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
    out = {}
    for j, name in enumerate(ESTIMATORS):
        if mu is None and name == "dr":
            continue
        out[name] = Estimate(float(est[j]), float(lo[j]), float(hi[j]))
    return out


@dataclass(frozen=True)
class UpliftCurve:
    fraction: np.ndarray  # share of rows targeted, best-ranked first
    qini: np.ndarray  # incremental outcomes (treated minus scaled control) among them
    qini_coefficient: float  # area between the Qini curve and random targeting, per row
    auuc: float  # mean uplift per row over the curve (area under the uplift curve)


def uplift_curve(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray,
                 weight: np.ndarray | None = None) -> UpliftCurve:
    """Qini curve of an uplift ranking on rows that got the treatment or the control;
    `weight` (1/propensity) corrects for propensities that vary by row."""
    w = np.ones(len(score)) if weight is None else np.asarray(weight, dtype=float)
    order = np.argsort(-score, kind="stable")
    t, y, w = treated[order].astype(bool), outcome[order].astype(float), w[order]
    n_t, n_c = np.cumsum(w * t), np.cumsum(w * ~t)
    y_t, y_c = np.cumsum(w * y * t), np.cumsum(w * y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        qini = y_t - np.where(n_c > 0, y_c * n_t / n_c, 0.0)
        uplift = np.where((n_t > 0) & (n_c > 0), y_t / n_t - y_c / n_c, 0.0)
    frac = np.arange(1, len(t) + 1) / len(t)
    total = w.sum()
    qini = qini / total  # per row of the population, so curves of different sizes compare
    random_line = frac * qini[-1]
    return UpliftCurve(
        fraction=np.r_[0.0, frac], qini=np.r_[0.0, qini],
        qini_coefficient=float(np.trapezoid(qini - random_line, frac)),
        auuc=float(uplift.mean()),
    )
