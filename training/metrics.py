"""Evaluation metrics. Every ranking metric takes the same keywords (`recommended`, `relevant`,
`k`); hour metrics compare on the 24-hour circle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from training.ope import Estimate


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean prediction| over equal-count bins, weighted by bin size."""
    order = np.argsort(p)
    err = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            err += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return float(err / len(y))


def top_share_lift(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Positive rate among the top `share` by score over the overall rate (ties: stable)."""
    y = np.asarray(y, dtype=float)
    k = max(1, round(share * len(y)))
    top = np.argsort(-np.asarray(p, dtype=float), kind="stable")[:k]
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    both = 0 < y.mean() < 1
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "lift_top10": top_share_lift(y, p, 0.1),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "ece": expected_calibration_error(y, p),
        "positive_rate": float(y.mean()),
    }


def paired_auc_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray,
                          level: float = 0.95) -> Estimate:
    """AUC(a) - AUC(b) on the same rows with DeLong's variance for correlated AUCs (fast
    version of Sun & Xu 2014) and a normal interval."""
    from scipy.stats import norm, rankdata

    y = np.asarray(y).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    scores = np.vstack([np.asarray(a, float), np.asarray(b, float)])
    pos, neg = scores[:, y], scores[:, ~y]
    tx = np.vstack([rankdata(r) for r in pos])
    ty = np.vstack([rankdata(r) for r in neg])
    tz = np.vstack([rankdata(r) for r in np.hstack([pos, neg])])
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    cov = np.cov(v01) / m + np.cov(v10) / n
    diff = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
    z = float(norm.ppf(0.5 + level / 2))
    return Estimate(diff, diff - z * se, diff + z * se)


def hour_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(np.asarray(a) - np.asarray(b)) % 24
    return np.minimum(d, 24 - d)


def hit_within(predicted: np.ndarray, actual: np.ndarray, hours: int) -> float:
    """Share of predictions within `hours` of the actual hour (circular)."""
    return float((hour_distance(predicted, actual) <= hours).mean())


def hour_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    return {"hit_1h": hit_within(predicted, actual, 1), "hit_3h": hit_within(predicted, actual, 3),
            "exact_hour": hit_within(predicted, actual, 0)}


def recall_at_k(*, recommended: Sequence[Sequence[str]], relevant: Sequence[Mapping[str, float]],
                k: int) -> float:
    """Mean over customers of |top-k recommended that are relevant| / |relevant|."""
    vals = [len(set(r[:k]) & set(rel)) / len(rel) for r, rel in zip(recommended, relevant,
                                                                      strict=True) if rel]
    return float(np.mean(vals)) if vals else float("nan")


def ndcg_at_k(*, recommended: Sequence[Sequence[str]], relevant: Sequence[Mapping[str, float]],
              k: int) -> float:
    """Mean NDCG@k with graded relevance (the interaction weight of each relevant item)."""
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    vals = []
    for r, rel in zip(recommended, relevant, strict=True):
        if not rel:
            continue
        gains = np.array([rel.get(item, 0.0) for item in r[:k]])
        dcg = float((gains * disc[: len(gains)]).sum())
        ideal = np.sort(np.array(list(rel.values())))[::-1][:k]
        vals.append(dcg / float((ideal * disc[: len(ideal)]).sum()))
    return float(np.mean(vals)) if vals else float("nan")


def ranking_metrics(*, recommended: Sequence[Sequence[str]],
                    relevant: Sequence[Mapping[str, float]], k: int = 10) -> dict[str, float]:
    return {f"recall_at_{k}": recall_at_k(recommended=recommended, relevant=relevant, k=k),
            f"ndcg_at_{k}": ndcg_at_k(recommended=recommended, relevant=relevant, k=k)}
