"""The offline build on Spark (`NBA_ENGINE=spark`): the same tables as `features.offline.build`,
from the same transform functions.

Nothing is re-written for Spark. Customers are hashed into buckets; each bucket's events go to
one `applyInPandas` call of the very function the local build runs (`customer_activity_rows`,
`customer_items`), which computes per customer and so gives each customer the rows it gives
them over the whole log. Products are bucketed the same way (`product_stats_rows` over a
cogroup of a bucket's products and their events); profiles are one `mapInPandas` pass over the
customers. The only global values (the data's start and end, the earliest sign-up) are plain
aggregates computed first and passed in, as the local build passes them.

The parts Spark writes are then streamed into the one Parquet file per table that the Feast
file sources read (constant memory), so everything downstream is unchanged.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features import schema as s
from features.offline.build import BuildReport, arrow_table, write_build_info
from features.repo.data_sources import OfflinePaths
from features.settings import Settings
from features.sources.dataset import read_manifest
from features.spark.io import as_utc, read_parquet
from features.spark.session import default_parallelism, spark_session
from features.transforms import (
    customer_activity_rows,
    customer_items,
    customer_profile_rows,
    product_stats_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BUCKET = "_bucket"
PARTS_DIR = "_spark_parts"
SAMPLE_CUSTOMERS = 200  # customers whose rows fix each output schema (run on the driver)
BUCKETS_PER_CORE = 4
# at most about this many events per bucket: a bucket's customers are built in one Python
# worker, about 2.9 KB per event at the peak (docs/scale.md), so about 1.5 GB per worker
BUCKET_EVENTS = 500_000


def bucket_count(parallelism: int, events: int) -> int:
    """Customer (and product) buckets: 4 per core, more when one would hold too many events."""
    return max(BUCKETS_PER_CORE * parallelism, -(-events // BUCKET_EVENTS))


def per_bucket(fn: Callable[[pd.DataFrame], pd.DataFrame]
               ) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """An `applyInPandas` function: one bucket's events in, `fn`'s feature rows out."""

    def run(events: pd.DataFrame) -> pd.DataFrame:
        return fn(as_utc(events.drop(columns=[BUCKET]), s.EVENT_TS, s.SIGNUP_TS))

    return run


def _spark_schema(frame: pd.DataFrame):
    """The Spark schema of a feature table, from the Arrow types the local build writes."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_table(frame).schema)


def _bucketed(df: DataFrame, key: str, n: int) -> DataFrame:
    from pyspark.sql import functions as F

    return df.withColumn(BUCKET, F.pmod(F.hash(F.col(key)), F.lit(n)))


def _manifest_period(data_dir: Path, events: DataFrame) -> tuple[pd.Timestamp, pd.Timestamp,
                                                                   dict]:
    """The data's start and end: from the manifest like `Dataset`, else a min/max aggregate."""
    from pyspark.sql import functions as F

    manifest = read_manifest(data_dir)
    if not (manifest.get("start") and manifest.get("end")):
        lo, hi = events.agg(F.min(s.EVENT_TS), F.max(s.EVENT_TS)).first()
        manifest = {**manifest, "start": manifest.get("start") or str(lo),
                    "end": manifest.get("end") or str(hi)}
    start, end = (pd.Timestamp(manifest[k]) for k in ("start", "end"))
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    return start, end, manifest


def _write_table(df: DataFrame, target: Path, parts: Path) -> int:
    """Write `df` as Spark parts, then stream them into the single file at `target`."""
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    df.write.mode("overwrite").parquet(str(parts))
    dataset = pads.dataset(str(parts), format="parquet")
    rows = 0
    tmp = target.with_suffix(".parquet.tmp")
    with pq.ParquetWriter(tmp, dataset.schema) as writer:
        for batch in dataset.to_batches():
            writer.write_batch(batch)
            rows += batch.num_rows
    tmp.replace(target)
    return rows


def build_offline_spark(settings: Settings, paths: OfflinePaths,
                        progress: Callable[[str], None] | None = None,
                        buckets: int | None = None) -> BuildReport:
    """Compute every feature table of the dataset in `settings.data_dir` on Spark and write them
    to `paths` (replacing older ones), as `features.offline.build.build_offline` does."""
    from pyspark.sql import functions as F

    say = progress or (lambda _m: None)
    spark: SparkSession = spark_session(settings)
    data = settings.data_dir
    events = read_parquet(spark, data / s.EVENTS_FILE)
    customers = read_parquet(spark, data / s.CUSTOMERS_FILE)
    products = read_parquet(spark, data / s.PRODUCTS_FILE)
    start, end, manifest = _manifest_period(data, events)
    n = buckets or bucket_count(default_parallelism(settings),
                                int(manifest.get("events") or events.count()))
    paths.root.mkdir(parents=True, exist_ok=True)
    parts = paths.root / PARTS_DIR

    # a few customers' rows through the local functions fix the output schemas
    sample_ids = [r[0] for r in customers.select(s.CUSTOMER_ID).limit(SAMPLE_CUSTOMERS)
                  .collect()]
    sample = as_utc(events.where(F.col(s.CUSTOMER_ID).isin(sample_ids)).toPandas(), s.EVENT_TS)
    by_customer = _bucketed(events, s.CUSTOMER_ID, n)
    rows: dict[str, int] = {}

    say("customer activity (a row per customer and event time)")
    schema = _spark_schema(customer_activity_rows(sample))
    activity = by_customer.groupBy(BUCKET).applyInPandas(per_bucket(customer_activity_rows),
                                                         schema)
    rows["customer_activity"] = _write_table(activity, paths.activity, parts / "activity")

    say("customer items (latest lists per customer)")
    schema = _spark_schema(customer_items(sample))
    items = by_customer.groupBy(BUCKET).applyInPandas(per_bucket(customer_items), schema)
    rows["customer_items"] = _write_table(items, paths.items, parts / "items")

    say("customer profiles")
    first_signup = customers.agg(F.min(s.SIGNUP_TS)).first()[0]
    # the local build's first valid time is min(earliest sign-up, start): passed in as `start`
    floor = min(start, pd.Timestamp(first_signup, tz="UTC")) if first_signup else start
    profile_fn = _profiles(end, floor)
    local_customers = as_utc(customers.limit(SAMPLE_CUSTOMERS).toPandas(), s.SIGNUP_TS)
    schema = _spark_schema(customer_profile_rows(local_customers, end, floor))
    profile = customers.mapInPandas(profile_fn, schema)
    rows["customer_profile"] = _write_table(profile, paths.profile, parts / "profile")

    say("product stats (a row per product and day)")
    product_events = events.where(F.col(s.PRODUCT_ID).isNotNull()).select(
        s.PRODUCT_ID, s.EVENT_TYPE, s.EVENT_TS)
    local_products = products.limit(5).toPandas()
    schema = _spark_schema(product_stats_rows(sample.iloc[:0], local_products, start, end))
    stats = (_bucketed(products, s.PRODUCT_ID, n).groupBy(BUCKET)
             .cogroup(_bucketed(product_events, s.PRODUCT_ID, n).groupBy(BUCKET))
             .applyInPandas(_product_bucket(start, end), schema))
    rows["product_stats"] = _write_table(stats, paths.products, parts / "products")

    shutil.rmtree(parts, ignore_errors=True)
    return write_build_info(paths, BuildReport(rows, start, end), manifest)


def _profiles(as_of: pd.Timestamp, start: pd.Timestamp
              ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            yield customer_profile_rows(as_utc(frame, s.SIGNUP_TS), as_of, start)

    return run


def _product_bucket(start: pd.Timestamp, end: pd.Timestamp
                    ) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    def run(products: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
        if events.empty:  # a bucket of products nobody touched (its frame may lack columns)
            events = pd.DataFrame({c: pd.Series(dtype=object)
                                   for c in (s.PRODUCT_ID, s.EVENT_TYPE)})
            events[s.EVENT_TS] = pd.Series(dtype="datetime64[us, UTC]")
        events = as_utc(events.drop(columns=[BUCKET], errors="ignore"), s.EVENT_TS)
        if products.empty:  # events of products missing from the catalog: no rows, as locally
            return product_stats_rows(events, pd.DataFrame(
                {c: [] for c in (s.PRODUCT_ID, s.PRICE, s.MARGIN, s.IN_STOCK)}), start, end)
        return product_stats_rows(events, products.drop(columns=[BUCKET]), start, end)

    return run
