"""Pipeline steps that create a dataset: simulate, load events, load transactions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from features.simulation.behavior import SimConfig
from features.simulation.chunked import CHUNK_CUSTOMERS, write_simulated
from features.sources.dataset import write_dataset
from pipelines.console import step


def simulate_step(cfg: SimConfig, out: Path,
                  chunk_customers: int = CHUNK_CUSTOMERS) -> dict[str, Any]:
    """Simulate a dataset (with ground truth) into `out`, in chunks of `chunk_customers` when
    larger (docs/simulator.md, "Large worlds"); return its manifest."""
    return write_simulated(out, cfg, chunk_customers=chunk_customers, progress=step)


def load_events_step(
    path: Path, out: Path, customers: Path | None = None, products: Path | None = None,
    dayfirst: bool | None = None,
) -> dict[str, Any]:
    """Load a generic event log into `out`; refused rows go to `out/rejects.csv`."""
    from features.sources.loaders import load_events

    res = load_events(path, customers_path=customers, products_path=products,
                      dayfirst=dayfirst)
    write_dataset(out, res.dataset, rejects=res.rejects, extra_manifest={"load": res.report})
    return res.report


def load_transactions_step(path: Path, out: Path, mapping: str | None = None,
                           dayfirst: bool | None = None) -> dict[str, Any]:
    """Load a transaction log into `out` as purchase events; refused rows to `out/rejects.csv`."""
    from features.sources.loaders import load_transactions, parse_mapping

    res = load_transactions(path, mapping=parse_mapping(mapping), dayfirst=dayfirst)
    write_dataset(out, res.dataset, rejects=res.rejects, extra_manifest={"load": res.report})
    return res.report


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
