"""`nba`: the public command line. Commands only parse options and call pipeline steps."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipelines.console import console, out, stage, user_errors

app = typer.Typer(
    help="Next-best-action service for email marketing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
load_app = typer.Typer(help="Load real data into a dataset directory.", no_args_is_help=True)
app.add_typer(load_app, name="load")

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", "--out", help="Dataset directory [env NBA_DATA_DIR; default .nba/data]",
                 show_default=False),
]


def _settings(data: Path | None):
    from features.settings import Settings

    return Settings.from_env(data_dir=data)


def _print_summary(manifest: dict) -> None:
    keys = ("source", "events", "customers", "products", "start", "end", "rejects")
    for k in keys:
        if k in manifest:
            out.print(f"  {k:<10} {manifest[k]}")
    types = manifest.get("event_types", {})
    if types:
        out.print("  events by type: " + ", ".join(f"{k}={v}" for k, v in types.items()))


@app.command()
def simulate(
    data: DataOpt = None,
    customers: Annotated[int, typer.Option(min=1, help="Number of customers")] = 5_000,
    days: Annotated[int, typer.Option(min=1, help="Days of behavior")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data)")] = 7,
    products: Annotated[int, typer.Option(min=12, help="Number of products")] = 500,
    start: Annotated[str, typer.Option(help="First day (UTC)")] = "2026-01-05",
) -> None:
    """Simulate customers, products and events (with ground truth) into a dataset directory."""
    from features.simulator import SimConfig
    from pipelines.data_steps import simulate_step

    settings = _settings(data)
    cfg = SimConfig(customers=customers, days=days, seed=seed, products=products, start=start)
    with stage(f"simulating {customers} customers x {days} days (seed {seed})"):
        manifest = simulate_step(cfg, settings.data_dir)
    out.print(f"dataset written to {settings.data_dir}")
    _print_summary(manifest)


@load_app.command("events")
def load_events(
    path: Annotated[Path, typer.Argument(help="Event log: CSV or Parquet (schema: docs/data.md)")],
    data: DataOpt = None,
    customers: Annotated[Path | None, typer.Option(help="Optional customers table")] = None,
    products: Annotated[Path | None, typer.Option(help="Optional products table")] = None,
) -> None:
    """Load a generic event log; invalid rows go to DATA/rejects.csv with a reason each."""
    from pipelines.data_steps import load_events_step

    settings = _settings(data)
    with stage(f"loading events from {path}"):
        report = load_events_step(path, settings.data_dir, customers, products)
    _print_load_report(report, settings.data_dir)


@load_app.command("transactions")
def load_transactions(
    path: Annotated[Path, typer.Argument(help="Transaction/invoice log: CSV or Parquet")],
    data: DataOpt = None,
    map_: Annotated[
        str | None,
        typer.Option("--map", help='Column mapping, e.g. invoice=Invoice,customer_id="Customer ID"'
                     " (defaults guess common names)"),
    ] = None,
) -> None:
    """Load a transaction-only log as purchase events (returns and bad rows reported)."""
    from pipelines.data_steps import load_transactions_step

    settings = _settings(data)
    with stage(f"loading transactions from {path}"):
        report = load_transactions_step(path, settings.data_dir, map_)
    _print_load_report(report, settings.data_dir)


def _print_load_report(report: dict, data_dir: Path) -> None:
    out.print(f"dataset written to {data_dir}")
    out.print(f"  rows read {report['rows_read']}, loaded {report['rows_loaded']}, "
              f"rejected {report['rows_rejected']}")
    for reason, n in report.get("rejected_by_reason", {}).items():
        out.print(f"    {reason}: {n}")
    if report["rows_rejected"]:
        out.print(f"  rejected rows with reasons: {data_dir / 'rejects.csv'}")


@app.command()
def summary(data: DataOpt = None) -> None:
    """Print what a dataset holds, and its behavior statistics."""
    from features.dataset import read_dataset
    from features.stats import behavior_stats

    settings = _settings(data)
    ds = read_dataset(settings.data_dir, with_truth=False)
    _print_summary(ds.manifest)
    for k, v in behavior_stats(ds).items():
        out.print(f"  {k:<30} {v:.4f}")


@app.command()
def demo(
    data: DataOpt = None,
    customers: Annotated[int, typer.Option(min=100, help="Simulated customers")] = 5_000,
    days: Annotated[int, typer.Option(min=30, help="Simulated days")] = 120,
    fresh: Annotated[bool, typer.Option(help="Rebuild everything, even what exists")] = False,
) -> None:
    """Run the main job end to end on simulated data (reuses what is already built)."""
    from pipelines.demo import run_demo

    run_demo(_settings(data), customers=customers, days=days, fresh=fresh)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except user_errors() as exc:
        msg = str(exc).strip('"') if isinstance(exc, KeyError) else str(exc)
        console.print(f"[red]error:[/red] {msg}", soft_wrap=True)
        sys.exit(2)


def _json(obj: object) -> str:
    return json.dumps(obj, indent=2, default=str)


if __name__ == "__main__":
    main()
