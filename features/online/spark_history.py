"""The live history seeded on Spark (`NBA_ENGINE=spark` with a Redis online store).

Seeding appends every event of the lookback window to the history store; from one process that
is the larger part of materialize at a million customers (about 38,000 events/s into Redis
here). On Spark each task appends the events of its splits of the log to Redis directly, with
the same filter (`store_ops.history_rows`) and the same writer (`RedisHistory.append`), so the
seeding scales with the executors. A SQLite history is one local file with one writer: it is
seeded from the driver (`store_ops.seed_history`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd

from features import schema as s
from features.settings import Settings


def _append_partition(settings: Settings, end: pd.Timestamp
                      ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The `mapInPandas` function: a split's events appended to the history, its count out."""

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from features.online.history import open_history
        from features.online.store_ops import history_rows
        from features.spark.io import as_utc

        history = open_history(settings)
        n = 0
        try:
            for frame in frames:
                n += history.append(history_rows(as_utc(frame, s.EVENT_TS), end))
        finally:
            history.close()
        yield pd.DataFrame({"n": [n]})

    return run


def seed_history_spark(settings: Settings, end: pd.Timestamp) -> int:
    """Replace the Redis live history with the events the live transforms need at `end`,
    appended by Spark tasks over the event log's splits. Returns the events appended."""
    from pyspark.sql import functions as F

    from features.online.history import open_history
    from features.spark.io import read_parquet
    from features.spark.session import spark_session

    if not settings.redis_online:
        raise ValueError("seeding on Spark needs a Redis online store (SQLite: one writer)")
    history = open_history(settings)
    try:
        history.clear()
    finally:
        history.close()
    events = read_parquet(spark_session(settings), settings.data_dir / s.EVENTS_FILE)
    counts = events.mapInPandas(_append_partition(settings, end), "n long")
    return int(counts.agg(F.sum("n")).collect()[0][0] or 0)
