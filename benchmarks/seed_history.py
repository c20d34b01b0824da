"""Live-history seeding (the second half of `nba features materialize`): events/s per engine.

Seeds the history of an existing dataset (`--data`, e.g. one `nba simulate` wrote) into
`--online-store` from the driver (local: the log read in batches, `seed_history`) and, with a
Redis store, from Spark tasks (`seed_history_spark` on `NBA_SPARK_MASTER`, default `local[2]`);
each engine's keys are deleted after it. Prints the events appended, seconds, events/s and
per-core rate, and the driver's peak memory.

Run: python benchmarks/seed_history.py --data DIR [--online-store redis://127.0.0.1:6379/5]
     [--engines local,spark]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, header, peak_rss_mb
from features.settings import Settings, is_redis_url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--online-store", default="redis://127.0.0.1:6379/5")
    ap.add_argument("--engines", default="local,spark")
    args = ap.parse_args()
    from features.online.history import open_history
    from features.online.store_ops import seed_history
    from features.sources.dataset import iter_events, read_period
    from pipelines.console import quiet_libraries

    quiet_libraries()
    if not is_redis_url(args.online_store):
        ap.error("--online-store: a Redis URL (a SQLite history is the dataset's own file, "
                 "which this benchmark would overwrite)")
    header("live-history seeding per engine")
    end = read_period(args.data)[1]
    for engine in [e.strip() for e in args.engines.split(",")]:
        settings = Settings.from_env(env={}, data_dir=args.data, engine=engine,
                                     online_store=args.online_store,
                                     feast_project=f"seed{uuid.uuid4().hex[:8]}")
        cores = 1
        t = time.perf_counter()
        if engine == "spark":
            from features.online.spark_history import seed_history_spark
            from features.spark.session import local_cores, spark_session

            spark_session(settings)  # started before the clock: its start-up is not seeding
            cores = local_cores(settings.spark_master)
            t = time.perf_counter()
            n = seed_history_spark(settings, end)
        else:
            n = seed_history(settings, iter_events(args.data), end)
        secs = time.perf_counter() - t
        figure(f"{engine}: events appended", n, "events")
        figure(f"{engine}: seconds", secs, "s")
        figure(f"{engine}: rate", n / secs, "events/s")
        figure(f"{engine}: rate per core", n / secs / cores, "events/s")
        history = open_history(settings)
        history.clear()
        history.close()
    print(f"peak memory of the driver process: {peak_rss_mb():,.0f} MiB")


if __name__ == "__main__":
    main()
