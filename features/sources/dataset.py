"""A dataset on disk: events, customers, products, a manifest, rejects and (simulated) ground truth.

Every command works on a data directory holding these files; `read_dataset` is the one reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import schema as s


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


def write_dataset(
    out: Path,
    ds: Dataset,
    *,
    rejects: pd.DataFrame | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write all files of a dataset (replacing an older one in `out`); return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    ds.events.to_parquet(out / s.EVENTS_FILE, index=False)
    ds.customers.to_parquet(out / s.CUSTOMERS_FILE, index=False)
    ds.products.to_parquet(out / s.PRODUCTS_FILE, index=False)
    if ds.truth is not None:
        (out / s.TRUTH_DIR).mkdir(exist_ok=True)
        ds.truth.to_parquet(out / s.TRUTH_DIR / "customers.parquet", index=False)
    rejects_path = out / s.REJECTS_FILE
    if rejects is not None and len(rejects):
        rejects.to_csv(rejects_path, index=False)
    elif rejects_path.exists():
        rejects_path.unlink()
    manifest = {**summarize(ds), **ds.manifest, **(extra_manifest or {})}
    manifest["rejects"] = 0 if rejects is None else len(rejects)
    (out / s.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
    ds.manifest = manifest
    return manifest


def read_dataset(data_dir: Path, *, with_truth: bool = True,
                 keep_customers: Callable[[pd.Series], np.ndarray] | None = None) -> Dataset:
    """Read the dataset in `data_dir`, or raise `DatasetError` saying how to make one.
    `keep_customers`: a mask over the customer ids; only those customers' events, rows and truth
    are read (the events filtered as the Parquet file is read: a sample of a log too big for
    memory fits). The period stays the whole dataset's (from the manifest)."""
    missing = [f for f in (s.EVENTS_FILE, s.CUSTOMERS_FILE, s.PRODUCTS_FILE)
               if not (data_dir / f).exists()]
    if missing:
        raise DatasetError(
            f"no dataset in {data_dir} (missing {', '.join(missing)}): create one with "
            f"`nba simulate --out {data_dir}` or "
            f"`nba load events|transactions PATH --out {data_dir}`"
        )
    manifest_path = data_dir / s.MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
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
