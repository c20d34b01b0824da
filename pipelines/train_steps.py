"""Pipeline steps for models: train (and log to MLflow), promote."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from features.dataset import read_dataset
from features.settings import Settings
from features.store import open_store
from pipelines.console import UserError, stage, step
from pipelines.feature_steps import ensure_features

MODEL_NAMES = ("intent", "churn", "send_time", "affinity")


def _trainers() -> dict[str, Callable]:
    from training.affinity import train_affinity
    from training.churn import train_churn
    from training.intent import train_intent
    from training.send_time import train_send_time

    return {"intent": train_intent, "churn": train_churn, "send_time": train_send_time,
            "affinity": train_affinity}


def parse_models(text: str | None) -> list[str]:
    if not text:
        return list(MODEL_NAMES)
    names = [m.strip().replace("-", "_") for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODEL_NAMES]
    if unknown:
        raise UserError(f"unknown model(s) {', '.join(unknown)}; choose from "
                        f"{', '.join(MODEL_NAMES)}")
    return names


@dataclass
class Trained:
    name: str
    version: str
    run_id: str
    primary_metric: str
    value: float
    baselines: dict[str, float]
    beats_baselines: bool
    verdict: str
    warnings: list[str]


def train_step(settings: Settings, models: list[str]) -> list[Trained]:
    """Train, evaluate against baselines and register each model (features built if missing)."""
    from training.splits import SplitError
    from training.tracking import configure, log_result

    ensure_features(settings)
    ds = read_dataset(settings.data_dir, with_truth=True)
    store = open_store(settings)
    configure(settings)
    tags = {"data_dir": str(settings.data_dir.resolve()),
            "data_source": str(ds.manifest.get("source", "?")),
            "data_end": str(ds.end)}
    out = []
    trainers = _trainers()
    for name in models:
        with stage(f"training {name}"):
            try:
                result = trainers[name](store, ds)
            except SplitError as exc:
                raise UserError(f"{name}: {exc}") from None
            for w in result.warnings:
                step(f"warning: {w}")
            version = log_result(result, settings, tags)
        ok, why = result.beats_baselines()
        metric = result.primary_metric.removeprefix("test_")
        out.append(Trained(name, version.version, version.run_id, result.primary_metric,
                           result.primary_value,
                           {k.removeprefix("test_baseline_").removesuffix("_" + metric): v
                            for k, v in result.baseline_metrics().items()
                            if k.endswith("_" + metric)}, ok, why, result.warnings))
    return out


def promote_step(settings: Settings, models: list[str], force: bool = False,
                 min_delta: float = 0.0):
    from training.promote import force_promote, promote
    from training.tracking import configure

    client = configure(settings)
    return [force_promote(client, m) if force else promote(client, m, min_delta)
            for m in models]
