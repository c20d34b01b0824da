"""Feast on Spark (`NBA_ENGINE=spark`): the offline store and compute engine settings.

Keys as Feast 0.67 defines them (`SparkOfflineStoreConfig`, `SparkComputeEngineConfig`):
`offline_store: {type: spark, spark_conf}` serves training-set retrieval
(`get_historical_features`), `batch_engine: {type: spark.engine, partitions, spark_conf}`
runs `materialize`. Both build their session from `spark_conf`, so they share the one the
process already has (`features.spark.session`) and its master.
"""

from __future__ import annotations

from features.settings import Settings
from features.spark.session import local_cores


def spark_conf(settings: Settings) -> dict[str, str]:
    """The session settings Feast's Spark parts are given (strings, as in feature_store.yaml)."""
    conf = {
        "spark.master": settings.spark_master,
        "spark.app.name": "nba-feast",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    if settings.spark_master.startswith("local"):
        conf["spark.ui.enabled"] = "false"
    return conf


def spark_feast_config(settings: Settings) -> dict:
    """The `offline_store` and `batch_engine` sections of feature_store.yaml for Spark."""
    partitions = 2 * local_cores(settings.spark_master)
    return {
        "offline_store": {"type": "spark", "spark_conf": spark_conf(settings)},
        "batch_engine": {"type": "spark.engine", "partitions": partitions,
                         "spark_conf": spark_conf(settings)},
    }
