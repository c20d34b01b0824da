"""`nba train --sample SHARE`: a stable hashed share of the customers, read as a sample (events
filtered while read), trained on, and logged to MLflow."""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from features import schema as s
from features.settings import Settings
from features.simulation.behavior import SimConfig, simulate
from features.sources.dataset import read_dataset, write_dataset
from training.datasets import in_sample

IDS = [f"c{i:06d}" for i in range(20_000)]


def test_the_sample_is_stable_nested_and_about_the_share() -> None:
    """The same customers whatever the order, run or machine (a fixed hash, pinned here), about
    `share` of them, and a smaller share's customers within a larger one's."""
    first = [c for c, k in zip(IDS[:40], in_sample(IDS[:40], 0.25), strict=True) if k]
    assert first == ["c000003", "c000008", "c000009", "c000012", "c000015", "c000025"]
    tenth = dict(zip(IDS, in_sample(IDS, 0.1), strict=True))
    assert abs(sum(tenth.values()) / len(IDS) - 0.1) < 0.01
    shuffled = random.Random(1).sample(IDS, len(IDS))
    assert dict(zip(shuffled, in_sample(pd.Series(shuffled), 0.1), strict=True)) == tenth
    twentieth = in_sample(IDS, 0.05)
    assert 0 < twentieth.sum() < sum(tenth.values())
    assert all(tenth[c] for c, k in zip(IDS, twentieth, strict=True) if k)
    assert in_sample(IDS, 1.0).all()
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="0 < share <= 1"):
            in_sample(IDS, bad)


def test_reading_a_sample_keeps_only_its_customers_and_the_whole_period(tmp_path: Path) -> None:
    full = simulate(SimConfig(customers=300, days=30, products=40, seed=9))
    write_dataset(tmp_path, full)
    ds = read_dataset(tmp_path, keep_customers=partial(in_sample, share=0.3))
    want = set(full.customers[s.CUSTOMER_ID][in_sample(full.customers[s.CUSTOMER_ID], 0.3)])
    assert set(ds.customers[s.CUSTOMER_ID]) == want and 60 < len(want) < 120
    full_ev = full.events[full.events[s.CUSTOMER_ID].isin(want)]
    assert len(ds.events) == len(full_ev) > 0 and set(ds.events[s.CUSTOMER_ID]) <= want
    assert set(ds.truth[s.CUSTOMER_ID]) == want
    assert (ds.start, ds.end) == (read_dataset(tmp_path).start, read_dataset(tmp_path).end)
    assert len(ds.products) == len(full.products)
    none = read_dataset(tmp_path, keep_customers=lambda ids: ids.isna())
    assert none.customers.empty and none.events.empty and list(none.events) == list(ds.events)


@pytest.mark.slow
def test_training_on_a_sample_uses_only_its_customers_and_logs_the_share(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from pipelines.console import quiet_libraries
    from pipelines.train_steps import train_step
    from training.tracking import configure, load_eval_frame

    quiet_libraries()
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data", home=tmp_path / "home")
    write_dataset(settings.data_dir, simulate(SimConfig(customers=1_000, days=120,
                                                        products=100, seed=31)))
    [trained] = train_step(settings, ["intent"], sample=0.5)
    client: MlflowClient = configure(settings)
    params = client.get_run(trained.run_id).data.params
    customers = read_dataset(settings.data_dir).customers[s.CUSTOMER_ID]
    sampled = set(customers[in_sample(customers, 0.5)])
    assert params["sample_share"] == "0.5" and params["sample_customers"] == str(len(sampled))
    tested = set(load_eval_frame(client, trained.run_id)[s.CUSTOMER_ID])
    assert tested and tested <= sampled
    assert len(tested) > 0.5 * len(sampled)  # the sample is what it trained and tested on
