"""The offline build on Spark writes the tables the pandas build writes (same functions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.offline.build import build_offline
from features.offline.spark_build import build_offline_spark
from features.repo.data_sources import OfflinePaths
from features.settings import Settings
from features.simulation.behavior import SimConfig, simulate
from features.sources.dataset import read_dataset, write_dataset

pytestmark = pytest.mark.slow  # Spark jobs (about a minute on two busy cores)

TABLES = {"activity": ("customer_id",), "items": ("customer_id",),
          "profile": ("customer_id",), "products": ("product_id",)}


def _same(local: pd.DataFrame, remote: pd.DataFrame, key: list[str]) -> None:
    assert list(local.columns) == list(remote.columns)
    local = local.sort_values(key).reset_index(drop=True)
    remote = remote.sort_values(key).reset_index(drop=True)
    assert len(local) == len(remote)
    for c in local.columns:
        a, b = local[c], remote[c]
        if a.dtype == object:  # lists (ids, hour histograms) and strings
            assert [np.asarray(x).tolist() for x in a] == [np.asarray(x).tolist() for x in b], c
        else:
            pd.testing.assert_series_equal(a, b, check_names=False, rtol=1e-9)


def test_spark_build_equals_the_pandas_build(spark, tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data", engine="spark")
    # a sign-up before the data starts and none at all: the profile's global floor matters
    ds = simulate(SimConfig(customers=300, days=75, products=60, seed=5))
    ds.customers.loc[0, "signup_ts"] = ds.start - pd.Timedelta(days=40)
    ds.customers.loc[1, "signup_ts"] = pd.NaT
    write_dataset(settings.data_dir, ds)
    local = build_offline(read_dataset(settings.data_dir, with_truth=False),
                          OfflinePaths(tmp_path / "local"))
    remote = build_offline_spark(settings, OfflinePaths(tmp_path / "spark"), buckets=5)

    assert remote.rows == local.rows
    assert (remote.start, remote.end) == (local.start, local.end)
    for table, key in TABLES.items():
        a = pd.read_parquet(getattr(OfflinePaths(tmp_path / "local"), table))
        b = pd.read_parquet(getattr(OfflinePaths(tmp_path / "spark"), table))
        _same(a, b, [*key, "event_timestamp"])
    assert not (tmp_path / "spark" / "_spark_parts").exists()
