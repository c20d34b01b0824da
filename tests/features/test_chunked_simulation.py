"""A world simulated and written in chunks: one dataset, the same statistical world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from features import schema as s
from features.simulation.behavior import Chunk, SimConfig, Simulator, simulate
from features.simulation.chunked import chunk_plan, write_simulated
from features.sources import dataset
from features.sources.dataset import (
    PARTS_DIR,
    Dataset,
    DatasetError,
    DatasetWriter,
    iter_events,
    read_customers_and_end,
    read_dataset,
    read_period,
    summarize,
    write_dataset,
)
from features.sources.stats import behavior_stats
from features.sources.validation import validate_events

CFG = SimConfig(customers=2_000, days=60, products=120, seed=11)
CHUNK = 500  # 4 chunks


@pytest.fixture(scope="module")
def whole() -> Dataset:
    return simulate(CFG)


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The chunked world, merged in many small time windows over small row groups (so the
    merge reads row groups that straddle windows, and skips the others)."""
    out = tmp_path_factory.mktemp("chunked") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dataset, "MERGE_ROWS", 7_000)
        mp.setattr(dataset, "PART_ROWS", 2_000)
        manifest = write_simulated(out, CFG, chunk_customers=CHUNK)
    return out, manifest


def _per_customer(ds: Dataset) -> pd.Series:
    return ds.events.groupby(s.CUSTOMER_ID, observed=True).size().reindex(
        ds.customers[s.CUSTOMER_ID], fill_value=0)


def test_chunk_plan_covers_every_customer_once() -> None:
    plan = chunk_plan(2_001, 500)
    assert [c.customers for c in plan] == [400, 400, 400, 400, 401]
    assert [c.first for c in plan] == [0, 400, 800, 1_200, 1_600]
    assert chunk_plan(500, 500) == [Chunk(0, 0, 500)]


def test_one_chunk_is_the_whole_world(tmp_path: Path) -> None:
    cfg = SimConfig(customers=300, days=30, products=60, seed=3)
    write_simulated(tmp_path / "a", cfg, chunk_customers=300)
    write_dataset(tmp_path / "b", simulate(cfg))
    a, b = read_dataset(tmp_path / "a"), read_dataset(tmp_path / "b")
    for name in ("events", "customers", "products", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_chunked_dataset_is_one_valid_dataset(chunked: tuple[Path, dict], whole: Dataset) -> None:
    out, manifest = chunked
    ds = read_dataset(out)
    ev = ds.events
    assert not (out / PARTS_DIR).exists()
    assert ds.customers[s.CUSTOMER_ID].tolist() == [f"c{i:06d}" for i in range(CFG.customers)]
    assert ds.truth[s.CUSTOMER_ID].tolist() == ds.customers[s.CUSTOMER_ID].tolist()
    assert ev[s.EVENT_ID].is_unique and ev[s.EVENT_TS].is_monotonic_increasing
    assert ev[s.CUSTOMER_ID].isin(ds.customers[s.CUSTOMER_ID]).all()
    assert validate_events(ev, now=ds.end).rejects.empty
    pd.testing.assert_frame_equal(ds.products, whole.products)  # one catalog
    assert ev.dtypes.equals(whole.events.dtypes)
    assert ds.customers.dtypes.equals(whole.customers.dtypes)
    assert (ds.start, ds.end) == (whole.start, whole.end)
    counts = {k: v for k, v in summarize(ds).items() if k not in ("start", "end")}  # the
    assert {k: manifest[k] for k in counts} == counts  # manifest's period is the simulated one
    assert (manifest["chunks"], manifest["chunk_customers"]) == (4, CHUNK)


def test_merge_keeps_each_chunk_in_time_order(chunked: tuple[Path, dict]) -> None:
    """The merged log is the chunks' logs (as simulated) stably sorted by time."""
    parts, first = [], 0
    for chunk in chunk_plan(CFG.customers, CHUNK):
        part = Simulator(CFG, chunk=chunk, first_event=first).run().events
        parts.append(part)
        first += len(part)
    expected = pd.concat(parts, ignore_index=True).sort_values(s.EVENT_TS, kind="stable")
    got = read_dataset(chunked[0]).events
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))


def test_chunked_world_has_the_whole_worlds_statistics(chunked: tuple[Path, dict],
                                                       whole: Dataset) -> None:
    ds = read_dataset(chunked[0])
    a, b = _per_customer(whole), _per_customer(ds)
    assert ks_2samp(a, b).pvalue > 0.05  # per-customer event counts: one distribution
    assert b.mean() == pytest.approx(a.mean(), rel=0.05)
    mix_a = whole.events[s.EVENT_TYPE].value_counts(normalize=True)
    mix_b = ds.events[s.EVENT_TYPE].value_counts(normalize=True)
    assert (mix_a - mix_b).abs().max() < 0.005, pd.DataFrame({"whole": mix_a, "chunked": mix_b})
    rates_a, rates_b = behavior_stats(whole), behavior_stats(ds)
    for name in rates_a.keys() - {"unsubscribe_per_send"}:  # ~40 unsubscribes: too few to say
        assert rates_b[name] == pytest.approx(rates_a[name], rel=0.06), name


def test_chunks_share_the_calendar_and_draw_their_own_customers(
        chunked: tuple[Path, dict]) -> None:
    ds = read_dataset(chunked[0])
    chunk_of = ds.customers[s.CUSTOMER_ID].str[1:].astype(int) // CHUNK
    ev = ds.events.merge(pd.DataFrame({s.CUSTOMER_ID: ds.customers[s.CUSTOMER_ID],
                                       "chunk": chunk_of}))
    broadcasts = ev[ev[s.CAMPAIGN_ID].str.startswith("bc", na=False)]
    calendars = broadcasts.groupby("chunk")[s.CAMPAIGN_ID].agg(frozenset)
    assert len(calendars) == 4 and calendars.nunique() == 1
    traits = ds.truth["open_base"].to_numpy().reshape(4, CHUNK)
    assert len({tuple(np.round(t[:20], 12)) for t in traits}) == 4  # four different streams


def test_same_config_and_chunk_size_same_data(tmp_path: Path) -> None:
    cfg = SimConfig(customers=300, days=20, products=60, seed=5)
    write_simulated(tmp_path / "a", cfg, chunk_customers=100)
    write_simulated(tmp_path / "b", cfg, chunk_customers=100)
    a, b = read_dataset(tmp_path / "a"), read_dataset(tmp_path / "b")
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.truth, b.truth)


def test_writer_types_a_column_left_empty_by_one_part(tmp_path: Path, whole: Dataset) -> None:
    """A column all null in one part (no searches among its customers) keeps the others' type."""
    ids = whole.customers[s.CUSTOMER_ID]
    halves = [ids.iloc[:1_000], ids.iloc[1_000:]]
    writer = DatasetWriter(tmp_path, whole.products)
    for i, keep in enumerate(halves):
        ev = whole.events[whole.events[s.CUSTOMER_ID].isin(keep)].reset_index(drop=True)
        if i == 0:
            ev[s.QUERY] = None
        writer.add(Dataset(ev, whole.customers[whole.customers[s.CUSTOMER_ID].isin(keep)],
                           whole.products, manifest=whole.manifest))
    writer.close()
    ds = read_dataset(tmp_path)
    assert ds.events[s.QUERY].notna().sum() == whole.events[s.QUERY].notna().sum() - \
        whole.events.loc[whole.events[s.CUSTOMER_ID].isin(halves[0]), s.QUERY].notna().sum()
    assert len(ds.events) == len(whole.events) and len(ds.customers) == len(whole.customers)


def test_customers_and_end_without_the_event_log(chunked: tuple[Path, dict],
                                                  tmp_path: Path) -> None:
    """What a campaign reads (batch scoring): the dataset's customers and end, as read_dataset
    gives them; the end from the events when the manifest has none; a clear error without a
    dataset."""
    import shutil

    out, _ = chunked
    full = read_dataset(out, with_truth=False)
    customers, end = read_customers_and_end(out)
    pd.testing.assert_frame_equal(customers, full.customers)
    assert end == full.end
    bare = tmp_path / "bare"
    shutil.copytree(out, bare)
    (bare / s.MANIFEST_FILE).unlink()
    assert read_customers_and_end(bare)[1] == full.events[s.EVENT_TS].max()
    assert read_period(out) == (full.start, full.end)
    assert read_period(bare) == (full.events[s.EVENT_TS].min(), full.events[s.EVENT_TS].max())
    for read in (read_customers_and_end, read_period, lambda d: next(iter_events(d))):
        with pytest.raises(DatasetError, match="no dataset"):
            read(tmp_path / "nothing")


def test_event_log_in_batches(chunked: tuple[Path, dict]) -> None:
    """What materialize seeds the live history from: the log in bounded frames, which together
    are read_dataset's events, row for row and with the same types."""
    out, _ = chunked
    events = read_dataset(out, with_truth=False).events
    batches = list(iter_events(out, batch_rows=1_000))
    assert len(batches) > len(events) // 1_000 and max(map(len, batches)) <= 1_000
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), events)
