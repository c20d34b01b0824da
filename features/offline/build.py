"""Offline build: run the transforms over a dataset and write the offline store (Parquet)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from features.repo.data_sources import OfflinePaths
from features.sources.dataset import Dataset
from features.transforms import (
    ENTITY_TS,
    INT_FEATURES,
    ITEM_FEATURES,
    PRODUCT_FEATURES,
    PROFILE_FEATURES,
    activity_feature_names,
    customer_activity_rows,
    customer_items,
    customer_profile_rows,
    product_stats_rows,
)

BUILD_INFO = "build.json"


def feature_schema() -> str:
    """A fingerprint of the feature tables' columns and types as this code defines them: a
    build made by code with other features is stale (rebuilt, re-applied, re-materialized)."""
    import hashlib

    spec = [activity_feature_names(), list(ITEM_FEATURES), list(PROFILE_FEATURES),
            list(PRODUCT_FEATURES), sorted(INT_FEATURES)]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def _write(df: pd.DataFrame, path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(arrow_table(df), path)


def arrow_table(df: pd.DataFrame):
    """A feature table as Arrow: microsecond timestamps (what DuckDB, the offline engine, reads)
    and explicit list types (an all-empty list column would otherwise have no element type)."""
    import pyarrow as pa

    df = df.copy()
    df[ENTITY_TS] = pd.to_datetime(df[ENTITY_TS], utc=True).dt.as_unit("us")
    table = pa.Table.from_pandas(df, preserve_index=False)
    fields = []
    for f in table.schema:
        if f.name in ITEM_FEATURES:
            elem = pa.float32() if "hist" in f.name else pa.string()
            f = pa.field(f.name, pa.list_(elem))
        fields.append(f)
    return table.cast(pa.schema(fields))


@dataclass
class BuildReport:
    rows: dict[str, int]
    start: pd.Timestamp
    end: pd.Timestamp


def build_offline(ds: Dataset, paths: OfflinePaths,
                  progress: Callable[[str], None] | None = None) -> BuildReport:
    """Compute every feature table of `ds` and write them to `paths` (replacing older ones)."""
    say = progress or (lambda _m: None)
    paths.root.mkdir(parents=True, exist_ok=True)
    say("customer activity (a row per customer and event time)")
    activity = customer_activity_rows(ds.events)
    _write(activity, paths.activity)
    say("customer items (latest lists per customer)")
    items = customer_items(ds.events)
    _write(items, paths.items)
    say("customer profiles")
    profile = customer_profile_rows(ds.customers, ds.end, ds.start)
    _write(profile, paths.profile)
    say("product stats (a row per product and day)")
    products = product_stats_rows(ds.events, ds.products, ds.start, ds.end)
    _write(products, paths.products)
    rows = {"customer_activity": len(activity), "customer_items": len(items),
            "customer_profile": len(profile), "product_stats": len(products)}
    return write_build_info(paths, BuildReport(rows, ds.start, ds.end), ds.manifest)


def write_build_info(paths: OfflinePaths, report: BuildReport, manifest: dict) -> BuildReport:
    """Record a finished build (its rows, period and feature fingerprint) next to the tables."""
    (paths.root / BUILD_INFO).write_text(json.dumps(
        {"rows": report.rows, "start": str(report.start), "end": str(report.end),
         "dataset": manifest.get("source"), "features": feature_schema()}, indent=2))
    return report


def is_built(paths: OfflinePaths) -> bool:
    """Built, by code defining the same features (see `feature_schema`)."""
    info = paths.root / BUILD_INFO
    if not info.exists() or not all(
            p.exists() for p in (paths.activity, paths.items, paths.profile, paths.products)):
        return False
    try:
        return json.loads(info.read_text()).get("features") == feature_schema()
    except ValueError:  # unreadable: build again
        return False
