"""What a training function returns, before the command edge logs it to MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # matplotlib stays out of processes that only load models
    from matplotlib.figure import Figure


@dataclass
class TrainResult:
    name: str  # "intent", "churn", "send_time", "affinity"
    model: Any  # a bundle with `predict_frame(DataFrame)`
    primary_metric: str  # the test metric the promotion gate compares, e.g. "test_auc"
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)  # rows, snapshots, label rate, ...
    eval_frame: pd.DataFrame | None = None  # held-out rows the promotion gate re-scores
    input_example: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    scorer: str = "model"  # what the registered bundle scores with: the model or a baseline
    verdict: str = ""  # one line on model vs baselines (empty: computed from the metrics)

    @property
    def primary_value(self) -> float:
        return self.metrics[self.primary_metric]

    def baseline_metrics(self) -> dict[str, float]:
        """`test_baseline_<name>_<metric>` entries."""
        return {k: v for k, v in self.metrics.items() if k.startswith("test_baseline_")}

    def baseline_values(self) -> dict[str, float]:
        """Each baseline's value of the primary metric, by baseline name."""
        metric = "_" + self.primary_metric.removeprefix("test_")
        return {k.removeprefix("test_baseline_").removesuffix(metric): v
                for k, v in self.baseline_metrics().items()
                if k.endswith(metric) and not k.endswith("_pr" + metric)}

    def beats_baselines(self) -> tuple[bool, str]:
        """Whether the model beats every baseline on its primary metric, and why (not)."""
        metric = self.primary_metric.removeprefix("test_")
        if self.scorer != "model":
            return False, self.verdict
        if not self.baseline_metrics():
            return False, self.verdict or "no baselines measured on held-out rows"
        ours = self.primary_value
        worse = {k: v for k, v in self.baseline_metrics().items()
                 if k.endswith("_" + metric) and not k.endswith("_pr_" + metric)
                 and v >= ours}
        if worse:
            names = ", ".join(f"{k.removeprefix('test_baseline_')}={v:.4f}"
                              for k, v in worse.items())
            return False, f"{metric}={ours:.4f} does not beat {names}"
        return True, f"{metric}={ours:.4f} beats every baseline"
