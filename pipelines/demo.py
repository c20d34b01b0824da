"""The demo job: simulate, then each later stage, reusing what is already built."""

from __future__ import annotations

from features.dataset import read_dataset
from features.settings import Settings
from features.simulator import SimConfig
from features.stats import behavior_stats
from pipelines.console import out, stage
from pipelines.data_steps import simulate_step


def run_demo(settings: Settings, *, customers: int, days: int, fresh: bool) -> None:
    data = settings.data_dir
    cfg = SimConfig(customers=customers, days=days)
    if fresh or not (data / "events.parquet").exists():
        with stage(f"simulating {customers} customers x {days} days"):
            simulate_step(cfg, data)
    else:
        out.print(f"reusing the dataset in {data} (use --fresh to rebuild)")
    ds = read_dataset(data, with_truth=False)
    out.print(f"\n[bold]dataset[/bold] {data}: {len(ds.events):,} events, "
              f"{len(ds.customers):,} customers, {len(ds.products):,} products, "
              f"{ds.start:%Y-%m-%d} .. {ds.end:%Y-%m-%d}")
    for k, v in behavior_stats(ds).items():
        out.print(f"  {k:<30} {v:.4f}")
