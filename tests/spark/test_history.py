"""The live history seeded on Spark (Redis) holds exactly what the local seeding writes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from features import schema as s
from features.settings import Settings


@pytest.mark.slow
def test_history_seeded_on_spark_equals_the_local_seeding(spark, redis_url: str,
                                                          tmp_path: Path) -> None:
    from features.online.history import open_history
    from features.online.spark_history import seed_history_spark
    from features.online.store_ops import seed_history
    from features.simulation.behavior import SimConfig, simulate
    from features.sources.dataset import iter_events, write_dataset
    from features.transforms import LOOKBACK_DAYS

    ds = simulate(SimConfig(customers=150, days=40, products=30, seed=9))
    end = ds.end + pd.Timedelta(days=LOOKBACK_DAYS - 20)  # older events fall out; sticky stay
    seeded, counts = {}, {}
    for engine in ("local", "spark"):
        settings = Settings.from_env(env={}, data_dir=tmp_path / engine, engine=engine,
                                     online_store=redis_url,
                                     feast_project=f"t{uuid.uuid4().hex[:10]}")
        write_dataset(settings.data_dir, ds)
        counts[engine] = (seed_history_spark(settings, end) if engine == "spark" else
                          seed_history(settings, iter_events(settings.data_dir), end))
        history = open_history(settings)
        try:
            seeded[engine] = history.recent(ds.customers[s.CUSTOMER_ID]).sort_values(
                s.EVENT_ID, ignore_index=True)
        finally:
            history.clear()
            history.close()
    assert 0 < counts["spark"] == counts["local"] == len(seeded["local"]) < len(ds.events)
    pd.testing.assert_frame_equal(seeded["spark"], seeded["local"])
