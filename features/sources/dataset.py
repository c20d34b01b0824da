"""A dataset on disk: events, customers, products, a manifest, rejects and (simulated) ground truth.

Every command works on a data directory holding these files; `read_dataset` is the one reader.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features import schema as s

PARTS_DIR = "_parts"  # a dataset being written in parts (removed when it is complete)
PART_ROWS = 65_536  # rows per row group of an events part: a time window reads a few of them
MERGE_ROWS = 1_000_000  # events per time window when the parts are merged into one file


class DatasetError(FileNotFoundError):
    """The data directory does not hold a dataset."""


@dataclass
class Dataset:
    events: pd.DataFrame
    customers: pd.DataFrame
    products: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)
    truth: pd.DataFrame | None = None  # simulator latent traits per customer

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.manifest.get("start") or self.events[s.EVENT_TS].min())

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.manifest.get("end") or self.events[s.EVENT_TS].max())

    @property
    def has_email(self) -> bool:
        return bool((self.events[s.EVENT_TYPE] == s.EventType.EMAIL_OPEN).any())

    @property
    def has_browsing(self) -> bool:
        return bool((self.events[s.EVENT_TYPE] == s.EventType.PRODUCT_VIEW).any())


def summarize(ds: Dataset) -> dict[str, Any]:
    """Counts and time range for manifests and CLI summaries."""
    ev = ds.events
    counts = ev[s.EVENT_TYPE].value_counts()
    return {
        "events": len(ev),
        "customers": len(ds.customers),
        "products": len(ds.products),
        "start": str(ev[s.EVENT_TS].min()) if len(ev) else None,
        "end": str(ev[s.EVENT_TS].max()) if len(ev) else None,
        "event_types": {str(k): int(v) for k, v in counts.items() if v},
    }


def merge_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The `summarize` of a dataset from the summaries of its parts (disjoint customers and
    events, one catalog)."""
    if len(parts) == 1:
        return parts[0]
    types: Counter[str] = Counter()
    for part in parts:
        types.update(part["event_types"])
    starts = [pd.Timestamp(p["start"]) for p in parts if p["start"]]
    ends = [pd.Timestamp(p["end"]) for p in parts if p["end"]]
    return {
        "events": sum(p["events"] for p in parts),
        "customers": sum(p["customers"] for p in parts),
        "products": parts[0]["products"],
        "start": str(min(starts)) if starts else None,
        "end": str(max(ends)) if ends else None,
        "event_types": dict(sorted(types.items(), key=lambda kv: -kv[1])),
    }


class DatasetWriter:
    """Writes a dataset whose customers come in parts (`add`), holding no more than one part:
    each part's events, customers and truth go to Parquet files under `out/_parts`; `close`
    appends the customers and truth parts in order and merges the events parts into one file in
    time order (window by window, each part sorted by time), then writes the products and the
    manifest. One part is moved into place as it is. `write_dataset` is the one-part case."""

    def __init__(self, out: Path, products: pd.DataFrame) -> None:
        self.out, self.products = out, products
        self.parts = out / PARTS_DIR
        shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(parents=True)
        self.summaries: list[dict[str, Any]] = []
        self.manifest: dict[str, Any] = {}

    def add(self, ds: Dataset) -> None:
        """Write one part: customers disjoint from the other parts', events in time order."""
        k = len(self.summaries)
        for name, frame in (("events", ds.events), ("customers", ds.customers),
                            ("truth", ds.truth)):
            if frame is not None:
                pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                               self.parts / f"{name}-{k:05d}.parquet", row_group_size=PART_ROWS)
        self.summaries.append(summarize(ds))
        self.manifest = self.manifest or ds.manifest

    def close(self, *, rejects: pd.DataFrame | None = None,
              extra_manifest: dict[str, Any] | None = None) -> dict[str, Any]:
        """Assemble the dataset's files from the parts; return the manifest."""
        out = self.out
        self.products.to_parquet(out / s.PRODUCTS_FILE, index=False)
        _append_parts(self._parts("customers"), out / s.CUSTOMERS_FILE)
        truth = self._parts("truth")
        if truth:
            (out / s.TRUTH_DIR).mkdir(exist_ok=True)
            _append_parts(truth, out / s.TRUTH_DIR / "customers.parquet")
        summary = merge_summaries(self.summaries)
        _merge_by_time(self._parts("events"), out / s.EVENTS_FILE, summary)
        shutil.rmtree(self.parts)
        rejects_path = out / s.REJECTS_FILE
        if rejects is not None and len(rejects):
            rejects.to_csv(rejects_path, index=False)
        elif rejects_path.exists():
            rejects_path.unlink()
        manifest = {**summary, **self.manifest, **(extra_manifest or {})}
        manifest["rejects"] = 0 if rejects is None else len(rejects)
        (out / s.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
        return manifest

    def _parts(self, name: str) -> list[Path]:
        return sorted(self.parts.glob(f"{name}-*.parquet"))


def _common_schema(parts: list[Path]) -> pa.Schema:
    """The parts' schema; a column all null in some part takes the type the others give it."""
    return pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")


def _append_parts(parts: list[Path], target: Path) -> None:
    if len(parts) == 1:
        parts[0].replace(target)
        return
    schema = _common_schema(parts)
    with pq.ParquetWriter(target, schema) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part).cast(schema))


def _merge_by_time(parts: list[Path], target: Path, summary: dict[str, Any]) -> None:
    """Merge events parts (each in time order) into one file in time order, `MERGE_ROWS`-sized
    time windows at a time; ties keep the parts' order, then each part's own."""
    if len(parts) == 1:
        parts[0].replace(target)
        return
    schema = _common_schema(parts)
    files = [pq.ParquetFile(p) for p in parts]
    if not summary["events"]:
        pq.write_table(schema.empty_table(), target)
        return
    lo, hi = pd.Timestamp(summary["start"]).value, pd.Timestamp(summary["end"]).value + 1
    n = max(1, -(-summary["events"] // MERGE_ROWS))
    edges = [lo + (hi - lo) * i // n for i in range(n)] + [hi]
    with pq.ParquetWriter(target, schema) as writer:
        for a, b in itertools.pairwise(edges):
            window = pa.concat_tables([_rows_between(f, a, b).cast(schema) for f in files])
            seq = pa.array(np.arange(len(window)))
            order = pc.sort_indices(pa.table({"t": window[s.EVENT_TS], "seq": seq}),
                                    sort_keys=[("t", "ascending"), ("seq", "ascending")])
            writer.write_table(window.take(order))


def _rows_between(file: pq.ParquetFile, lo: int, hi: int) -> pa.Table:
    """The events of a time-sorted file with lo <= timestamp (ns) < hi, in file order; only
    the row groups whose statistics overlap the window are read."""
    meta = file.metadata
    col = file.schema_arrow.get_field_index(s.EVENT_TS)
    groups = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is None or not stats.has_min_max or (
                pd.Timestamp(stats.min).value < hi and pd.Timestamp(stats.max).value >= lo):
            groups.append(i)
    table = file.read_row_groups(groups)
    ns = pc.cast(table[s.EVENT_TS], pa.int64())
    return table.filter(pc.and_(pc.greater_equal(ns, lo), pc.less(ns, hi)))


def write_dataset(
    out: Path,
    ds: Dataset,
    *,
    rejects: pd.DataFrame | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write all files of a dataset (replacing an older one in `out`); return the manifest."""
    writer = DatasetWriter(out, ds.products)
    writer.add(ds)
    ds.manifest = writer.close(rejects=rejects, extra_manifest=extra_manifest)
    return ds.manifest


def read_manifest(data_dir: Path) -> dict[str, Any]:
    """The dataset's manifest (counts, period, source), empty when it has none."""
    path = data_dir / s.MANIFEST_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _require_dataset(data_dir: Path) -> None:
    """Raise `DatasetError` saying how to make a dataset when `data_dir` holds none."""
    missing = [f for f in (s.EVENTS_FILE, s.CUSTOMERS_FILE, s.PRODUCTS_FILE)
               if not (data_dir / f).exists()]
    if missing:
        raise DatasetError(
            f"no dataset in {data_dir} (missing {', '.join(missing)}): create one with "
            f"`nba simulate --out {data_dir}` or "
            f"`nba load events|transactions PATH --out {data_dir}`"
        )


def read_period(data_dir: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The dataset's period (`Dataset.start`, `Dataset.end`) without reading the event log: the
    manifest's, else the earliest and latest event time from that one column."""
    _require_dataset(data_dir)
    manifest = read_manifest(data_dir)
    start, end = manifest.get("start"), manifest.get("end")
    if not (start and end):
        ts = pq.read_table(data_dir / s.EVENTS_FILE, columns=[s.EVENT_TS])[s.EVENT_TS]
        lo, hi = pc.min_max(ts).values()
        start, end = start or lo.as_py(), end or hi.as_py()
    return pd.Timestamp(start), pd.Timestamp(end)


def read_customers_and_end(data_dir: Path) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The dataset's customers and its end without reading the event log (a campaign over 10M
    customers must not load billions of events to learn who they are)."""
    end = read_period(data_dir)[1]  # first: a clear error without a dataset
    return pd.read_parquet(data_dir / s.CUSTOMERS_FILE), end


EVENT_BATCH_ROWS = 500_000


def iter_events(data_dir: Path, batch_rows: int = EVENT_BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """The event log in frames of at most `batch_rows` events, in file order: memory holds one
    batch, not the log (seeding the live history of a million customers). The file is checked
    and opened now, so a missing or unreadable log fails before the caller changes anything."""
    _require_dataset(data_dir)
    return _batches(pq.ParquetFile(data_dir / s.EVENTS_FILE), batch_rows)


def _batches(file: pq.ParquetFile, batch_rows: int) -> Iterator[pd.DataFrame]:
    with file:
        for batch in file.iter_batches(batch_size=batch_rows):
            yield batch.to_pandas()


def read_dataset(data_dir: Path, *, with_truth: bool = True,
                 keep_customers: Callable[[pd.Series], np.ndarray] | None = None) -> Dataset:
    """Read the dataset in `data_dir`, or raise `DatasetError` saying how to make one.
    `keep_customers`: a mask over the customer ids; only those customers' events, rows and truth
    are read (the events filtered as the Parquet file is read: a sample of a log too big for
    memory fits). The period stays the whole dataset's (from the manifest)."""
    _require_dataset(data_dir)
    manifest = read_manifest(data_dir)
    truth_path = data_dir / s.TRUTH_DIR / "customers.parquet"
    truth = pd.read_parquet(truth_path) if with_truth and truth_path.exists() else None
    customers = pd.read_parquet(data_dir / s.CUSTOMERS_FILE)
    if keep_customers is None:
        events = pd.read_parquet(data_dir / s.EVENTS_FILE)
    else:
        customers = customers[keep_customers(customers[s.CUSTOMER_ID])].reset_index(drop=True)
        ids = customers[s.CUSTOMER_ID].tolist()
        if truth is not None:
            truth = truth[truth[s.CUSTOMER_ID].isin(ids)].reset_index(drop=True)
        if ids:
            events = pd.read_parquet(data_dir / s.EVENTS_FILE, filters=[(s.CUSTOMER_ID, "in", ids)])
        else:  # nobody kept: no events (the columns only)
            import pyarrow.parquet as pq

            events = pq.read_schema(data_dir / s.EVENTS_FILE).empty_table().to_pandas()
    return Dataset(
        events=events,
        customers=customers,
        products=pd.read_parquet(data_dir / s.PRODUCTS_FILE),
        manifest=manifest,
        truth=truth,
    )
