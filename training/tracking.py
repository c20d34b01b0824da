"""MLflow at the command edge: experiments, runs with metrics/plots/data, registry aliases."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.settings import Settings
from training.model_specs import SPECS
from training.pyfunc import BUNDLE, HASH_TAG, BundleModel, file_sha256
from training.result import TrainResult

CHAMPION = "champion"
EVAL_ARTIFACT = "eval/test.parquet"
PIP_REQUIREMENTS = ["lightgbm>=4.7", "scikit-learn>=1.9", "implicit>=0.7.3", "numpy",
                    "pandas>=2.3", "joblib", "scipy", "matplotlib", "pyarrow"]
ROOT = Path(__file__).resolve().parents[1]
# the packages a pickled bundle's classes live in: logged with the model so it loads anywhere
CODE_PATHS = [str(ROOT / "training"), str(ROOT / "features")]


def configure(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured tracking/registry store (local SQLite by default)."""
    if not settings.mlflow_tracking_uri:
        (settings.data_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri, settings.tracking_uri)


def experiment_id(settings: Settings, model: str) -> str:
    name = f"nba-{model.replace('_', '-')}"
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if settings.tracking_uri.startswith(("sqlite", "postgresql")):
        location = (settings.artifact_root / name).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def _flat(d: dict[str, Any]) -> dict[str, str]:
    return {k: str(v)[:500] for k, v in d.items()}


def log_result(result: TrainResult, settings: Settings, data_tags: dict[str, str]) -> ModelVersion:
    """Log params, metrics, dataset, plots and the model; register it; return the version."""
    import matplotlib.pyplot as plt  # here, not at the top: the API loads this module too

    client = configure(settings)
    ok, why = result.beats_baselines()
    with mlflow.start_run(experiment_id=experiment_id(settings, result.name),
                          run_name=f"{result.name}-{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}",
                          tags={**data_tags, "beats_baselines": str(ok), "verdict": why,
                                "scorer": result.scorer}) as run:
        mlflow.log_params(_flat(result.params))
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items() if np.isfinite(v)})
        mlflow.log_dict(result.dataset, "dataset.json")
        if result.warnings:
            mlflow.log_dict({"warnings": result.warnings}, "warnings.json")
        for fname, fig in result.figures.items():
            mlflow.log_figure(fig, f"plots/{fname}")
            plt.close(fig)
        with tempfile.TemporaryDirectory() as tmp:
            if result.eval_frame is not None:
                path = Path(tmp) / "test.parquet"
                result.eval_frame.to_parquet(path, index=False)
                mlflow.log_artifact(str(path), "eval")
                mlflow.log_input(mlflow.data.from_pandas(
                    result.eval_frame, name=f"{result.name}-test",
                    source=data_tags.get("data_dir", "dataset")), context="test")
            bundle = Path(tmp) / "bundle.joblib"
            joblib.dump(result.model, bundle)
            digest = file_sha256(bundle)
            example = result.input_example
            output = result.model.predict_frame(example) if example is not None else None
            info = mlflow.pyfunc.log_model(
                name="model", python_model=BundleModel(), artifacts={BUNDLE: str(bundle)},
                signature=infer_signature(example, output) if example is not None else None,
                input_example=example, pip_requirements=PIP_REQUIREMENTS,
                code_paths=CODE_PATHS,
            )
        version = mlflow.register_model(info.model_uri, SPECS[result.name].registered)
        client.set_model_version_tag(version.name, version.version, "run_id", run.info.run_id)
        client.set_model_version_tag(version.name, version.version, "primary_metric",
                                     f"{result.primary_metric}={result.primary_value:.6f}")
        client.set_model_version_tag(version.name, version.version, "scorer", result.scorer)
        client.set_model_version_tag(version.name, version.version, HASH_TAG, digest)
        if result.verdict or ok:
            client.update_model_version(version.name, version.version, description=(
                f"{result.name}: {result.dataset.get('label', '')}. {why}")[:5000])
    return version


def load_eval_frame(client: MlflowClient, run_id: str) -> pd.DataFrame | None:
    try:
        local = client.download_artifacts(run_id, EVAL_ARTIFACT)
    except Exception:
        return None
    return pd.read_parquet(local)


def run_summary(client: MlflowClient, run_id: str) -> dict[str, Any]:
    run = client.get_run(run_id)
    return {"metrics": run.data.metrics, "tags": run.data.tags,
            "dataset": json.loads(Path(client.download_artifacts(run_id, "dataset.json"))
                                  .read_text())}
