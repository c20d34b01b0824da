"""Scaling benchmark: the bulk steps per engine (local, spark) at growing customer counts.

For each size the simulator writes a dataset (`--days` of behaviour); then, per engine:
- feature build (`nba features build`): all offline tables;
- materialize (`nba features materialize`: Feast, then the live history) and training-set
  retrieval (Feast's point-in-time join of every customer at one snapshot, service
  `intent_v1`): local = Feast's local engine and DuckDB offline store, spark = Feast's Spark
  compute engine and Spark offline store;
- batch scoring (`nba batch-score`): every customer decided with the champion models (local: 1
  and 2 processes; spark: `mapInPandas` over the `NBA_SPARK_MASTER` cores).
Scoring uses champions trained once on a small world (`--models DIR`, a dataset directory with
trained and promoted models, e.g. one `nba demo` made; by default one is trained here): scoring
cost does not depend on how much data trained the model.

Prints one table (seconds, rows/s, rows/s per core), writes it as JSON and draws the rates
against the customer count (`--plot`).

Run: python benchmarks/scale.py [--customers 20000,100000] [--days 30] [--engines local,spark]
     [--models DIR] [--plot docs/img/scale.png] [--json scale.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import header, peak_rss_mb
from features.settings import Settings
from features.simulation.behavior import SimConfig, simulate
from features.sources.dataset import write_dataset

MODEL_WORLD = SimConfig(customers=1_200, days=170, products=500, seed=21)


def models_world(work: Path) -> Path:
    """A small dataset with every model trained and promoted (its MLflow serves all sizes)."""
    from pipelines.train_steps import promote_step, train_step
    from training.model_specs import DATASET_MODELS

    settings = Settings.from_env(env={}, data_dir=work / "models" / "data")
    write_dataset(settings.data_dir, simulate(MODEL_WORLD))
    train_step(settings, list(DATASET_MODELS))
    promote_step(settings, list(DATASET_MODELS), True, 0.0)
    return settings.data_dir


def timed(rows: list[dict], size: int, engine: str, step: str, n: int, cores: int, fn) -> None:
    t = time.perf_counter()
    fn()
    s = time.perf_counter() - t
    rows.append({"customers": size, "engine": engine, "step": step, "rows": n, "seconds": s,
                 "rows_per_s": n / s, "rows_per_s_core": n / s / cores})
    print(f"  {engine:<6} {step:<28} {s:>8.1f} s  {n / s:>10,.0f} rows/s  "
          f"({n / s / cores:,.0f} per core)", flush=True)


def bench_size(size: int, days: int, engines: list[str], models: Path, work: Path,
               rows: list[dict]) -> None:
    from features.spark.session import local_cores
    from pipelines.feature_steps import apply_step, build_step, materialize_step
    from pipelines.serve_steps import batch_score_step

    print(f"\n## {size:,} customers x {days} days", flush=True)
    base = Settings.from_env(env={}, data_dir=work / str(size) / "data",
                             mlflow_tracking_uri=Settings.from_env(
                                 env={}, data_dir=models).tracking_uri)
    t = time.perf_counter()
    ds = simulate(SimConfig(customers=size, days=days, products=500, seed=3))
    write_dataset(base.data_dir, ds)
    n_events = len(ds.events)
    print(f"  simulated {n_events:,} events in {time.perf_counter() - t:.0f} s", flush=True)
    cores = 2
    for engine in engines:
        settings = replace(base, engine=engine)
        ecores = local_cores(settings.spark_master) if engine == "spark" else 1
        timed(rows, size, engine, "feature build (events)", n_events, ecores,
              lambda s=settings: build_step(s))
    for engine in engines:  # Feast: local engine + DuckDB, or Spark engine + Spark store
        settings = replace(base, engine=engine)
        ecores = local_cores(settings.spark_master) if engine == "spark" else 1
        apply_step(settings)
        timed(rows, size, engine, "materialize (customers)", size, ecores,
              lambda s=settings: materialize_step(s))
        timed(rows, size, engine, "training set (customers)", size, ecores,
              lambda s=settings: _training_set(s, ds))
    settings = replace(base, engine="local")  # the online rows are the same either way
    for engine in engines:
        if engine == "local":
            for w in (1, cores):
                timed(rows, size, "local", f"batch scoring, {w} proc (customers)", size, w,
                      lambda w=w: batch_score_step(settings, work / "local.parquet",
                                                   workers=w))
        else:
            from pipelines.spark_steps import spark_batch_score_step

            sp = replace(settings, engine="spark")
            timed(rows, size, "spark", "batch scoring (customers)", size,
                  local_cores(sp.spark_master),
                  lambda sp=sp: spark_batch_score_step(sp, work / "spark.parquet"))


def _training_set(settings: Settings, ds) -> None:
    from features.online.store import open_store
    from features.transforms import ENTITY_TS
    from training.datasets import training_frame

    store = open_store(settings, need_online=False)
    labels = pd.DataFrame({"customer_id": ds.customers["customer_id"].astype(str),
                           ENTITY_TS: ds.end - pd.Timedelta(days=7)})
    training_frame(store, "intent_v1", labels)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (engine, step), g in df.groupby(["engine", "step"]):
        ax.plot(g["customers"], g["rows_per_s"], marker="o", label=f"{engine}: {step}")
    ax.set(xscale="log", yscale="log", xlabel="customers", ylabel="rows/s",
           title="Bulk steps per engine (2 shared cores)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", default="20000,100000")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--engines", default="local,spark")
    ap.add_argument("--models", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=Path("docs/img/scale.png"))
    ap.add_argument("--json", type=Path, default=Path("scale.json"))
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from pipelines.console import quiet_libraries

    quiet_libraries()
    header("scaling: bulk steps per engine")
    sizes = [int(x) for x in args.customers.split(",")]
    engines = [e.strip() for e in args.engines.split(",")]
    work = Path(tempfile.mkdtemp(prefix="nba-scale-"))
    rows: list[dict] = []
    try:
        models = args.models or models_world(work)
        for size in sizes:
            bench_size(size, args.days, engines, models, work, rows)
            shutil.rmtree(work / str(size), ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\npeak memory of the driver process: {peak_rss_mb():,.0f} MiB")
    print("\n| customers | engine | step | seconds | rows/s | rows/s per core |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['customers']:,} | {r['engine']} | {r['step']} | {r['seconds']:.1f} | "
              f"{r['rows_per_s']:,.0f} | {r['rows_per_s_core']:,.0f} |")
    args.json.write_text(json.dumps(rows, indent=2))
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
