"""The promotion gate, and MLflow tracking + registry on the machine's PostgreSQL."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from training.model_specs import SPECS
from training.promote import force_promote, promote
from training.result import TrainResult
from training.tracking import CHAMPION, configure, log_result

pytestmark = pytest.mark.slow  # every test uses the trained_world fixture


@dataclass
class Constant:
    """A model that gives every customer the same intent."""

    feature_names: list[str]

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        return np.full(len(df), 0.1)


def _constant_result(eval_frame: pd.DataFrame) -> TrainResult:
    return TrainResult(
        name="intent", model=Constant(["views_7d"]), primary_metric="test_auc",
        metrics={"test_auc": 0.5, "test_baseline_recency_frequency_auc": 0.7},
        eval_frame=eval_frame, input_example=eval_frame[["views_7d"]].head(3))


def test_gate(trained_world) -> None:
    settings, results = trained_world
    client = configure(settings)
    name = SPECS["intent"].registered
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # start from "no champion", whatever ran before
        client.delete_registered_model_alias(name, CHAMPION)
    first = promote(client, "intent")
    assert first.promoted and "no champion yet" in first.reason
    assert client.get_model_version_by_alias(name, CHAMPION).version == results["intent"].version
    again = promote(client, "intent")
    assert not again.promoted and "already the champion" in again.reason

    # A candidate that loses to its own baseline is refused, and the champion stays.
    from training.tracking import load_eval_frame

    frame = load_eval_frame(client, results["intent"].run_id)
    worse = log_result(_constant_result(frame), settings, {"data_dir": "test"})
    refused = promote(client, "intent")
    assert not refused.promoted and "does not beat its baselines" in refused.reason
    assert client.get_model_version_by_alias(name, CHAMPION).version == results["intent"].version

    # A retrained candidate equal to the champion does not replace it ...
    import joblib  # noqa: F401  (bundle pickling is exercised by log_result)

    from pipelines.train_steps import train_step

    retrained = train_step(settings, ["intent"])[0]
    assert int(retrained.version) > int(worse.version)
    same = promote(client, "intent")
    assert not same.promoted and "does not beat champion" in same.reason
    assert same.candidate_value == pytest.approx(same.champion_value)
    # ... unless forced by hand.
    forced = force_promote(client, "intent")
    assert forced.promoted
    assert client.get_model_version_by_alias(name, CHAMPION).version == retrained.version


def test_tracking_and_registry_on_postgres(trained_world, postgres_url, tmp_path) -> None:
    import psycopg

    settings, results = trained_world
    db = f"nba_mlflow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    try:
        from dataclasses import replace

        pg = replace(settings, mlflow_tracking_uri=postgres_url.rsplit("/", 1)[0] + "/" + db)
        pg = replace(pg, mlflow_tracking_uri=pg.mlflow_tracking_uri.replace(
            "postgresql://", "postgresql+psycopg://"))
        client = configure(pg)
        from training.tracking import load_eval_frame

        local = configure(settings)
        frame = load_eval_frame(local, results["intent"].run_id)
        client = configure(pg)
        result = _constant_result(frame)
        result.metrics = {"test_auc": 0.9, "test_baseline_recency_frequency_auc": 0.7}
        v = log_result(result, pg, {"data_dir": "pg-test"})
        assert client.get_run(v.run_id).data.metrics["test_auc"] == 0.9
        decision = promote(client, "intent")
        assert decision.promoted
        from training.pyfunc import load_bundle

        bundle = load_bundle(f"models:/{SPECS['intent'].registered}@{CHAMPION}")
        assert isinstance(bundle, Constant)
        registered = client.get_registered_model(SPECS["intent"].registered)
        assert registered.aliases[CHAMPION] == v.version
    finally:
        configure(settings)
        import mlflow

        mlflow.set_tracking_uri(settings.tracking_uri)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
