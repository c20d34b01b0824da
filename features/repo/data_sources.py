"""Feast data sources: Parquet files of the offline build, push sources for live updates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from feast import FileSource, PushSource, RequestSource
from feast.field import Field
from feast.types import Float64

from features.transforms import ENTITY_TS, REQUEST_TS

ACTIVITY_PUSH = "customer_activity_push"
ITEMS_PUSH = "customer_items_push"


@dataclass(frozen=True)
class OfflinePaths:
    """Where the offline build writes each table (one Parquet file per feature view)."""

    root: Path
    spark: bool = False  # NBA_ENGINE=spark: Spark sources over the same files (docs/scale.md)

    @property
    def activity(self) -> Path:
        return self.root / "customer_activity.parquet"

    @property
    def items(self) -> Path:
        return self.root / "customer_items.parquet"

    @property
    def profile(self) -> Path:
        return self.root / "customer_profile.parquet"

    @property
    def products(self) -> Path:
        return self.root / "product_stats.parquet"


def _file(name: str, path: Path, spark: bool = False) -> FileSource:
    if spark:  # Feast's Spark offline store reads only its own source type
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import (
            SparkSource,
        )

        return SparkSource(name=name, path=str(path.resolve()), file_format="parquet",
                           timestamp_field=ENTITY_TS)
    return FileSource(name=name, path=str(path.resolve()), timestamp_field=ENTITY_TS)


def activity_source(paths: OfflinePaths) -> PushSource:
    return PushSource(name=ACTIVITY_PUSH, batch_source=_file("customer_activity_file",
                                                             paths.activity, paths.spark))


def items_source(paths: OfflinePaths) -> PushSource:
    return PushSource(name=ITEMS_PUSH, batch_source=_file("customer_items_file", paths.items,
                                                          paths.spark))


def profile_source(paths: OfflinePaths) -> FileSource:
    return _file("customer_profile_file", paths.profile, paths.spark)


def product_source(paths: OfflinePaths) -> FileSource:
    return _file("product_stats_file", paths.products, paths.spark)


def request_source() -> RequestSource:
    """The decision moment, epoch seconds, given with each request."""
    return RequestSource(name="decision_request", schema=[Field(name=REQUEST_TS, dtype=Float64)])
