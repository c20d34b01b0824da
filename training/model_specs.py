"""The models, one `ModelSpec` each: the single place to add a model or change its facts.

Light on purpose (stdlib only): trainers and evaluators are dotted paths imported on first use,
so the CLI, the API process and tests can read the list without loading LightGBM, MLflow or
Feast. Pickled model classes stay in their modules (MLflow stores them by import path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pkgutil import resolve_name
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """One model: its names, what it reads, how it is trained and how promotion judges it.

    `trainer`: "module:function". From the event dataset (`from_dataset`, `nba train`) it is
    called as `trainer(store, ds, horizons) -> TrainResult`; from a campaign log
    (`nba train-response`) as `trainer(df, log_spec, ...) -> (TrainResult, report)`.
    `evaluator`: "module:function", `evaluator(bundle, eval_frame) -> dict[str, float]` on the
    candidate's held-out rows; promotion compares its `gate_metric` entry (higher is better).
    """

    name: str
    registered: str  # MLflow registered model name
    feature_service: str | None  # Feast service the training frame reads (None: not Feast)
    gate_metric: str
    trainer: str
    evaluator: str
    from_dataset: bool = True  # False: trained from a campaign log

    def train_fn(self) -> Callable[..., Any]:
        return resolve_name(self.trainer)

    def evaluate_fn(self) -> Callable[..., dict[str, float]]:
        return resolve_name(self.evaluator)


SPECS: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("intent", "nba-intent", "intent_v1", "auc",
              "training.intent:train_intent", "training.binary:evaluate_binary"),
    ModelSpec("churn", "nba-churn", "churn_v1", "auc",
              "training.churn:train_churn", "training.binary:evaluate_binary"),
    ModelSpec("send_time", "nba-send-time", "send_time_v1", "hit_3h",
              "training.send_time:train_send_time", "training.send_time:evaluate_send_time"),
    # ALS reads raw interactions, not Feast features; recall at affinity.K = 10
    ModelSpec("affinity", "nba-affinity", None, "recall_at_10",
              "training.affinity:train_affinity", "training.affinity:evaluate_recommender"),
    ModelSpec("response", "nba-response", None, "snips_value",
              "training.policy_eval:train_response", "training.policy_eval:gate_metrics",
              from_dataset=False),
)}

# what `nba train` trains (and `nba promote` promotes) by default, in this order
DATASET_MODELS: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.from_dataset)
