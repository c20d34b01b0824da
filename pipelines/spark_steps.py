"""Bulk steps on Spark (`NBA_ENGINE=spark`, docs/scale.md): campaign scoring in partitions.

Each Spark task decides its partition of customers with the API's own `DecisionEngine` (one per
Python worker, loaded once and reused across tasks), through the same code as the local
`nba batch-score` (`serve_steps.decide_frame`): only the distribution differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd

from features.settings import Settings
from pipelines.console import UserError
from pipelines.serve_steps import DECISION_COLUMNS

# decisions_frame's columns as Spark types (the Parquet schema of a Spark batch score)
DECISION_SCHEMA = ", ".join(f"{c} {t}" for c, t in DECISION_COLUMNS.items())
_FLOATS = ("offer_value", "intent", "churn", "best_hour_utc")


def typed_decisions(frame: pd.DataFrame) -> pd.DataFrame:
    """`decisions_frame` output with fixed dtypes (an all-None column would be `object`)."""
    frame = frame.copy()
    for c in _FLOATS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    frame["send_at"] = pd.to_datetime(frame["send_at"], utc=True)
    for c in ("control_group", "degraded"):
        frame[c] = frame[c].astype(bool)
    return frame


def decide_partition(settings: Settings, moment: datetime, chunk: int,
                     compile_new: bool = False
                     ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The `mapInPandas` function: frames of `customer_id` in, decision rows out (each Python
    worker's engine as a batch worker's: `serve_steps._start_worker`)."""

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pipelines import serve_steps

        if serve_steps._ENGINE is None:  # one engine per Python worker (reused across tasks)
            serve_steps._start_worker(settings, freeze=False, compile_new=compile_new)
        for frame in frames:
            ids = frame["customer_id"].astype(str).tolist()
            for i in range(0, len(ids), chunk):
                yield typed_decisions(serve_steps.decide_frame(ids[i:i + chunk], moment))

    return run


def spark_batch_score_step(settings: Settings, out: Path, now: pd.Timestamp | None = None,
                           partitions: int | None = None) -> pd.Series:
    """Decide for every customer on Spark and write the decisions as Parquet (a directory of
    parts, one per partition) at `out`. Returns the number of decisions per action."""
    if out.suffix.lower() == ".csv":
        raise UserError(f"--engine spark writes Parquet (a directory of parts): {out} names a "
                        "CSV file; give a .parquet path")
    from features.spark.session import default_parallelism, spark_session
    from pipelines.serve_steps import CHUNK, COMPILE_MIN_DECISIONS, campaign

    customers, moment = campaign(settings, now)
    spark = spark_session(settings)
    n = partitions or default_parallelism(settings)
    ids = spark.createDataFrame(customers[["customer_id"]].astype(str)).repartition(n)
    run = decide_partition(settings, moment, CHUNK,
                           compile_new=len(customers) >= COMPILE_MIN_DECISIONS)
    decided = ids.mapInPandas(run, DECISION_SCHEMA)
    decided.write.mode("overwrite").parquet(str(out))
    counts = spark.read.parquet(str(out)).groupBy("action").count().toPandas()
    return counts.set_index("action")["count"].sort_values(ascending=False)
