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
from features.simulation.chunked import write_simulated
from features.sources import dataset
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


def _builds_equal(settings: Settings, tmp_path: Path) -> None:
    """The Spark build of the dataset in `settings.data_dir` equals the pandas build."""
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


def test_spark_build_equals_the_pandas_build(spark, tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data", engine="spark")
    # a sign-up before the data starts and none at all: the profile's global floor matters
    ds = simulate(SimConfig(customers=300, days=75, products=60, seed=5))
    ds.customers.loc[0, "signup_ts"] = ds.start - pd.Timedelta(days=40)
    ds.customers.loc[1, "signup_ts"] = pd.NaT
    write_dataset(settings.data_dir, ds)
    _builds_equal(settings, tmp_path)


def test_spark_build_reads_a_chunked_dataset(spark, tmp_path: Path) -> None:
    """A world written in chunks (events merged from parts, several row groups) builds alike."""
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data", engine="spark")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dataset, "PART_ROWS", 1_000)
        manifest = write_simulated(settings.data_dir,
                                   SimConfig(customers=300, days=45, products=60, seed=8),
                                   chunk_customers=100)
    assert manifest["chunks"] == 3
    _builds_equal(settings, tmp_path)
