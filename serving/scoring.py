"""Model scoring for decisions: champion models from the MLflow registry, numpy in, floats out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving.policy.inputs import Scores

MODELS = ("intent", "churn", "send_time", "affinity")
CANDIDATES = 50  # affinity candidates handed to the policy
ITEM_WEIGHTS = {"recent_views": 1.0, "cart_products": 3.0, "recent_purchases": 5.0}


@dataclass
class Scorer:
    """Holds the champion bundles (any may be missing) and scores feature dicts."""

    bundles: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @classmethod
    def from_registry(cls, settings) -> Scorer:
        from mlflow.exceptions import MlflowException

        from training.pyfunc import load_bundle
        from training.tracking import CHAMPION, REGISTERED, configure

        client = configure(settings)
        scorer = cls()
        for name in MODELS:
            reg = REGISTERED[name]
            try:
                mv = client.get_model_version_by_alias(reg, CHAMPION)
            except MlflowException:
                scorer.missing.append(name)
                continue
            scorer.bundles[name] = load_bundle(f"models:/{reg}/{mv.version}")
            scorer.versions[name] = f"{reg}/{mv.version}"
        return scorer

    def _matrix(self, name: str, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        cols = self.bundles[name].feature_names
        return np.array([[np.nan if (v := r.get(c)) is None else v for c in cols] for r in rows],
                        dtype=np.float64)

    def score(self, rows: Sequence[dict[str, Any]]) -> list[Scores]:
        """Scores for many customers in one model call per model."""
        n = len(rows)
        intent = churn = [None] * n
        if "intent" in self.bundles:
            intent = self.bundles["intent"].predict_proba(self._matrix("intent", rows)).tolist()
        if "churn" in self.bundles:
            churn = self.bundles["churn"].predict_proba(self._matrix("churn", rows)).tolist()
        hours: list[np.ndarray | None] = [None] * n
        if "send_time" in self.bundles:
            m = self.bundles["send_time"]
            hist = np.array([_hist(r.get(m.source)) for r in rows])
            X = self._matrix("send_time", rows) if m.kind == "lightgbm" else None
            hours = list(m.hour_probs(hist, X))
        affinity: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        if "affinity" in self.bundles:
            affinity = self.bundles["affinity"].recommend_for_items(
                [recent_items(r) for r in rows], CANDIDATES)
        return [Scores(intent[i], churn[i], hours[i], affinity[i]) for i in range(n)]


def recent_items(row: dict[str, Any]) -> dict[str, float]:
    """A customer's recent products weighted like training (view 1, cart 3, purchase 5)."""
    items: dict[str, float] = {}
    for name, w in ITEM_WEIGHTS.items():
        for pid in row.get(name) or []:
            items[str(pid)] = items.get(str(pid), 0.0) + w
    return items


def _hist(v: object) -> np.ndarray:
    if v is None:
        return np.zeros(24)
    a = np.asarray(v, dtype=float)
    return a if a.shape == (24,) else np.zeros(24)
