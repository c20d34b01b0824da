"""Pipeline steps that create a dataset: simulate, load events, load transactions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from features.dataset import write_dataset
from features.simulator import SimConfig, simulate
from pipelines.console import UserError, step


def simulate_step(cfg: SimConfig, out: Path) -> dict[str, Any]:
    """Simulate a dataset (with ground truth) into `out`; return its manifest."""
    ds = simulate(cfg, progress=step)
    return write_dataset(out, ds)


def load_events_step(
    path: Path, out: Path, customers: Path | None = None, products: Path | None = None
) -> dict[str, Any]:
    """Load a generic event log into `out`; refused rows go to `out/rejects.csv`."""
    from features.loaders import load_events

    res = load_events(path, customers_path=customers, products_path=products)
    write_dataset(out, res.dataset, rejects=res.rejects, extra_manifest={"load": res.report})
    return res.report


def load_transactions_step(path: Path, out: Path, mapping: str | None = None) -> dict[str, Any]:
    """Load a transaction log into `out` as purchase events; refused rows to `out/rejects.csv`."""
    from features.loaders import load_transactions, parse_mapping

    res = load_transactions(path, mapping=parse_mapping(mapping))
    write_dataset(out, res.dataset, rejects=res.rejects, extra_manifest={"load": res.report})
    return res.report


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet table, or a one-line UserError."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".gz", ".txt"):
            return pd.read_csv(path)
    except Exception as exc:  # unreadable content: say which file and why
        raise UserError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    raise UserError(f"{path}: expected a .csv or .parquet file")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
