"""Feast on Spark under the switch: the generated configuration, and materialize and training-set
retrieval through Feast's Spark compute engine and offline store giving the local results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from features.online.store import offline_paths, repo_config_dict
from features.settings import Settings


def test_local_engine_config_is_unchanged(tmp_path: Path) -> None:
    cfg = repo_config_dict(Settings.from_env(env={}, data_dir=tmp_path))
    assert cfg["offline_store"] == {"type": "duckdb"}
    assert "batch_engine" not in cfg
    assert not offline_paths(Settings.from_env(env={}, data_dir=tmp_path)).spark


def test_spark_engine_config_uses_feasts_spark_parts(tmp_path: Path) -> None:
    from feast import RepoConfig

    settings = Settings.from_env(env={"NBA_SPARK_MASTER": "spark://head:7077"},
                                 data_dir=tmp_path, engine="spark")
    cfg = repo_config_dict(settings)
    assert cfg["offline_store"]["type"] == "spark"
    assert cfg["batch_engine"]["type"] == "spark.engine"
    for part in (cfg["offline_store"], cfg["batch_engine"]):
        assert part["spark_conf"]["spark.master"] == "spark://head:7077"
        assert part["spark_conf"]["spark.sql.session.timeZone"] == "UTC"
    parsed = RepoConfig(repo_path=tmp_path, **cfg)  # Feast validates the keys
    assert type(parsed.offline_store).__name__ == "SparkOfflineStoreConfig"
    assert type(parsed.batch_engine).__name__ == "SparkComputeEngineConfig"
    assert offline_paths(settings).spark


@pytest.mark.slow
def test_materialize_and_training_sets_on_spark_equal_local(spark, tmp_path: Path) -> None:
    from features.online.store import open_store
    from features.simulation.behavior import SimConfig, simulate
    from features.sources.dataset import write_dataset
    from pipelines.feature_steps import (
        apply_step,
        build_step,
        materialize_online,
        materialize_start,
    )
    from training.datasets import training_frame

    ds = simulate(SimConfig(customers=120, days=45, products=30, seed=4))
    labels = pd.DataFrame({"customer_id": ds.customers["customer_id"].astype(str),
                           "event_timestamp": ds.end - pd.Timedelta(days=7)})
    rows = [{"customer_id": c, "request_ts": ds.end.timestamp()} for c in labels["customer_id"]]
    got = {}
    for engine in ("local", "spark"):
        settings = Settings.from_env(env={}, data_dir=tmp_path / engine, engine=engine)
        write_dataset(settings.data_dir, ds)
        build_step(replace(settings, engine="local"))
        apply_step(settings)
        materialize_online(settings, materialize_start(ds.customers, ds.start),
                           ds.end + pd.Timedelta(days=1))
        store = open_store(settings)
        service = store.get_feature_service("intent_v1")
        online = store.get_online_features(features=service, entity_rows=rows).to_df()
        got[engine] = (training_frame(store, "intent_v1", labels), online)
    for local, remote in zip(got["local"], got["spark"], strict=True):
        assert local["customer_id"].notna().all() and len(local) == len(labels)
        assert local.select_dtypes("number").notna().mean().mean() > 0.5  # features were found
        pd.testing.assert_frame_equal(
            local.sort_values("customer_id").reset_index(drop=True),
            remote.sort_values("customer_id").reset_index(drop=True), check_dtype=False)
