"""Model scoring for decisions: champion models from the MLflow registry, numpy in, floats out."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from features.feature_rows import column
from serving.policy.inputs import Scores
from training.affinity import recent_items
from training.model_specs import SPECS

log = logging.getLogger(__name__)
CANDIDATES = 50  # affinity candidates handed to the policy


@dataclass
class Scorer:
    """Holds the champion bundles (any may be missing) and scores feature dicts."""

    bundles: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @classmethod
    def from_registry(cls, settings) -> Scorer:
        """Every model's champion (`training/model_specs.py`), those that load and fit."""
        from mlflow.exceptions import MlflowException

        from training.pyfunc import load_bundle
        from training.tracking import CHAMPION, configure
        from training.treatments import is_policy_vocabulary

        client = configure(settings)
        scorer = cls()
        for spec in SPECS.values():
            name, reg = spec.name, spec.registered
            try:
                mv = client.get_model_version_by_alias(reg, CHAMPION)
            except MlflowException:
                scorer.missing.append(name)
                continue
            bundle = load_bundle(f"models:/{reg}/{mv.version}",
                                 (mv.tags or {}).get("bundle_sha256"))
            # the response model only if the policy can act on its treatments (none, email,
            # email_<percent>); otherwise decisions use propensity alone
            if name == "response" and not is_policy_vocabulary(list(bundle.treatments)):
                log.warning("%s v%s: treatments %s are not none/email/email_<percent>; the "
                            "policy ignores it", reg, mv.version, bundle.treatments)
                scorer.missing.append(name)
                continue
            scorer.bundles[name] = bundle
            scorer.versions[name] = f"{reg}/{mv.version}"
        scorer._drop_incompatible()
        return scorer

    def _drop_incompatible(self) -> None:
        """A champion pickled by an older version of the code may lack what this version
        calls: score one empty row with each model and leave out (with a warning) any that
        fails, instead of failing every decision."""
        for name in list(self.bundles):
            try:
                self.score([{}], only=name)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
                log.warning("%s is not usable by this version of the code (%s: %s); deciding "
                            "without it: retrain and promote it", self.versions.get(name, name),
                            type(exc).__name__, exc)
                del self.bundles[name]
                self.versions.pop(name, None)
                self.missing.append(name)

    def compile(self) -> None:
        """Compile (or load) every booster now rather than in the first decision, when
        `training.lgbm_compiled` is enabled: one batch of empty rows through each model."""
        from training.lgbm_predict import FAST_ROWS

        if self.bundles:
            self.score([{}] * (FAST_ROWS + 1))

    def _matrix(self, name: str, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        """The model's features as a C-ordered float matrix (None: NaN), built a column at a
        time (from the rows' own columns when the online read gave them)."""
        cols = self.bundles[name].feature_names
        if not rows:
            return np.empty((0, len(cols)))
        return np.ascontiguousarray(np.array([column(rows, c) for c in cols],
                                             dtype=np.float64).T)

    def score(self, rows: Sequence[dict[str, Any]], only: str | None = None) -> list[Scores]:
        """Scores for many customers in one model call per model (`only`: just that model)."""
        n = len(rows)

        def use(name: str) -> bool:
            return name in self.bundles and only in (None, name)

        intent = churn = [None] * n
        if use("intent"):
            intent = self.bundles["intent"].predict_proba(self._matrix("intent", rows)).tolist()
        if use("churn"):
            churn = self.bundles["churn"].predict_proba(self._matrix("churn", rows)).tolist()
        hours: list[np.ndarray | None] = [None] * n
        if use("send_time"):
            m = self.bundles["send_time"]
            hist = np.array([_hist(r.get(m.source)) for r in rows])
            X = self._matrix("send_time", rows) if m.kind == "lightgbm" else None
            hours = list(m.hour_probs(hist, X))
        affinity: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        if use("affinity"):
            affinity = self.bundles["affinity"].recommend_for_items(
                [recent_items(r) for r in rows], CANDIDATES)
        response: list[dict[str, float] | None] = [None] * n
        choice: list[str | None] = [None] * n
        if use("response"):
            m = self.bundles["response"]
            mu = m.predict_outcomes(m.encoder.row_matrix(rows))
            response = [dict(zip(m.treatments, map(float, r), strict=True)) for r in mu]
            choice = [m.treatments[j] for j in m.choose_from(mu)]
        h_intent, h_churn = self.horizon_days("intent"), self.horizon_days("churn")
        base = self.customer_base(rows) if only is None else [(None, None)] * n
        return [Scores(intent[i], churn[i], hours[i], affinity[i], response[i], h_intent,
                       h_churn, choice[i], *base[i]) for i in range(n)]

    def customer_base(self, rows: Sequence[dict[str, Any]]
                      ) -> list[tuple[float | None, float | None]]:
        """(expected purchase days in 365 days, P(alive)) per row from the BG/NBD the intent
        (else churn) champion carries; None where there is none or no purchase yet."""
        from training.baselines import bgnbd_summary, on_buyers

        cb = next((b.customer_base for name in ("intent", "churn")
                   if (b := self.bundles.get(name)) is not None
                   and getattr(b, "customer_base", None) is not None), None)
        if cb is None or not rows:
            return [(None, None)] * len(rows)
        cols = ("purchase_days_total", "days_since_first_purchase", "hours_since_last_purchase")
        summary = bgnbd_summary({c: np.array(column(rows, c), dtype=np.float64) for c in cols})
        n12, alive = on_buyers(summary, partial(cb.expected_purchases, 365.0), cb.p_alive)
        return [(a if math.isfinite(a) else None, b if math.isfinite(b) else None)
                for a, b in zip(n12.tolist(), alive.tolist(), strict=True)]

    def horizon_days(self, name: str) -> float | None:
        """The label horizon of a binary model's score (None: no model, or an older bundle)."""
        days = getattr(self.bundles.get(name), "horizon_days", None)
        return float(days) if days is not None else None


def _hist(v: object) -> np.ndarray:
    if v is None:
        return np.zeros(24)
    a = np.asarray(v, dtype=float)
    return a if a.shape == (24,) else np.zeros(24)
