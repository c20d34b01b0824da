"""Spark I/O shared by the Spark jobs: Parquet as Spark reads it, timestamps back in pandas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def as_utc(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Spark hands timestamps to pandas as naive UTC: make them tz-aware, as the loaders do."""
    for c in cols:
        if c in frame.columns:
            frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def read_parquet(spark: SparkSession, path: Path) -> DataFrame:
    """A Parquet table as Spark reads it, nanosecond timestamps included: pandas writes those,
    Spark reads them only as longs (`nanosAsLong`), so they become microsecond timestamps (the
    precision the feature tables are written with)."""
    import pyarrow as pa
    import pyarrow.dataset as pads
    from pyspark.sql import functions as F

    arrow = pads.dataset(str(path), format="parquet").schema
    nanos = [f.name for f in arrow if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]
    df = spark.read.parquet(str(path))
    for c in nanos:
        df = df.withColumn(c, F.timestamp_micros(F.floor(F.col(c) / 1000).cast("long")))
    return df
